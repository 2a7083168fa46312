#version 450
// Attention of one query (token t, head h) over its visible keys, online softmax over
// blocks of 128 keys: scores with one key per invocation, then P.V with one output
// dimension per invocation. Flash-decoding: with n_split > 1 the key range is cut into
// n_split pieces, each workgroup writes (max, sum, unnormalised output) of its piece and
// attn_merge.comp combines them. Mask rule: backend.h ue_attention_visible.
#include "include/common.glsl"

#define WG 128u
#define MAXD 512u
layout(local_size_x = 128) in;

layout(set = 0, binding = 0) readonly buffer QB { float qf[]; };
layout(set = 1, binding = 0) readonly buffer KB { float kf[]; };
layout(set = 1, binding = 0) readonly buffer KB4 { vec4 kf4[]; };
layout(set = 2, binding = 0) readonly buffer VB { float vf[]; };
layout(set = 3, binding = 0) writeonly buffer OB { float of[]; };

layout(push_constant) uniform P {
    uint q_off, q_stride, k_off, v_off, kv_stride, o_off, o_stride;
    uint n_head, n_head_kv, head_dim;
    int pos0, window, bidir_begin, bidir_end;
    float scale;
    uint n_split;
} p;

shared float q_sh[MAXD];
shared float p_sh[WG];

bool visible(int pq, int pk) {
    if (pk >= p.bidir_begin && pk < p.bidir_end && pq >= p.bidir_begin && pq < p.bidir_end)
        return true;
    return pk <= pq && (p.window <= 0 || pq - pk < p.window);
}

void main() {
    uint split = gl_WorkGroupID.x, h = gl_WorkGroupID.y, t = gl_WorkGroupID.z;
    uint tid = gl_LocalInvocationID.x, D = p.head_dim;
    uint kvh = h / (p.n_head / p.n_head_kv);
    int pq = p.pos0 + int(t);
    int first = 0, last = pq;
    if (p.window > 0 && pq - p.window + 1 > 0) first = pq - p.window + 1;
    if (pq >= p.bidir_begin && pq < p.bidir_end) {
        first = min(first, p.bidir_begin);
        last = p.bidir_end - 1;
    }
    int nkeys = last - first + 1;
    int chunk = (nkeys + int(p.n_split) - 1) / int(p.n_split);
    int kb0 = first + int(split) * chunk, kend = min(kb0 + chunk, last + 1);

    // 16-byte K loads where rows and offsets allow them (uniform)
    bool vec4_rows = (D % 4u) == 0u && (p.kv_stride % 4u) == 0u && (p.k_off % 4u) == 0u;
    uint qrow = p.q_off + t * p.q_stride + h * D;
    for (uint d = tid; d < D; d += WG) q_sh[d] = qf[qrow + d] * p.scale;
    barrier();

    float m = -1.0 / 0.0, l = 0.0;
    float acc[MAXD / WG];
    for (uint i = 0u; i < MAXD / WG; i++) acc[i] = 0.0;
    uint kvcol = kvh * D;
    for (int kb = kb0; kb < kend; kb += int(WG)) {
        int j = kb + int(tid);
        float s = -1.0 / 0.0;
        if (j < kend && visible(pq, j)) {
            uint kr = p.k_off + uint(j) * p.kv_stride + kvcol;
            s = 0.0;
            if (vec4_rows) { // independent 16-byte loads, four partial sums
                uint kr4 = kr >> 2;
                vec4 s4 = vec4(0.0);
                for (uint d4 = 0u; d4 < D / 4u; d4++) {
                    vec4 kv = kf4[kr4 + d4];
                    s4 += vec4(q_sh[4u * d4], q_sh[4u * d4 + 1u], q_sh[4u * d4 + 2u],
                               q_sh[4u * d4 + 3u]) * kv;
                }
                s = (s4.x + s4.y) + (s4.z + s4.w);
            } else {
                for (uint d = 0u; d < D; d++) s += q_sh[d] * kf[kr + d];
            }
        }
        float mb = wg_max(s);
        float m_new = max(m, mb);
        float pj = (s == -1.0 / 0.0) ? 0.0 : exp(s - m_new);
        p_sh[tid] = pj;
        float sb = wg_sum(pj); // its barriers also publish p_sh
        if (mb == -1.0 / 0.0) continue; // nothing visible in this block (uniform)
        float corr = (m == -1.0 / 0.0) ? 0.0 : exp(m - m_new);
        l = l * corr + sb;
        int nb = min(int(WG), kend - kb);
        for (uint i = 0u; i < MAXD / WG; i++) {
            uint d = tid + WG * i;
            if (d >= D) break;
            // Masked keys carry weight 0 and their rows are in range, so no branch: the
            // loads of eight keys are issued together.
            uint vr = p.v_off + uint(kb) * p.kv_stride + kvcol + d, st = p.kv_stride;
            float a0 = acc[i] * corr, a1 = 0.0;
            int jj = 0;
            for (; jj + 8 <= nb; jj += 8) {
                uint r = vr + uint(jj) * st;
                a0 += p_sh[jj] * vf[r] + p_sh[jj + 1] * vf[r + st] + p_sh[jj + 2] * vf[r + 2u * st] +
                      p_sh[jj + 3] * vf[r + 3u * st];
                a1 += p_sh[jj + 4] * vf[r + 4u * st] + p_sh[jj + 5] * vf[r + 5u * st] +
                      p_sh[jj + 6] * vf[r + 6u * st] + p_sh[jj + 7] * vf[r + 7u * st];
            }
            for (; jj < nb; jj++) a0 += p_sh[jj] * vf[vr + uint(jj) * st];
            acc[i] = a0 + a1;
        }
        m = m_new;
        barrier(); // p_sh is rewritten by the next block
    }
    if (p.n_split == 1u) {
        uint orow = p.o_off + t * p.o_stride + h * D;
        float inv = l > 0.0 ? 1.0 / l : 0.0;
        for (uint i = 0u; i < MAXD / WG; i++) {
            uint d = tid + WG * i;
            if (d < D) of[orow + d] = acc[i] * inv;
        }
    } else {
        // partial (t, h, split): [m, l, acc[D]]
        uint base = p.o_off + ((t * p.n_head + h) * p.n_split + split) * (D + 2u);
        if (tid == 0u) {
            of[base] = m;
            of[base + 1u] = l;
        }
        for (uint i = 0u; i < MAXD / WG; i++) {
            uint d = tid + WG * i;
            if (d < D) of[base + 2u + d] = acc[i];
        }
    }
}
