#version 450
// Matrix-matrix product for prefill on the matrix units (VK_KHR_cooperative_matrix):
// out[t][r] = sum_k w[r][k] x[t][k]. A workgroup of 2 BN computes a 64 x BN tile (weight
// rows x tokens, BN 64 or 128); each of its subgroups a 32 x 32 part as 2 x 2 matrices of
// 16 x 16 f32 accumulators. Per 32-wide k slice, weights are dequantized (16 values per
// invocation, one block field load each: include/mv_items.glsl layouts, repacked planes
// where the type needs them: include/mmc_load.glsl) and activations converted, both to
// f16 in shared memory; the next slice's loads are issued before the current slice's
// products.
// Split-K (grid z > 1, where the tiles alone leave the device short of workgroups):
// workgroup z sums k in [z k_split, (z + 1) k_split) into its own partial output, part_stride
// floats after the previous one (sum_parts.comp adds them).
// Needs subgroups of 32 (host checks) and K a multiple of 32.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 3) in; // 2 * BN invocations

#define MV_PUSH_EXTRA uint k_split, part_stride;
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
layout(constant_id = 5) const uint HDQ = 0u;  // include/mmc_load.glsl
shared f16vec4 xs[BN * LDS];
shared float cs[CS];

#include "include/mmc_load.glsl"

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
    uint kb = gl_WorkGroupID.z * p.k_split, ke = min(p.K, kb + p.k_split);
    uint o_off = p.o_off + gl_WorkGroupID.z * p.part_stride;
    Raw raw;
    if (wl) raw = fetch(wrow, kb + lk);
    vec4 xv[4];
    for (uint i = 0u; i < 4u; i++) xv[i] = mx4[xrow + ((kb + lk) >> 2) + i];
    for (uint k0 = kb; k0 < ke; k0 += BK) {
        if (wl) store16(raw, k0 + lk, lr * LDS + lk / 4u);
        for (uint i = 0u; i < 4u; i++) xs[lr * LDS + lk / 4u + i] = h4(xv[i]);
        barrier();
        if (PF == 1u && k0 + BK < ke) { // next slice's loads, in flight during the products
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
        if (PF == 0u && k0 + BK < ke) {
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
            if (row < p.N && tok < p.n_tok) of[o_off + tok * p.o_stride + row] = cs[e];
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
                if (row < p.N && tok < p.n_tok) of[o_off + tok * p.o_stride + row] = cs[sg * 256u + e];
            }
            subgroupBarrier();
        }
}
