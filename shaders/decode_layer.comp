#version 450
// A whole Gemma 3 layer for one decoded token in one dispatch (vk_persist.c): a grid of
// G workgroups, all resident at once (the host sizes G from the device's multiprocessor
// count), runs the layer's phases with a grid-wide barrier between dependent ones,
// instead of ~10 dependent dispatches whose fixed cost (~5 us each on an H100) bounded
// decode far below the memory bandwidth (docs/PERFORMANCE.md). Phases:
//   1. q, k, v = W xn                                         (rows over the grid)
//   2. per (KV head, key split): QK-norm + RoPE of its q heads and of the new key, the
//      new key and value written to the cache rows of `pos`, online-softmax partials
//   3. the splits merged into attn
//   4. o = Wo attn
//   5. every workgroup: h = x + rms_norm(o) w_post_attn, hn = rms_norm(h) w_ffn into its
//      own scratch rows (no barrier needed), then g = gelu(W_gate hn) * (W_up hn)
//   6. o = W_down g
//   7. workgroup 0: x = h + rms_norm(o) w_post_ffw, xn = rms_norm(x) w_next
// Results equal the plain ops' (the same sums in another order). The grid barrier counts
// arrivals on one counter that only grows (targets from the host's running total); a
// workgroup that waits past a bound sets an abort flag the host checks, so a device that
// cannot keep the grid resident gives an error, not a hang.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
#include "include/common.glsl"
#include "include/dl_items.glsl"

layout(local_size_x_id = 0) in;
// vec4s of a head per lane at most: head_dim / (4 S) for the models served (host)
layout(constant_id = 1) const uint MAXNQ = 2u;

