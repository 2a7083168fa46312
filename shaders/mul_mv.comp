#version 450
// Matrix-vector product for decode (a few tokens): out[t][r] = sum_k w[r][k] x[t][k].
// A workgroup of 64 computes NR rows of one token; its invocations stride over the
// (block, part) items of the row (dequant.glsl), so x is read once for all NR rows.
#include "include/common.glsl"
#include "include/dequant.glsl"

#define WG 64u
#define NR 2u
layout(local_size_x = 64) in;

layout(set = 2, binding = 0) writeonly buffer OB { float of[]; };

layout(push_constant) uniform P {
    uint w_off, row_bytes;  // bytes
    uint x_off, x_stride;   // floats
    uint o_off, o_stride;   // floats
    uint K, N;              // row length, rows
} p;

void main() {
    uint row0 = wg_linear() * NR, t = gl_WorkGroupID.z, tid = gl_LocalInvocationID.x;
    uint nitems = (p.K / QK) * NPART;
    uint xrow = p.x_off + t * p.x_stride;
    float acc[NR];
    for (uint r = 0u; r < NR; r++) acc[r] = 0.0;
    for (uint j = tid; j < nitems; j += WG) {
        uint blk = j / NPART, part = j % NPART;
        uint xi = xrow + blk * QK;
        for (uint r = 0u; r < NR; r++)
            if (row0 + r < p.N)
                acc[r] += dot_part(p.w_off + (row0 + r) * p.row_bytes + blk * BB, part, xi);
    }
    for (uint r = 0u; r < NR; r++) {
        float s = wg_sum(acc[r]);
        if (tid == 0u && row0 + r < p.N) of[p.o_off + t * p.o_stride + row0 + r] = s;
    }
}
