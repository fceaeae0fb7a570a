// Generated from examples/graphs/softmax.kir (fused); KILN_BLESS=1 rewrites.
// Launches, in order:
//   kiln_k0 items=32 args=[Buffer(BufferId(0)), Buffer(BufferId(1))]
//   kiln_k1 items=32 args=[Buffer(BufferId(0)), Buffer(BufferId(1)), Buffer(BufferId(2))]
//   kiln_k2 items=3200 args=[Buffer(BufferId(0)), Buffer(BufferId(1)), Buffer(BufferId(2)), Buffer(BufferId(3))]
// scratch_bytes=0

extern "C" __global__ void kiln_k0(const float* b0, float* b1) {
    const long long n = 32LL;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n;
         t += (long long)blockDim.x * gridDim.x) {
        const long long i0 = t;
        float acc = __int_as_float(0xff800000);
        for (long long i1 = 0; i1 < 100LL; ++i1) {
            const float p0 = b0[(0LL + 100LL * i0 + 1LL * i1)];
            acc = kiln_fmaxf(acc, p0);
        }
        {
            const long long i1 = 0;
            const float e0 = acc;
            b1[t] = e0;
        }
    }
}

extern "C" __global__ void kiln_k1(const float* b0, const float* b1, float* b2) {
    const long long n = 32LL;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n;
         t += (long long)blockDim.x * gridDim.x) {
        const long long i0 = t;
        double acc = 0e0;
        for (long long i1 = 0; i1 < 100LL; ++i1) {
            const float p0 = b0[(0LL + 100LL * i0 + 1LL * i1)];
            const float p1 = b1[(0LL + 1LL * i0)];
            const float p2 = (p0 - p1);
            const float p3 = expf(p2);
            acc += (double)p3;
        }
        {
            const long long i1 = 0;
            const float e0 = ((float)(acc));
            b2[t] = e0;
        }
    }
}

extern "C" __global__ void kiln_k2(const float* b0, const float* b1, const float* b2, float* b3) {
    const long long n = 3200LL;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n;
         t += (long long)blockDim.x * gridDim.x) {
        const long long i0 = (t / 100LL);
        const long long i1 = t % 100LL;
        const float v0 = b0[(0LL + 100LL * i0 + 1LL * i1)];
        const float v1 = b1[(0LL + 1LL * i0)];
        const float v2 = (v0 - v1);
        const float v3 = expf(v2);
        const float v4 = b2[(0LL + 1LL * i0)];
        const float v5 = (v3 / v4);
        b3[t] = v5;
    }
}
