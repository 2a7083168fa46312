#version 450
// The attention input of one token in one dispatch: per-head RMSNorm of q and k (weights
// q_norm / k_norm), NeoX rotary embedding of all head_dim dims (as rope.comp), q written
// back in place, k and v written to their KV-cache rows. Workgroup x < n_head: a q head;
// then n_head_kv k heads, then n_head_kv v heads (copied); y: the token.
#include "include/common.glsl"

#define WG 128u
layout(local_size_x = 128) in;

layout(set = 0, binding = 0) buffer QB { float qf[]; };
layout(set = 1, binding = 0) readonly buffer KVB { float kvf[]; };
layout(set = 2, binding = 0) writeonly buffer CB { float cf[]; };
layout(set = 3, binding = 0) readonly buffer WB { float wf[]; };

layout(push_constant) uniform P {
    uint q_off, q_stride, k_off, k_stride, v_off, v_stride;
    uint kd_off, kd_stride, vd_off, vd_stride, qw_off, kw_off;
    uint n_head, n_head_kv, head_dim, pos0;
    float log2_base, freq_scale, eps;
} p;

// cos and sin of the angle of pair i at position pos (rope.comp's exact reduction).
vec2 angle(uint pos, uint i) {
    precise float ps = float(pos) * p.freq_scale;
    precise float inv = exp2(-2.0 * float(i) / float(p.head_dim) * p.log2_base);
    precise float hi = ps * inv;
    precise float lo = fma(ps, inv, -hi);
    precise float k = round(hi * 0.15915494309189535);
    precise float r = fma(-k, 6.28318548202514648, hi);
    r = fma(-k, -1.7484556e-7, r) + lo;
    return vec2(cos(r), sin(r));
}

void main() {
    uint hh = gl_WorkGroupID.x, t = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
    uint D = p.head_dim, half_ = D / 2u;
    if (hh >= p.n_head + p.n_head_kv) { // v head: copy (uniform branch)
        uint h = hh - p.n_head - p.n_head_kv;
        uint src = p.v_off + t * p.v_stride + h * D, dst = p.vd_off + t * p.vd_stride + h * D;
        for (uint d = tid; d < D; d += WG) cf[dst + d] = kvf[src + d];
        return;
    }
    bool is_q = hh < p.n_head;
    uint h = is_q ? hh : hh - p.n_head;
    uint src = is_q ? p.q_off + t * p.q_stride + h * D : p.k_off + t * p.k_stride + h * D;
    uint w0 = is_q ? p.qw_off : p.kw_off;
    float a[2], b[2];
    float s = 0.0;
    for (uint j = 0u; j < 2u; j++) {
        uint i = tid + WG * j;
        a[j] = 0.0;
        b[j] = 0.0;
        if (i < half_) {
            a[j] = is_q ? qf[src + i] : kvf[src + i];
            b[j] = is_q ? qf[src + i + half_] : kvf[src + i + half_];
        }
        s += a[j] * a[j] + b[j] * b[j];
    }
    s = wg_sum(s);
    float inv = 1.0 / sqrt(s / float(D) + p.eps);
    uint dst = is_q ? src : p.kd_off + t * p.kd_stride + h * D;
    for (uint j = 0u; j < 2u; j++) {
        uint i = tid + WG * j;
        if (i >= half_) break;
        float x0 = a[j] * inv * wf[w0 + i], x1 = b[j] * inv * wf[w0 + i + half_];
        vec2 cs = angle(p.pos0 + t, i);
        float r0 = x0 * cs.x - x1 * cs.y, r1 = x0 * cs.y + x1 * cs.x;
        if (is_q) {
            qf[dst + i] = r0;
            qf[dst + i + half_] = r1;
        } else {
            cf[dst + i] = r0;
            cf[dst + i + half_] = r1;
        }
    }
}
