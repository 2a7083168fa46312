#version 450
// Quantizes f32 rows for the integer-dot mat-vecs (include/mvq_items.glsl): per block of
// 32 elements dx = max|x| / 32767 and q = round(x / dx) (ties to even), as the CPU
// backend's Q16_32 (cpu_quant_q16_32_scalar), stored as hi / lo bytes, then dx and
// xs = dx * sum q. One invocation per block; rows of K elements, K a multiple of 64.
#include "include/common.glsl"
#include "include/q16.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer XB { vec4 x4[]; };
layout(set = 2, binding = 0) writeonly buffer QB { uvec4 q4[]; };
layout(set = 2, binding = 0) writeonly buffer QF { float qf[]; };

layout(push_constant) uniform P {
    uint x_off, x_stride; // floats (multiples of 4)
    uint q_off, q_stride; // 16-byte units
    uint K;
} p;

void main() {
    uint blk = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y, nb = p.K / 32u;
    if (blk >= nb) return;
    uint xr = (p.x_off + t * p.x_stride) / 4u + 8u * blk;
    vec4 v[8];
    float amax = 0.0;
    for (uint i = 0u; i < 8u; i++) {
        v[i] = x4[xr + i];
        vec4 a = abs(v[i]);
        amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
    }
    float dd = q16_step(amax), id = q16_inv(dd);
    uint hi[8], lo[8];
    int sum = 0;
    for (uint i = 0u; i < 8u; i++) {
        ivec4 q = ivec4(q16_round(v[i].x, id), q16_round(v[i].y, id), q16_round(v[i].z, id),
                        q16_round(v[i].w, id));
        sum += q.x + q.y + q.z + q.w;
        uvec4 u = uvec4(q);
        hi[i] = ((u.x >> 8) & 0xFFu) | (((u.y >> 8) & 0xFFu) << 8) | (((u.z >> 8) & 0xFFu) << 16) |
                ((u.w >> 8) << 24);
        lo[i] = (u.x & 0xFFu) | ((u.y & 0xFFu) << 8) | ((u.z & 0xFFu) << 16) | ((u.w & 0xFFu) << 24);
    }
    uint qr = p.q_off + t * p.q_stride;
    q4[qr + 2u * blk] = uvec4(hi[0], hi[1], hi[2], hi[3]);
    q4[qr + 2u * blk + 1u] = uvec4(hi[4], hi[5], hi[6], hi[7]);
    q4[qr + p.K / 16u + 2u * blk] = uvec4(lo[0], lo[1], lo[2], lo[3]);
    q4[qr + p.K / 16u + 2u * blk + 1u] = uvec4(lo[4], lo[5], lo[6], lo[7]);
    uint f = 4u * qr + p.K / 2u;
    qf[f + blk] = dd;
    qf[f + nb + blk] = dd * float(sum);
}