layout(buffer_reference, std430, buffer_reference_align = 16) coherent buffer A4 { vec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) coherent buffer A1 { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) readonly buffer R1 { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer R4 { vec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) coherent volatile buffer SY { uint v[]; };

// The layer record (vk_persist.c's dl_record, same layout).
layout(buffer_reference, std430, buffer_reference_align = 8) readonly buffer Rec {
    Mat m[7];                                     // q, k, v, o, gate, up, down
    uint64_t nq, nk, npa, nffn, npf, nnext;       // norm weights (f32)
    uint64_t x, xn, q, k, v, attn, part, o, g, h, kc, vc, sync; // state (f32)
    uint n_embd, n_head, n_head_kv, head_dim;
    uint pos, first, has_next, n_split;
    uint split_keys, sync_base, skip, n_phases; // skip: phases left out (timing only)
    float eps, log2_base, freq_scale, scale;
};
layout(push_constant) uniform P { uint64_t rec; } p;

shared vec4 sh_part[32];
const uint KPI = 2u; // keys per attention iteration (host: splits of a multiple of KPI)
shared uint sh_abort;

float gelu_tanh(float s) { // as eltwise.comp's OP_GELU_MUL
    float y = 0.7978845608028654 * (s + 0.044715 * s * s * s);
    return s / (1.0 + exp(-2.0 * y));
}

#define MV_PAIR 0
#define MV_FN mv_q4k
#define MV_QK 256u
#define MV_IPB 8u
#define MV_XN 8
#define MV_XITEM q4k_x_item
#define MV_XSUMS q4k_x_sums
#define MV_DOT q4k_dot
#define MV_WT Q4KW
#define MV_LOAD q4k_load
#include "include/dl_mv.glsl"
#undef MV_FN
#undef MV_XITEM
#undef MV_XSUMS
#undef MV_DOT
#undef MV_WT
#undef MV_LOAD
#define MV_FN mv_q6k
#define MV_XITEM q6k_x_item
#define MV_XSUMS no_x_sums8
#define MV_DOT q6k_dot
#define MV_WT Q6KW
#define MV_LOAD q6k_load
#include "include/dl_mv.glsl"
#undef MV_FN
#undef MV_QK
#undef MV_IPB
#undef MV_XN
#undef MV_XITEM
#undef MV_XSUMS
#undef MV_DOT
#undef MV_WT
#undef MV_LOAD
#define MV_FN mv_q80
#define MV_QK 32u
#define MV_IPB 4u
#define MV_XN 2
#define MV_XITEM q80_x_item
#define MV_XSUMS no_x_sums2
#define MV_DOT q80_dot
#define MV_WT Q80W
#define MV_LOAD q80_load
#include "include/dl_mv.glsl"
#undef MV_FN
#undef MV_XITEM
#undef MV_DOT
#undef MV_WT
#undef MV_LOAD
#define MV_FN mv_q50
#define MV_XITEM q50_x_item
#define MV_DOT q50_dot
#define MV_WT Q50W
#define MV_LOAD q50_load
#include "include/dl_mv.glsl"
#undef MV_PAIR
#undef MV_FN
#undef MV_QK
#undef MV_IPB
#undef MV_XN
#undef MV_XITEM
#undef MV_XSUMS
#undef MV_DOT
#undef MV_WT
#undef MV_LOAD
#define MV_PAIR 1
#define MV_FN mvp_q4k
#define MV_QK 256u
#define MV_IPB 8u
#define MV_XN 8
#define MV_XITEM q4k_x_item
#define MV_XSUMS q4k_x_sums
#define MV_DOT q4k_dot
#define MV_WT Q4KW
#define MV_LOAD q4k_load
#include "include/dl_mv.glsl"
#undef MV_FN
#undef MV_XITEM
#undef MV_XSUMS
#undef MV_DOT
#undef MV_WT
#undef MV_LOAD
#define MV_FN mvp_q6k
#define MV_XITEM q6k_x_item
#define MV_XSUMS no_x_sums8
#define MV_DOT q6k_dot
#define MV_WT Q6KW
#define MV_LOAD q6k_load
#include "include/dl_mv.glsl"
#undef MV_FN
#undef MV_QK
#undef MV_IPB
#undef MV_XN
#undef MV_XITEM
#undef MV_XSUMS
#undef MV_DOT
#undef MV_WT
#undef MV_LOAD
#define MV_FN mvp_q80
#define MV_QK 32u
#define MV_IPB 4u
#define MV_XN 2
#define MV_XITEM q80_x_item
#define MV_XSUMS no_x_sums2
#define MV_DOT q80_dot
#define MV_WT Q80W
#define MV_LOAD q80_load
#include "include/dl_mv.glsl"
#undef MV_FN
#undef MV_XITEM
#undef MV_DOT
#undef MV_WT
#undef MV_LOAD
#define MV_FN mvp_q50
#define MV_XITEM q50_x_item
#define MV_DOT q50_dot
#define MV_WT Q50W
#define MV_LOAD q50_load
#include "include/dl_mv.glsl"

// Units of m a workgroup pass covers (as the routine above counts them).
uint mv_units(Mat m) {
    uint rpw = m.nr * (gl_WorkGroupSize.x / m.gl);
    return (m.rows + rpw - 1u) / rpw;
}
void matvec(Mat m, uint64_t xa, uint64_t oa, uint rot) {
    if (m.type == DL_Q4K) mv_q4k(m, m, xa, oa, rot);
    else if (m.type == DL_Q6K) mv_q6k(m, m, xa, oa, rot);
    else if (m.type == DL_Q80) mv_q80(m, m, xa, oa, rot);
    else mv_q50(m, m, xa, oa, rot);
}
void matvec_pair(Mat m, Mat u, uint64_t xa, uint64_t oa) { // host: same type and shape
    if (m.type == DL_Q4K) mvp_q4k(m, u, xa, oa, 0u);
    else if (m.type == DL_Q6K) mvp_q6k(m, u, xa, oa, 0u);
    else if (m.type == DL_Q80) mvp_q80(m, u, xa, oa, 0u);
    else mvp_q50(m, u, xa, oa, 0u);
}

// Grid-wide barrier: this workgroup's writes made visible, one arrival, then wait for
// every workgroup's arrival of this round. After an abort every later barrier passes.
const uint SPIN_LIMIT = 1u << 24;
uint g_target;
void grid_sync(Rec r) {
    memoryBarrierBuffer();
    barrier();
    g_target += gl_NumWorkGroups.x;
    if (gl_LocalInvocationID.x == 0u && sh_abort == 0u) {
        SY sy = SY(r.sync);
        atomicAdd(sy.v[0], 1u);
        for (uint n = 1u; int(sy.v[0] - g_target) < 0; n++)
            if ((n & 1023u) == 0u && (sy.v[1] != 0u || n >= SPIN_LIMIT)) {
                atomicOr(sy.v[1], 1u);
                sh_abort = 1u;
                break;
            }
    }
    barrier();
    memoryBarrierBuffer();
}

// cos and sin of the angle of rotary pair i at position pos (qk_norm_rope.comp's exact
// reduction).
vec2 angle(Rec r, uint pos, uint i) {
    precise float ps = float(pos) * r.freq_scale;
    precise float inv = exp2(-2.0 * float(i) / float(r.head_dim) * r.log2_base);
    precise float hi = ps * inv;
    precise float lo = fma(ps, inv, -hi);
    precise float k = round(hi * 0.15915494309189535);
    precise float t = fma(-k, 6.28318548202514648, hi);
    t = fma(-k, -1.7484556e-7, t) + lo;
    return vec2(cos(t), sin(t));
}

// One head (head_dim values at vec4 index b4 of a) RMS-normed with weights nw and rotated
// at r.pos. Lane l holds vec4s l + S i (i < nq = head_dim / 4S); rotary pairs (d, d +
// head_dim / 2) are then vec4s i and i + nq / 2 of one lane, or (nq 1) lanes S / 2 apart.
void norm_rope(Rec r, uint64_t a, uint b4, uint64_t nw, out vec4 o[MAXNQ]) {
    uint S = gl_SubgroupSize, lane = gl_SubgroupInvocationID, D = r.head_dim;
    uint nq = D / (4u * S);
    vec4 v[MAXNQ];
    float ss = 0.0;
    for (uint i = 0u; i < MAXNQ; i++) {
        v[i] = i < nq ? A4(a).v[b4 + lane + S * i] : vec4(0.0);
        ss += dot(v[i], v[i]);
        o[i] = vec4(0.0);
    }
    float inv = 1.0 / sqrt(subgroupAdd(ss) / float(D) + r.eps);
    R1 w = R1(nw);
    for (uint i = 0u; i < nq; i++) {
        uint d = 4u * (lane + S * i);
        v[i] *= inv * vec4(w.v[d], w.v[d + 1u], w.v[d + 2u], w.v[d + 3u]);
    }
    uint np = max(nq / 2u, 1u);
    for (uint i = 0u; i < np; i++) {
        vec4 other = nq >= 2u ? v[i + np] : subgroupShuffleXor(v[0], S / 2u);
        bool lo_half = nq >= 2u || lane < S / 2u;
        vec4 lo = lo_half ? v[i] : other, hi = lo_half ? other : v[i];
        uint i0 = nq >= 2u ? 4u * (lane + S * i) : 4u * (lane % (S / 2u));
        vec4 c, s;
        for (uint j = 0u; j < 4u; j++) {
            vec2 cs = angle(r, r.pos, i0 + j);
            c[j] = cs.x;
            s[j] = cs.y;
        }
        vec4 rl = lo * c - hi * s, rh = lo * s + hi * c;
        if (nq >= 2u) {
            o[i] = rl;
            o[i + np] = rh;
        } else {
            o[0] = lane < S / 2u ? rl : rh;
        }
    }
}

// Phase 2: a subgroup per (KV head, split of split_keys keys from r.first), its query
// heads two at a time; KPI keys per iteration with their loads together. The key at
// r.pos is this token's: taken from the k / v rows (normed and rotated here) and written
// to the cache by the subgroup whose split holds it.
void attention_phase(Rec r) {
    uint S = gl_SubgroupSize, lane = gl_SubgroupInvocationID, D = r.head_dim;
    uint nq = D / (4u * S), per_kv = r.n_head / r.n_head_kv, kvd4 = r.n_head_kv * D / 4u;
    uint nw = gl_NumWorkGroups.x * gl_NumSubgroups;
    uint items = r.n_head_kv * r.n_split;
    for (uint item = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; item < items;
         item += nw) {
        uint kvh = item / r.n_split, sp = item % r.n_split;
        uint j0 = r.first + sp * r.split_keys, j1 = min(j0 + r.split_keys, r.pos + 1u);
        vec4 kn[MAXNQ], vn[MAXNQ];
        for (uint i = 0u; i < MAXNQ; i++) kn[i] = vn[i] = vec4(0.0);
        bool has_new = j1 == r.pos + 1u;
        if (has_new) { // uniform
            norm_rope(r, r.k, kvh * (D / 4u), r.nk, kn);
            for (uint i = 0u; i < MAXNQ; i++)
                vn[i] = i < nq ? A4(r.v).v[kvh * (D / 4u) + lane + S * i] : vec4(0.0);
            for (uint i = 0u; i < nq; i++) {
                uint c4 = r.pos * kvd4 + kvh * (D / 4u) + lane + S * i;
                A4(r.kc).v[c4] = kn[i];
                A4(r.vc).v[c4] = vn[i];
            }
        }
        for (uint h0 = kvh * per_kv; h0 < (kvh + 1u) * per_kv; h0 += 2u) {
            uint nh = min(2u, (kvh + 1u) * per_kv - h0);
            vec4 q[2][MAXNQ], acc[2][MAXNQ];
            float m[2], l[2];
            for (uint t = 0u; t < 2u; t++) {
                norm_rope(r, r.q, min(h0 + t, h0 + nh - 1u) * (D / 4u), r.nq, q[t]);
                for (uint i = 0u; i < MAXNQ; i++) {
                    q[t][i] *= r.scale;
                    acc[t][i] = vec4(0.0);
                }
                m[t] = -1.0 / 0.0;
                l[t] = 0.0;
            }
            for (uint j = j0; j < j1; j += KPI) {
                vec4 kv[KPI][MAXNQ], vv[KPI][MAXNQ];
                for (uint u = 0u; u < KPI; u++) {
                    uint jj = min(j + u, j1 - 1u);
                    for (uint i = 0u; i < MAXNQ; i++) {
                        uint c4 = jj * kvd4 + kvh * (D / 4u) + lane + S * i;
                        bool live = i < nq && jj != r.pos;
                        kv[u][i] = live ? R4(r.kc).v[c4] : kn[i];
                        vv[u][i] = live ? R4(r.vc).v[c4] : vn[i];
                    }
                }
                for (uint t = 0u; t < nh; t++) {
                    float sc[KPI];
                    float mb = m[t];
                    for (uint u = 0u; u < KPI; u++) {
                        float d = 0.0;
                        for (uint i = 0u; i < MAXNQ; i++) d += dot(q[t][i], kv[u][i]);
                        sc[u] = subgroupAdd(d);
                        if (j + u < j1) mb = max(mb, sc[u]);
                    }
                    float corr = exp(m[t] - mb); // 0 while m is -inf
                    l[t] *= corr;
                    for (uint i = 0u; i < MAXNQ; i++) acc[t][i] *= corr;
                    for (uint u = 0u; u < KPI; u++) {
                        float pu = j + u < j1 ? exp(sc[u] - mb) : 0.0;
                        l[t] += pu;
                        for (uint i = 0u; i < MAXNQ; i++) acc[t][i] += pu * vv[u][i];
                    }
                    m[t] = mb;
                }
            }
            for (uint t = 0u; t < nh; t++) {
                uint base4 = ((h0 + t) * r.n_split + sp) * (D / 4u + 1u);
                if (lane == 0u) A4(r.part).v[base4] = vec4(m[t], l[t], 0.0, 0.0);
                for (uint i = 0u; i < nq; i++) A4(r.part).v[base4 + 1u + lane + S * i] = acc[t][i];
            }
        }
    }
}

// Phase 3: attn[h][4c..] from the splits of head h (an invocation per (h, c)), eight
// splits' loads at a time, merged online.
void merge_phase(Rec r) {
    uint D4 = r.head_dim / 4u, n = r.n_head * D4, ns = r.n_split;
    for (uint id = gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x; id < n;
         id += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        uint h = id / D4, c = id % D4, b0 = h * ns * (D4 + 1u);
        float M = -1.0 / 0.0, L = 0.0;
        vec4 a = vec4(0.0);
        for (uint s0 = 0u; s0 < ns; s0 += 8u) {
            vec4 ml[8], ac[8];
            for (uint j = 0u; j < 8u; j++) {
                uint b = b0 + min(s0 + j, ns - 1u) * (D4 + 1u);
                ml[j] = A4(r.part).v[b];
                ac[j] = A4(r.part).v[b + 1u + c];
            }
            for (uint j = 0u; j < 8u; j++) {
                if (s0 + j >= ns) break;
                float Mn = max(M, ml[j].x), fo = exp(M - Mn), f = exp(ml[j].x - Mn);
                L = L * fo + f * ml[j].y;
                a = a * fo + f * ac[j];
                M = Mn;
            }
        }
        A4(r.attn).v[h * D4 + c] = a / L;
    }
}

// dst = src + rms_norm(o) * w_post, and (with w_next) dn = rms_norm(dst) * w_next, over
// the workgroup, BE_PER elements per invocation with their loads together: rows of up to
// WG x BE_PER elements (every Gemma 3 width at 256 invocations) take one round trip of
// loads, longer ones re-read their chunks.
const uint BE_PER = 16u;
void block_end(Rec r, uint64_t src, uint64_t o, uint64_t w_post, uint64_t dst,
               uint64_t w_next, uint64_t dn, bool next) {
    uint n = r.n_embd, tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    float ov[BE_PER], xv[BE_PER], wv[BE_PER], nv[BE_PER];
    bool one = n <= WG * BE_PER;
    float s = 0.0;
    for (uint c0 = 0u; c0 < n; c0 += WG * BE_PER) {
        for (uint j = 0u; j < BE_PER; j++) {
            uint i = c0 + tid + WG * j;
            bool in_ = i < n;
            ov[j] = in_ ? A1(o).v[i] : 0.0;
            if (one) { // every operand now: no second round trip
                xv[j] = in_ ? A1(src).v[i] : 0.0;
                wv[j] = in_ ? R1(w_post).v[i] : 0.0;
                nv[j] = in_ && next ? R1(w_next).v[i] : 0.0;
            }
        }
        for (uint j = 0u; j < BE_PER; j++) s += ov[j] * ov[j];
    }
    float inv = 1.0 / sqrt(wg_sum(s) / float(n) + r.eps);
    float s2 = 0.0;
    for (uint c0 = 0u; c0 < n; c0 += WG * BE_PER) {
        for (uint j = 0u; j < BE_PER && !one; j++) {
            uint i = c0 + tid + WG * j;
            bool in_ = i < n;
            ov[j] = in_ ? A1(o).v[i] : 0.0;
            xv[j] = in_ ? A1(src).v[i] : 0.0;
            wv[j] = in_ ? R1(w_post).v[i] : 0.0;
        }
        for (uint j = 0u; j < BE_PER; j++) {
            uint i = c0 + tid + WG * j;
            float v = xv[j] + ov[j] * inv * wv[j];
            xv[j] = v;
            if (i < n) A1(dst).v[i] = v;
            s2 += v * v;
        }
    }
    if (!next) return; // uniform
    float inv2 = 1.0 / sqrt(wg_sum(s2) / float(n) + r.eps);
    for (uint c0 = 0u; c0 < n; c0 += WG * BE_PER) {
        for (uint j = 0u; j < BE_PER && !one; j++) { // each invocation reads its own writes
            uint i = c0 + tid + WG * j;
            bool in_ = i < n;
            xv[j] = in_ ? A1(dst).v[i] : 0.0;
            nv[j] = in_ ? R1(w_next).v[i] : 0.0;
        }
        for (uint j = 0u; j < BE_PER; j++) {
            uint i = c0 + tid + WG * j;
            if (i < n) A1(dn).v[i] = xv[j] * inv2 * nv[j];
        }
    }
}

// The phases run from one loop with one call site per routine: inlined at every call,
// the mat-vec's type variants made a program much larger than the instruction cache.
void main() {
    Rec r = Rec(p.rec);
    if (gl_LocalInvocationID.x == 0u) sh_abort = 0u;
    g_target = r.sync_base;
    uint64_t hw = r.h + uint64_t(gl_WorkGroupID.x) * uint64_t(8u * r.n_embd);
    uint64_t hn = hw + uint64_t(4u * r.n_embd);
    [[dont_unroll]] for (uint ph = 0u; ph < r.n_phases; ph++) {
        if (ph == 1u) {
            if ((r.skip & 2u) == 0u) attention_phase(r);
        } else if (ph == 2u) {
            if ((r.skip & 4u) == 0u) merge_phase(r);
        } else if (ph == 4u || ph == 6u) {
            // 5. attention block end (each workgroup its own copy), then gate / up;
            // 7. the layer's end (workgroup 0)
            bool last = ph == 6u;
            if (last && gl_WorkGroupID.x != 0u) break;
            if ((r.skip & (last ? 128u : 16u)) == 0u)
                block_end(r, last ? hw : r.x, r.o, last ? r.npf : r.npa, last ? r.x : hw,
                          last ? r.nnext : r.nffn, last ? r.xn : hn, !last || r.has_next != 0u);
            if (last) break;
            memoryBarrierBuffer();
            barrier();
            if ((r.skip & 32u) == 0u) matvec_pair(r.m[4], r.m[5], hn, r.g);
        } else {
            // 1. q, k, v; 4. o; 6. down
            uint j0 = ph == 0u ? 0u : (ph == 3u ? 3u : 6u), j1 = ph == 0u ? 3u : j0 + 1u;
            uint bit = ph == 0u ? 1u : (ph == 3u ? 8u : 64u), rot = 0u;
            [[dont_unroll]] for (uint j = j0; j < j1 && (r.skip & bit) == 0u; j++) {
                uint64_t xa = j < 3u ? r.xn : (j == 3u ? r.attn : r.g);
                uint64_t oa = j == 0u ? r.q : (j == 1u ? r.k : (j == 2u ? r.v : r.o));
                matvec(r.m[j], xa, oa, rot);
                rot += mv_units(r.m[j]);
            }
        }
        grid_sync(r);
    }
}
