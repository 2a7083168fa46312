#version 450
// Matrix-matrix product for prefill on the matrix units (VK_KHR_cooperative_matrix):
// out[t][r] = sum_k w[r][k] x[t][k]. A workgroup of 2 BN computes a 64 x BN tile (weight
// rows x tokens, BN 64 or 128); each of its subgroups a 32 x 32 part as 2 x 2 matrices of
// 16 x 16 f32 accumulators. Per 32-wide k slice, weights are dequantized (16 values per
// invocation, one block field load each: include/mv_items.glsl layouts, repacked planes
// where the type needs them) and activations converted, both to f16 in shared memory;
// the next slice's loads are issued before the current slice's products.
// Needs subgroups of 32 (host checks) and K a multiple of 32.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 3) in; // 2 * BN invocations

#include "include/mv_items.glsl"

layout(set = 2, binding = 0) buffer OB { float of[]; };

#define BM 64u
#define BK 32u
#define LDS 10u // shared row stride in f16vec4 (80 bytes: 16-byte aligned, staggered banks)
shared f16vec4 ws[BM * LDS]; // 8-byte stores; matrix loads count in f16vec4 units
// Output path (specialization constants, vk_pipelines.c): EPI 0: the whole tile through
// shared memory (CS = 4096 floats), stored 64 rows at a time; EPI 1: a 16 x 16 staging
// area per subgroup (CS = 1024), less shared memory. PF 1: loads one k slice ahead.
layout(constant_id = 0) const uint EPI = 0u;
layout(constant_id = 1) const uint CS = 4096u;
layout(constant_id = 2) const uint PF = 1u;
layout(constant_id = 4) const uint BN = 64u; // tokens per tile: 64 or 128 (4 or 8 subgroups)
shared f16vec4 xs[BN * LDS];
shared float cs[CS];

// 16 consecutive weights of row `row` from element k (k % 16 == 0): fetch() issues the
// block-field loads (one k slice ahead, so they overlap the products of the current one),
// store16() dequantizes into ws row m.
struct Raw {
    uvec4 a, b, c;
    uint s;
};

Raw fetch(uint row, uint k) {
    Raw r;
    r.b = uvec4(0u);
    r.c = uvec4(0u);
    r.s = 0u;
#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
    uint bb = p.w_off + row * p.row_bytes + (k / 256u) * BB, e0 = k % 256u;
    uint sb = e0 / 32u, l0 = e0 % 32u;
    r.a = ld128(0u, bb);
    r.b = ld128(0u, bb + QSO + 32u * (sb >> 1) + l0);
#if defined(TYPE_Q5_K)
    r.c = ld128(0u, bb + 16u + l0);
#endif
#elif defined(TYPE_Q6_K)
    uint L = row * (p.K / 256u) + k / 256u, e0 = k % 256u;
    uint h = e0 / 128u, r0 = e0 % 128u;
    r.a = ld128(0u, p.w_off + L * 128u + 64u * h + (r0 & 63u));
    r.b = ld128(0u, p.pl1 + L * 64u + 32u * h + (r0 & 31u));
    r.s = ld32(0u, p.pl2 + L * 16u + ((e0 / 16u) & ~3u));
    r.c.x = ld16(0u, p.pl3 + 2u * L);
#elif defined(TYPE_Q8_0)
    uint L = row * (p.K / 32u) + k / 32u;
    r.a = ld128(0u, p.w_off + L * 32u + (k % 32u));
    r.c.x = ld16(0u, p.pl1 + 2u * L);
#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
    uint L = row * (p.K / 32u) + k / 32u;
    r.a = ld128(0u, p.w_off + L * 16u);
#if defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
    r.s = ld32(0u, p.pl2 + 4u * L);
#endif
#if defined(TYPE_Q4_1) || defined(TYPE_Q5_1)
    r.c.x = ld32(0u, p.pl1 + 4u * L);
#else
    r.c.x = ld16(0u, p.pl1 + 2u * L);
#endif
#elif defined(TYPE_F16)
    uint b = p.w_off + row * p.row_bytes + 2u * k;
    r.a = ld128(0u, b);
    r.b = ld128(0u, b + 16u);
#else
#error "mul_mmc: type not supported"
#endif
    return r;
}

