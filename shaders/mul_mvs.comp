#version 450
// Matrix-vector product for decode on matrices with few rows (mul_mvf.comp's items,
// include/mv_items.glsl), where one subgroup per row group leaves few loads in flight: a
// group of GL lanes, up to the whole workgroup, owns NR rows; its lanes take items GL apart
// (UNR at a time, loads together), so a row of K = 2560 is one item per lane at GL = 128.
// Sums are reduced in the subgroup, then across the group's subgroups in shared memory.
// Rows may come from up to three matrices of one layout in one window (segments [0, seg1),
// [seg1, seg2), [seg2, N), each with its own first row and output: q, k and v in one
// dispatch). With -DADD_NORM (one token) the workgroup that finishes last (a counter in
// set 4) applies add_rms_norm.comp's block end to the whole output:
//   x += rms_norm(o) * w_post; with has_next, xn = rms_norm(x) * w_next.
// With -DGATE_UP the same rows of a second matrix (set 3) are summed too and
// gelu_tanh(first) * second is stored (mul_mvf.comp's gate/up product).
#extension GL_KHR_shader_subgroup_shuffle : require
#include "include/common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NR = 2u;
layout(constant_id = 3) const uint GL = 128u; // lanes per row group: divides the workgroup
layout(constant_id = 4) const uint UNR = 1u;  // items per lane per iteration

#define MV_SEGMENTS
#define MV_PUSH_EXTRA                                                                     \
    uint seg1, seg2, w_off1, w_off2, o_off1, o_off2; /* segments (floats for outputs) */  \
    uint r_off, n_off, wp_off, wn_off, has_next, slot; /* ADD_NORM: x, xn, norms, counter */ \
    float eps;
#include "include/mv_items.glsl"

#ifdef ADD_NORM
layout(set = 2, binding = 0) coherent buffer OB { float of[]; }; // o, x and xn
layout(set = 3, binding = 0) readonly buffer NWB { float nw[]; }; // w_post, w_next
layout(set = 4, binding = 0) coherent buffer SYB { uint cnt[]; };
shared bool sh_last;
#else
layout(set = 2, binding = 0) writeonly buffer OB { float of[]; };
#endif

#ifdef GATE_UP
#define NM 2u // matrices summed
#else
#define NM 1u
#endif
// partial sums of groups wider than a subgroup, [NM NR][subgroup] (host: <= 32 subgroups)
shared float sh_part[NM * NR * 32u];

// Sum over each group of G lanes (G a power of two dividing the subgroup size).
float group_sum(float v, uint G) {
    if (G >= gl_SubgroupSize) return subgroupAdd(v);
    for (uint m = G >> 1; m > 0u; m >>= 1) v += subgroupShuffleXor(v, m);
    return v;
}

#ifdef ADD_NORM
#define PER 16u // elements per invocation per chunk, loads issued together
// The block end over the p.N outputs (one token), in chunks of WG * PER elements whose
// loads go out together (the last workgroup's latency is the op's), with few registers
// (they count against the whole kernel's occupancy).
void block_end() {
    uint n = p.N, tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    float s = 0.0;
    for (uint c0 = 0u; c0 < n; c0 += WG * PER) { // uniform
        float ov[PER];
        for (uint j = 0u; j < PER; j++) {
            uint i = c0 + tid + WG * j;
            ov[j] = i < n ? of[p.o_off + i] : 0.0;
        }
        for (uint j = 0u; j < PER; j++) s += ov[j] * ov[j];
    }
    s = wg_sum(s);
    float inv = 1.0 / sqrt(s / float(n) + p.eps);
    float s2 = 0.0;
    for (uint c0 = 0u; c0 < n; c0 += WG * PER) {
        float ov[PER], xv[PER], wp[PER];
        for (uint j = 0u; j < PER; j++) {
            uint i = c0 + tid + WG * j;
            bool in_ = i < n;
            ov[j] = in_ ? of[p.o_off + i] : 0.0;
            xv[j] = in_ ? of[p.r_off + i] : 0.0;
            wp[j] = in_ ? nw[p.wp_off + i] : 0.0;
        }
        for (uint j = 0u; j < PER; j++) {
            uint i = c0 + tid + WG * j;
            float v = xv[j] + ov[j] * inv * wp[j];
            if (i < n) of[p.r_off + i] = v;
            s2 += v * v;
        }
    }
    if (p.has_next == 0u) return; // uniform
    s2 = wg_sum(s2);
    float inv2 = 1.0 / sqrt(s2 / float(n) + p.eps);
    for (uint c0 = 0u; c0 < n; c0 += WG * PER) {
        float xv[PER], wn[PER];
        for (uint j = 0u; j < PER; j++) { // each invocation reads back its own writes
            uint i = c0 + tid + WG * j;
            bool in_ = i < n;
            xv[j] = in_ ? of[p.r_off + i] : 0.0;
            wn[j] = in_ ? nw[p.wn_off + i] : 0.0;
        }
        for (uint j = 0u; j < PER; j++) {
            uint i = c0 + tid + WG * j;
            if (i < n) of[p.n_off + i] = xv[j] * inv2 * wn[j];
        }
    }
}
#endif

