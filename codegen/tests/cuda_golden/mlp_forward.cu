// Generated from examples/graphs/mlp_forward.kir (fused); KILN_BLESS=1 rewrites.
// Launches, in order:
//   kiln_k0_product items=8192 args=[Buffer(BufferId(0)), Buffer(BufferId(1)), Scratch] (gemm product)
//   kiln_k0_epilogue items=8192 args=[Scratch, Buffer(BufferId(2)), Buffer(BufferId(5))]
//   kiln_k1_product items=640 args=[Buffer(BufferId(3)), Buffer(BufferId(5)), Scratch] (gemm product)
//   kiln_k1_epilogue items=640 args=[Scratch, Buffer(BufferId(4)), Buffer(BufferId(6))]
// scratch_bytes=32768

extern "C" __global__ void kiln_k0_product(const float* b0, const float* b1, float* scratch) {
    const long long n = 8192LL;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n;
         t += (long long)blockDim.x * gridDim.x) {
        const long long i0 = (t / 128LL);
        const long long i1 = t % 128LL;
        double acc = 0.0;
        for (long long q = 0; q < 784LL; ++q) {
            acc += (double)b0[(0LL + 784LL * i0 + 1LL * q)] * (double)b1[(0LL + 128LL * q + 1LL * i1)];
        }
        scratch[t] = ((float)(acc));
    }
}

extern "C" __global__ void kiln_k0_epilogue(const float* scratch, const float* b2, float* b5) {
    const long long n = 8192LL;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n;
         t += (long long)blockDim.x * gridDim.x) {
        const long long i0 = (t / 128LL);
        const long long i1 = t % 128LL;
        const float v0 = scratch[t];
        const float v1 = b2[(0LL + 1LL * i1)];
        const float v2 = (v0 + v1);
        const float v3 = 0e0f;
        const float v4 = kiln_fmaxf(v2, v3);
        b5[t] = v4;
    }
}

extern "C" __global__ void kiln_k1_product(const float* b3, const float* b5, float* scratch) {
    const long long n = 640LL;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n;
         t += (long long)blockDim.x * gridDim.x) {
        const long long i0 = (t / 10LL);
        const long long i1 = t % 10LL;
        double acc = 0.0;
        for (long long q = 0; q < 128LL; ++q) {
            acc += (double)b5[(0LL + 128LL * i0 + 1LL * q)] * (double)b3[(0LL + 10LL * q + 1LL * i1)];
        }
        scratch[t] = ((float)(acc));
    }
}

extern "C" __global__ void kiln_k1_epilogue(const float* scratch, const float* b4, float* b6) {
    const long long n = 640LL;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n;
         t += (long long)blockDim.x * gridDim.x) {
        const long long i0 = (t / 10LL);
        const long long i1 = t % 10LL;
        const float v0 = scratch[t];
        const float v1 = b4[(0LL + 1LL * i1)];
        const float v2 = (v0 + v1);
        b6[t] = v2;
    }
}
