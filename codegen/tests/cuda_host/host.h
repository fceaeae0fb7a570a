// Host emulation of the CUDA C that kiln generates, for codegen/tests/cuda_host.rs.
//
// A launch becomes plain loops over blocks and threads (KILN_LAUNCH). This is sound for kiln's
// kernels because each is a grid-stride loop without shared memory, __syncthreads or warp
// intrinsics: the result of any schedule is the result of every thread run to completion in
// turn, except for the order of atomic additions (which the tests compare with a tolerance).
// Only the CUDA names the generator uses are defined here; anything else fails to compile,
// which is how a new intrinsic gets noticed.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define __global__
#define __device__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))

struct kiln_dim3 {
    unsigned int x, y, z;
};
static kiln_dim3 threadIdx, blockIdx, blockDim, gridDim;

static inline float __int_as_float(int x) {
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}
static inline double __longlong_as_double(long long x) {
    double f;
    memcpy(&f, &x, sizeof f);
    return f;
}

// Atomics: one thread runs at a time here.
template <typename T> static inline T kiln_atomic_add(T* p, T v) {
    T old = *p;
    *p = old + v;
    return old;
}
static inline float atomicAdd(float* p, float v) { return kiln_atomic_add(p, v); }
static inline double atomicAdd(double* p, double v) { return kiln_atomic_add(p, v); }
static inline int atomicAdd(int* p, int v) {
    // Wrapping, as the hardware's add is.
    int old = *p;
    *p = (int)((unsigned int)old + (unsigned int)v);
    return old;
}
static inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
    return kiln_atomic_add(p, v);
}
static inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long cmp,
                                           unsigned long long v) {
    unsigned long long old = *p;
    if (old == cmp) *p = v;
    return old;
}

#define KILN_LAUNCH(grid, block, call)                                                   \
    do {                                                                                 \
        gridDim.x = (grid);                                                              \
        gridDim.y = gridDim.z = 1;                                                       \
        blockDim.x = (block);                                                            \
        blockDim.y = blockDim.z = 1;                                                     \
        blockIdx.y = blockIdx.z = threadIdx.y = threadIdx.z = 0;                         \
        for (blockIdx.x = 0; blockIdx.x < gridDim.x; ++blockIdx.x)                       \
            for (threadIdx.x = 0; threadIdx.x < blockDim.x; ++threadIdx.x) call;         \
    } while (0)

// Reads `bytes` from the input file into a fresh allocation of exactly that size (so that the
// address sanitizer, when on, sees any access past the buffer).
static void* kiln_read(FILE* in, size_t bytes) {
    void* p = malloc(bytes ? bytes : 1);
    if (bytes && fread(p, 1, bytes, in) != bytes) {
        fprintf(stderr, "short input\n");
        exit(3);
    }
    return p;
}

static void kiln_write(FILE* out, const void* p, size_t bytes) {
    if (bytes && fwrite(p, 1, bytes, out) != bytes) {
        fprintf(stderr, "short output\n");
        exit(4);
    }
}