void main() {
    uint WG = gl_WorkGroupSize.x, S = gl_SubgroupSize, G = GL;
    uint sg = gl_SubgroupID, nsg = gl_NumSubgroups, sl = gl_SubgroupInvocationID;
    // Groups are made of whole subgroups (G >= S) or cut from one (G < S), by subgroup id.
    uint grp, lane;
    if (G >= S) {
        grp = sg / (G / S);
        lane = (sg % (G / S)) * S + sl;
    } else {
        grp = sg * (S / G) + sl / G;
        lane = sl % G;
    }
    uint t = gl_WorkGroupID.z;
    uint grow = wg_linear() * (NR * (WG / G)) + grp * NR; // first row, all segments
    bool live = grow < p.N;
    uint r0 = min(grow, p.N - 1u);
    uint seg = r0 >= p.seg2 ? 2u : (r0 >= p.seg1 ? 1u : 0u);
    uint s_lo = seg == 2u ? p.seg2 : (seg == 1u ? p.seg1 : 0u);
    uint s_hi = seg == 2u ? p.N : (seg == 1u ? p.seg2 : p.seg1);
    g_w_off = seg == 2u ? p.w_off2 : (seg == 1u ? p.w_off1 : p.w_off);
    uint o_base = seg == 2u ? p.o_off2 : (seg == 1u ? p.o_off1 : p.o_off);
    uint o_str = seg == 0u ? p.o_stride : s_hi - s_lo;
    uint lrow = r0 - s_lo, nloc = s_hi - s_lo; // host: segments start at multiples of NR

    uint nitems = (p.K / QK) * IPB;
    uint xrow = (p.x_off + t * p.x_stride) >> 2;
    float acc[NM * NR];
    for (uint r = 0u; r < NM * NR; r++) acc[r] = 0.0;
    for (uint it0 = lane; it0 < nitems; it0 += G * UNR) {
        for (uint u = 0u; u < UNR; u++) {
            // items past the row: a valid item, weighted 0
            uint it = min(it0 + G * u, nitems - 1u);
            float live_u = it0 + G * u < nitems ? 1.0 : 0.0;
            uint b = it / IPB, ip = it % IPB;
            XT xa[XN];
            x_item(xrow, b, ip, xa);
            vec2 xs = x_sums(xa);
            for (uint r = 0u; r < NR; r++) {
                uint row = min(lrow + r, nloc - 1u); // rows past the end: valid, not stored
                acc[r] += live_u * item_dot(0u, row, b, ip, xa, xs);
#ifdef GATE_UP
                acc[NR + r] += live_u * item_dot(1u, row, b, ip, xa, xs);
#endif
            }
        }
    }
    float tot[NM * NR];
    if (G <= S) { // uniform
        for (uint r = 0u; r < NM * NR; r++) tot[r] = group_sum(acc[r], G);
    } else {
        for (uint r = 0u; r < NM * NR; r++) {
            float s = subgroupAdd(acc[r]);
            if (subgroupElect()) sh_part[r * nsg + sg] = s;
        }
        barrier();
        uint spg = G / S, first = grp * spg;
        for (uint r = 0u; r < NM * NR; r++) {
            float s = 0.0;
            for (uint j = 0u; j < spg; j++) s += sh_part[r * nsg + first + j];
            tot[r] = s;
        }
    }
    if (lane == 0u && live)
        for (uint r = 0u; r < NR; r++) {
            float s = tot[r];
#ifdef GATE_UP
            // gelu_tanh(gate) * up, as eltwise.comp's OP_GELU_MUL
            float y = 0.7978845608028654 * (s + 0.044715 * s * s * s);
            s = s / (1.0 + exp(-2.0 * y)) * tot[NR + r];
#endif
            if (lrow + r < nloc) of[o_base + t * o_str + lrow + r] = s;
        }
#ifdef ADD_NORM
    // Last workgroup: every output row is written and visible (writes, fence, counter).
    memoryBarrierBuffer();
    barrier();
    if (gl_LocalInvocationID.x == 0u)
        sh_last = atomicAdd(cnt[p.slot], 1u) == gl_NumWorkGroups.x * gl_NumWorkGroups.y - 1u;
    barrier();
    if (!sh_last) return; // uniform
    memoryBarrierBuffer();
    if (gl_LocalInvocationID.x == 0u) cnt[p.slot] = 0u; // ready for the next use
    block_end();
#endif
}
