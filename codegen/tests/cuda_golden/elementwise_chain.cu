// Generated from examples/graphs/elementwise_chain.kir (fused); KILN_BLESS=1 rewrites.
// Launches, in order:
//   kiln_k0 items=1024 args=[Buffer(BufferId(0)), Buffer(BufferId(1)), Buffer(BufferId(2))]
// scratch_bytes=0

extern "C" __global__ void kiln_k0(const float* b0, const float* b1, float* b2) {
    const long long n = 1024LL;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n;
         t += (long long)blockDim.x * gridDim.x) {
        const long long i0 = t;
        const float v0 = b0[(0LL + 1LL * i0)];
        const float v1 = b1[(0LL + 1LL * i0)];
        const float v2 = (v0 * v1);
        const float v3 = 2e0f;
        const float v4 = (v2 + v3);
        const float v5 = tanhf(v4);
        const float v6 = (-v5);
        const float v7 = expf(v6);
        const float v8 = (v7 - v0);
        const float v9 = fabsf(v8);
        const float v10 = sqrtf(v9);
        b2[t] = v10;
    }
}
