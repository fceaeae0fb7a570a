// Generated from examples/graphs/layernorm.kir (fused); KILN_BLESS=1 rewrites.
// Launches, in order:
//   kiln_k0 items=64 args=[Buffer(BufferId(0)), Buffer(BufferId(3))]
//   kiln_k1 items=64 args=[Buffer(BufferId(0)), Buffer(BufferId(3)), Buffer(BufferId(4))]
//   kiln_k2 items=16384 args=[Buffer(BufferId(0)), Buffer(BufferId(1)), Buffer(BufferId(2)), Buffer(BufferId(3)), Buffer(BufferId(4)), Buffer(BufferId(5))]
// scratch_bytes=0

extern "C" __global__ void kiln_k0(const float* b0, float* b3) {
    const long long n = 64LL;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n;
         t += (long long)blockDim.x * gridDim.x) {
        const long long i0 = t;
        double acc = 0e0;
        for (long long i1 = 0; i1 < 256LL; ++i1) {
            const float p0 = b0[(0LL + 256LL * i0 + 1LL * i1)];
            acc += (double)p0;
        }
        {
            const long long i1 = 0;
            const float e0 = ((float)(acc));
            const float e1 = 3.90625e-3f;
            const float e2 = (e0 * e1);
            b3[t] = e2;
        }
    }
}

extern "C" __global__ void kiln_k1(const float* b0, const float* b3, float* b4) {
    const long long n = 64LL;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n;
         t += (long long)blockDim.x * gridDim.x) {
        const long long i0 = t;
        double acc = 0e0;
        for (long long i1 = 0; i1 < 256LL; ++i1) {
            const float p0 = b0[(0LL + 256LL * i0 + 1LL * i1)];
            const float p1 = b3[(0LL + 1LL * i0)];
            const float p2 = (p0 - p1);
            const float p3 = (p2 * p2);
            acc += (double)p3;
        }
        {
            const long long i1 = 0;
            const float e0 = ((float)(acc));
            const float e1 = 3.90625e-3f;
            const float e2 = (e0 * e1);
            const float e3 = 1e-5f;
            const float e4 = (e2 + e3);
            const float e5 = sqrtf(e4);
            const float e6 = (1.0f / e5);
            b4[t] = e6;
        }
    }
}

extern "C" __global__ void kiln_k2(const float* b0, const float* b1, const float* b2, const float* b3, const float* b4, float* b5) {
    const long long n = 16384LL;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n;
         t += (long long)blockDim.x * gridDim.x) {
        const long long i0 = (t / 256LL);
        const long long i1 = t % 256LL;
        const float v0 = b0[(0LL + 256LL * i0 + 1LL * i1)];
        const float v1 = b3[(0LL + 1LL * i0)];
        const float v2 = (v0 - v1);
        const float v3 = b4[(0LL + 1LL * i0)];
        const float v4 = (v2 * v3);
        const float v5 = b1[(0LL + 1LL * i1)];
        const float v6 = (v4 * v5);
        const float v7 = b2[(0LL + 1LL * i1)];
        const float v8 = (v6 + v7);
        b5[t] = v8;
    }
}