// Conversions off the quarter-rate path: small ints to float by exponent bits (as
// mv_items.glsl), floats to f16 in pairs.
float qf(uint q, float off) { return uintBitsToFloat(q | MAGIC) - (MAGICF + off); }
f16vec4 h4(vec4 v) {
    return f16vec4(unpackFloat2x16(packHalf2x16(v.xy)), unpackFloat2x16(packHalf2x16(v.zw)));
}

void store16(Raw r, uint k, uint m) {
    float v[16];
#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
    uint e0 = k % 256u, sb = e0 / 32u;
    float sc, mn;
    scale_min_k(r.a, sb, sc, mn);
    vec2 dm = unpackHalf2x16(r.a.x);
    float dl = dm.x * sc, ml = dm.y * mn;
    uint sh = 4u * (sb & 1u);
    for (uint i = 0u; i < 16u; i++) {
        uint qq = (r.b[i >> 2] >> (8u * (i & 3u) + sh)) & 15u;
#if defined(TYPE_Q5_K)
        qq |= ((r.c[i >> 2] >> (8u * (i & 3u) + sb)) & 1u) << 4;
#endif
        v[i] = dl * qf(qq, 0.0) - ml;
    }
#elif defined(TYPE_Q6_K)
    uint e0 = k % 256u, r0 = e0 % 128u;
    float sc = float(int(r.s << (24u - 8u * ((e0 / 16u) & 3u))) >> 24);
    float d = unpackHalf2x16(r.c.x).x * sc;
    uint ls = 4u * (r0 >> 6), hs = 2u * (r0 >> 5);
    for (uint i = 0u; i < 16u; i++) {
        uint sh8 = 8u * (i & 3u);
        uint lo = (r.a[i >> 2] >> (sh8 + ls)) & 15u, hi = (r.b[i >> 2] >> (sh8 + hs)) & 3u;
        v[i] = d * qf(lo | (hi << 4), 32.0);
    }
#elif defined(TYPE_Q8_0)
    float d = unpackHalf2x16(r.c.x).x;
    for (uint i = 0u; i < 16u; i++) v[i] = d * qf(((r.a[i >> 2] >> (8u * (i & 3u))) & 0xFFu) ^ 0x80u, 128.0);
#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
    uint e0 = k % 32u;
#if defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
    uint qh = r.s >> e0;
#endif
#if defined(TYPE_Q4_1) || defined(TYPE_Q5_1)
    vec2 dm = unpackHalf2x16(r.c.x);
#else
    vec2 dm = vec2(unpackHalf2x16(r.c.x).x, 0.0);
#endif
#if defined(TYPE_Q4_0)
    const float off = 8.0;
#elif defined(TYPE_Q5_0)
    const float off = 16.0;
#else
    const float off = 0.0;
#endif
    uint sh = e0 / 4u; // 0 (low nibbles) or 4 (high)
    for (uint i = 0u; i < 16u; i++) {
        uint qq = (r.a[i >> 2] >> (8u * (i & 3u) + sh)) & 15u;
#if defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
        qq |= ((qh >> i) & 1u) << 4;
#endif
        v[i] = dm.x * qf(qq, off) + dm.y;
    }
#elif defined(TYPE_F16)
    uint o = m * LDS + (k % BK) / 4u; // already f16: copied
    ws[o] = f16vec4(unpackFloat2x16(r.a.x), unpackFloat2x16(r.a.y));
    ws[o + 1u] = f16vec4(unpackFloat2x16(r.a.z), unpackFloat2x16(r.a.w));
    ws[o + 2u] = f16vec4(unpackFloat2x16(r.b.x), unpackFloat2x16(r.b.y));
    ws[o + 3u] = f16vec4(unpackFloat2x16(r.b.z), unpackFloat2x16(r.b.w));
    return;
#endif
    for (uint i = 0u; i < 4u; i++)
        ws[m * LDS + (k % BK) / 4u + i] = h4(vec4(v[4u * i], v[4u * i + 1u], v[4u * i + 2u], v[4u * i + 3u]));
}

