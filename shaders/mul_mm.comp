#version 450
// Matrix-matrix product for prefill: out[t][r] = sum_k w[r][k] x[t][k], tiled through
// shared memory. A workgroup of 256 computes a BM x BN tile (weight rows x tokens), each
// invocation 4 x 4 of it; weights are dequantized into the tile once per BK slice.
#include "include/common.glsl"
#include "include/dequant.glsl"

#define BM 64u
#define BN 64u
#define BK 32u
layout(local_size_x = 256) in;

layout(set = 2, binding = 0) writeonly buffer OB { float of[]; };

layout(push_constant) uniform P {
    uint w_off, row_bytes;
    uint x_off, x_stride;
    uint o_off, o_stride;
    uint K, N, n_tok;
} p;

shared float ws[BK][BM + 1u];
shared float xs[BK][BN + 1u];

void main() {
    uint tid = gl_LocalInvocationID.x;
    uint row_base = gl_WorkGroupID.x * BM, tok_base = gl_WorkGroupID.y * BN;
    uint tx = tid % 16u, ty = tid / 16u;
    float acc[4][4];
    for (uint i = 0u; i < 4u; i++)
        for (uint j = 0u; j < 4u; j++) acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < p.K; k0 += BK) {
        for (uint i = 0u; i < (BM * BK) / 256u; i++) {
            uint idx = tid + 256u * i, r = idx / BK, kk = idx % BK;
            uint row = row_base + r, k = k0 + kk;
            float v = 0.0;
            if (row < p.N && k < p.K)
                v = deq(p.w_off + row * p.row_bytes + (k / QK) * BB, k % QK);
            ws[kk][r] = v;
        }
        for (uint i = 0u; i < (BN * BK) / 256u; i++) {
            uint idx = tid + 256u * i, c = idx / BK, kk = idx % BK;
            uint tok = tok_base + c, k = k0 + kk;
            xs[kk][c] = (tok < p.n_tok && k < p.K) ? xf[p.x_off + tok * p.x_stride + k] : 0.0;
        }
        barrier();
        for (uint kk = 0u; kk < BK; kk++) {
            float a[4], b[4];
            for (uint i = 0u; i < 4u; i++) a[i] = ws[kk][ty + 16u * i];
            for (uint j = 0u; j < 4u; j++) b[j] = xs[kk][tx + 16u * j];
            for (uint i = 0u; i < 4u; i++)
                for (uint j = 0u; j < 4u; j++) acc[i][j] += a[i] * b[j];
        }
        barrier();
    }
    for (uint i = 0u; i < 4u; i++)
        for (uint j = 0u; j < 4u; j++) {
            uint row = row_base + ty + 16u * i, tok = tok_base + tx + 16u * j;
            if (row < p.N && tok < p.n_tok) of[p.o_off + tok * p.o_stride + row] = acc[i][j];
        }
}
