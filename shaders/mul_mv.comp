#version 450
// Matrix-vector product for decode (a few tokens): out[t][r] = sum_k w[r][k] x[t][k].
// A workgroup of 64 computes NR rows of one token; its invocations stride over the
// (block, part) items of the rows (dot_part_mv in dequant.glsl), so each x value is read
// once for all NR rows, and the NR sums are reduced together behind one barrier.
#include "include/common.glsl"
#include "include/dequant.glsl"

#define WG 64u
// Rows per workgroup: measured on an H100, 4 suits the 16-byte K-quant parts, 2 the rest.
#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#define NR 4u
#else
#define NR 2u
#endif
layout(local_size_x = 64) in;

layout(set = 2, binding = 0) writeonly buffer OB { float of[]; };

layout(push_constant) uniform P {
    uint w_off, row_bytes;  // bytes
    uint x_off, x_stride;   // floats
    uint o_off, o_stride;   // floats
    uint K, N;              // row length, rows
} p;

shared float part_sh[NR][WG];

void main() {
    uint row0 = wg_linear() * NR, t = gl_WorkGroupID.z, tid = gl_LocalInvocationID.x;
    uint nitems = (p.K / QK) * NPART_MV;
    uint xrow = p.x_off + t * p.x_stride;
    uint nr = min(NR, p.N - min(row0, p.N));
    float acc[NR];
    for (uint r = 0u; r < NR; r++) acc[r] = 0.0;
    for (uint j = tid; j < nitems; j += WG) {
        uint blk = j / NPART_MV, part = j % NPART_MV;
        uint xi = xrow + blk * QK, bb = p.w_off + row0 * p.row_bytes + blk * BB;
        for (uint r = 0u; r < NR; r++)
            if (r < nr) acc[r] += dot_part_mv(bb + r * p.row_bytes, part, xi);
    }
    for (uint r = 0u; r < NR; r++) {
        float s = subgroupAdd(acc[r]);
        if (subgroupElect()) part_sh[r][gl_SubgroupID] = s;
    }
    barrier();
    if (tid < nr) {
        float s = 0.0;
        for (uint i = 0u; i < gl_NumSubgroups; i++) s += part_sh[tid][i];
        of[p.o_off + t * p.o_stride + row0 + tid] = s;
    }
}