void main() {
    uint tid = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    uint row_base = gl_WorkGroupID.x * BM, tok_base = gl_WorkGroupID.y * BN;
    uint sm = (sg & 1u) * 32u, sn = (sg >> 1) * 32u;
    coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> acc[2][2];
    for (uint i = 0u; i < 2u; i++)
        for (uint j = 0u; j < 2u; j++)
            acc[i][j] = coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>(0.0);
    // loader roles: weight row tid / 2 (first 128 invocations) and token tid / 2, 16 of
    // the 32 k values each
    uint lr = tid >> 1, lk = (tid & 1u) * 16u, WG = 2u * BN;
    bool wl = tid < 2u * BM; // uniform per subgroup
    uint wrow = min(row_base + (lr & (BM - 1u)), p.N - 1u); // rows past N: any valid row, not stored
    uint xtok = min(tok_base + lr, p.n_tok - 1u);
    uint xrow = (p.x_off + xtok * p.x_stride) >> 2;
    Raw raw;
    if (wl) raw = fetch(wrow, lk);
    vec4 xv[4];
    for (uint i = 0u; i < 4u; i++) xv[i] = mx4[xrow + (lk >> 2) + i];
    for (uint k0 = 0u; k0 < p.K; k0 += BK) {
        if (wl) store16(raw, k0 + lk, lr);
        for (uint i = 0u; i < 4u; i++) xs[lr * LDS + lk / 4u + i] = h4(xv[i]);
        barrier();
        if (PF == 1u && k0 + BK < p.K) { // next slice's loads, in flight during the products
            if (wl) raw = fetch(wrow, k0 + BK + lk);
            for (uint i = 0u; i < 4u; i++) xv[i] = mx4[xrow + ((k0 + BK + lk) >> 2) + i];
        }
        for (uint kk = 0u; kk < BK; kk += 16u) {
            coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> a[2];
            coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB> b[2];
            for (uint i = 0u; i < 2u; i++)
                coopMatLoad(a[i], ws, (sm + 16u * i) * LDS + kk / 4u, LDS,
                            gl_CooperativeMatrixLayoutRowMajor);
            for (uint j = 0u; j < 2u; j++)
                coopMatLoad(b[j], xs, (sn + 16u * j) * LDS + kk / 4u, LDS,
                            gl_CooperativeMatrixLayoutColumnMajor);
            for (uint i = 0u; i < 2u; i++)
                for (uint j = 0u; j < 2u; j++) acc[i][j] = coopMatMulAdd(a[i], b[j], acc[i][j]);
        }
        barrier();
        if (PF == 0u && k0 + BK < p.K) {
            if (wl) raw = fetch(wrow, k0 + BK + lk);
            for (uint i = 0u; i < 4u; i++) xv[i] = mx4[xrow + ((k0 + BK + lk) >> 2) + i];
        }
    }
    if (EPI == 0u) {
        for (uint i = 0u; i < 2u; i++)
            for (uint j = 0u; j < 2u; j++)
                coopMatStore(acc[i][j], cs, (sn + 16u * j) * BM + sm + 16u * i, BM,
                             gl_CooperativeMatrixLayoutColumnMajor);
        barrier();
        for (uint e = tid; e < BM * BN; e += WG) {
            uint row = row_base + e % BM, tok = tok_base + e / BM;
            if (row < p.N && tok < p.n_tok) of[p.o_off + tok * p.o_stride + row] = cs[e];
        }
        return;
    }
    // Each 16 x 16 result: to this subgroup's staging area (token-major), then every lane
    // writes 8 of its values (16 consecutive rows of a token per half-subgroup). Small
    // staging leaves room for more workgroups per multiprocessor.
    uint lane = gl_SubgroupInvocationID;
    for (uint i = 0u; i < 2u; i++)
        for (uint j = 0u; j < 2u; j++) {
            coopMatStore(acc[i][j], cs, sg * 256u, 16u, gl_CooperativeMatrixLayoutColumnMajor);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            for (uint e = lane; e < 256u; e += 32u) {
                uint row = row_base + sm + 16u * i + (e & 15u), tok = tok_base + sn + 16u * j + (e >> 4);
                if (row < p.N && tok < p.n_tok) of[p.o_off + tok * p.o_stride + row] = cs[sg * 256u + e];
            }
            subgroupBarrier();
        }
}
