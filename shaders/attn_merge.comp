#version 450
// Combines the n_split partial results of attention.comp for one (token, head):
// out = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s, M the largest m_s.
#include "include/common.glsl"

layout(local_size_x = 128) in;

layout(set = 0, binding = 0) readonly buffer PB { float pf[]; };
layout(set = 1, binding = 0) writeonly buffer OB { float of[]; };

layout(push_constant) uniform P {
    uint p_off, o_off, o_stride, n_head, head_dim, n_split;
} p;

void main() {
    uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y, D = p.head_dim;
    uint base = p.p_off + (t * p.n_head + h) * p.n_split * (D + 2u);
    float M = -1.0 / 0.0;
    for (uint s = 0u; s < p.n_split; s++) M = max(M, pf[base + s * (D + 2u)]);
    float L = 0.0;
    for (uint s = 0u; s < p.n_split; s++) {
        float ms = pf[base + s * (D + 2u)];
        if (ms != -1.0 / 0.0) L += exp(ms - M) * pf[base + s * (D + 2u) + 1u];
    }
    float inv = L > 0.0 ? 1.0 / L : 0.0;
    for (uint d = gl_LocalInvocationID.x; d < D; d += 128u) {
        float a = 0.0;
        for (uint s = 0u; s < p.n_split; s++) {
            float ms = pf[base + s * (D + 2u)];
            if (ms != -1.0 / 0.0) a += exp(ms - M) * pf[base + s * (D + 2u) + 2u + d];
        }
        of[p.o_off + t * p.o_stride + h * D + d] = a * inv;
    }
}
