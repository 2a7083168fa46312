#version 450
// Matrix-matrix product for prefill on the matrix units, large tiles (VK_KHR_cooperative_matrix):
// out[t][r] = sum_k w[r][k] x[t][k]. A workgroup of 256 computes 128 weight rows x 128
// tokens; each of its 8 subgroups a 64 x 32 part as 4 x 2 matrices of 16 x 16 f32
// accumulators (6 shared-memory matrix loads per 8 products; mul_mmc.comp's 32 x 32 parts
// need 4 per 4). Shared memory holds two 32-wide k slices: while the products of slice s
// read one buffer, slice s + 1 is dequantized (include/mmc_load.glsl) into the other and
// the loads of slice s + 2 are issued, so one barrier per slice. Whole tiles store their
// results straight to the output, edge tiles through a 16 x 16 staging area. The small
// loops are unrolled by attribute: without it the H100 driver ran this kernel 6.5x slower
// (accumulators not kept in registers, presumably). Used for large matrices (vk_ops.c).
// Split-K as mul_mmc.comp (grid z: k slices into partial outputs, sum_parts.comp adds them).
// x comes as f16 rows (vk_ops.c converts it once per matmul input; converting f32 x here,
// in every tile, cost 18-21% of a prefill on an H100), x_off and x_stride in f16 values.
// Needs subgroups of 32 (host checks) and K a multiple of 32.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x = 256) in;

#define MV_PUSH_EXTRA uint k_split, part_stride;
#include "include/mv_items.glsl"

layout(set = 2, binding = 0) buffer OB { float of[]; };
layout(set = 1, binding = 0) readonly buffer XH { uvec4 xh[]; }; // x as f16, 8 per element

#define BM 128u
#define BN 128u
#define BK 32u
#define LDS 10u // shared row stride in f16vec4 (80 bytes: 16-byte aligned, staggered banks)
#define WBUF (BM * LDS)
#define XBUF (BN * LDS)
shared f16vec4 ws[2u * WBUF]; // 2 x 20 KiB with xs: 41 KiB in all, under the 48 KiB limit
shared f16vec4 xs[2u * XBUF];
shared float cs[256];
layout(constant_id = 5) const uint HDQ = 0u; // include/mmc_load.glsl

#include "include/mmc_load.glsl"

// 8 f16 values of x (one load) into two f16vec4 of shared memory at o
void store_x(uvec4 u, uint o) {
    xs[o] = f16vec4(unpackFloat2x16(u.x), unpackFloat2x16(u.y));
    xs[o + 1u] = f16vec4(unpackFloat2x16(u.z), unpackFloat2x16(u.w));
}

void main() {
    uint tid = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    uint row_base = gl_WorkGroupID.x * BM, tok_base = gl_WorkGroupID.y * BN;
    uint sm = (sg & 1u) * 64u, sn = (sg >> 1) * 32u;
    coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> acc[4][2];
    [[unroll]] for (uint i = 0u; i < 4u; i++)
        [[unroll]] for (uint j = 0u; j < 2u; j++)
            acc[i][j] = coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>(0.0);
    // loader roles: weight row and token tid / 2, 16 of the 32 k values each
    uint lr = tid >> 1, lk = (tid & 1u) * 16u;
    uint wrow = min(row_base + lr, p.N - 1u); // rows past N: any valid row, not stored
    uint xtok = min(tok_base + lr, p.n_tok - 1u);
    uint xrow = (p.x_off + xtok * p.x_stride) >> 3;
    uint kb = gl_WorkGroupID.z * p.k_split, nk = (min(p.K, kb + p.k_split) - kb) / BK;
    uint o_off = p.o_off + gl_WorkGroupID.z * p.part_stride;
    uint so = lr * LDS + lk / 4u;
    Raw raw = fetch(wrow, kb + lk);
    uvec4 xv[2];
    [[unroll]] for (uint i = 0u; i < 2u; i++) xv[i] = xh[xrow + ((kb + lk) >> 3) + i];
    store16(raw, kb + lk, so);
    [[unroll]] for (uint i = 0u; i < 2u; i++) store_x(xv[i], so + 2u * i);
    if (nk > 1u) {
        raw = fetch(wrow, kb + BK + lk);
        [[unroll]] for (uint i = 0u; i < 2u; i++) xv[i] = xh[xrow + ((kb + BK + lk) >> 3) + i];
    }
    for (uint s = 0u; s < nk; s++) {
        // slice s is in buffer s & 1; every product of slice s - 1 (the other buffer) is done
        barrier();
        uint cw = (s & 1u) * WBUF, cx = (s & 1u) * XBUF;
        if (s + 1u < nk) {
            uint nw = WBUF - cw, nx = XBUF - cx, k1 = kb + (s + 1u) * BK + lk;
            store16(raw, k1, nw + so);
            [[unroll]] for (uint i = 0u; i < 2u; i++) store_x(xv[i], nx + so + 2u * i);
            if (s + 2u < nk) {
                raw = fetch(wrow, k1 + BK);
                [[unroll]] for (uint i = 0u; i < 2u; i++) xv[i] = xh[xrow + ((k1 + BK) >> 3) + i];
            }
        }
        [[unroll]] for (uint kk = 0u; kk < BK; kk += 16u) {
            coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> a[4];
            coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB> b[2];
            [[unroll]] for (uint i = 0u; i < 4u; i++)
                coopMatLoad(a[i], ws, cw + (sm + 16u * i) * LDS + kk / 4u, LDS,
                            gl_CooperativeMatrixLayoutRowMajor);
            [[unroll]] for (uint j = 0u; j < 2u; j++)
                coopMatLoad(b[j], xs, cx + (sn + 16u * j) * LDS + kk / 4u, LDS,
                            gl_CooperativeMatrixLayoutColumnMajor);
            [[unroll]] for (uint i = 0u; i < 4u; i++)
                [[unroll]] for (uint j = 0u; j < 2u; j++)
                    acc[i][j] = coopMatMulAdd(a[i], b[j], acc[i][j]);
        }
    }
    // Output token-major (column-major with rows as M): a whole tile straight to memory
    // where columns start 16-byte aligned; otherwise each 16 x 16 result that lies inside
    // goes straight, a partial one through cs, one subgroup at a time (edge tiles only).
    bool aligned = ((o_off | p.o_stride) & 3u) == 0u;
    if (aligned && row_base + BM <= p.N && tok_base + BN <= p.n_tok) {
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            [[unroll]] for (uint j = 0u; j < 2u; j++)
                coopMatStore(acc[i][j], of,
                             o_off + (tok_base + sn + 16u * j) * p.o_stride + row_base + sm + 16u * i,
                             p.o_stride, gl_CooperativeMatrixLayoutColumnMajor);
        return;
    }
    uint lane = gl_SubgroupInvocationID;
    for (uint q = 0u; q < 8u; q++) {
        barrier();
        if (sg != q) continue;
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            [[unroll]] for (uint j = 0u; j < 2u; j++) {
                uint r0 = row_base + sm + 16u * i, t0 = tok_base + sn + 16u * j;
                if (r0 >= p.N || t0 >= p.n_tok) continue;
                if (aligned && r0 + 16u <= p.N && t0 + 16u <= p.n_tok) {
                    coopMatStore(acc[i][j], of, o_off + t0 * p.o_stride + r0, p.o_stride,
                                 gl_CooperativeMatrixLayoutColumnMajor);
                    continue;
                }
                coopMatStore(acc[i][j], cs, 0u, 16u, gl_CooperativeMatrixLayoutColumnMajor);
                subgroupMemoryBarrierShared();
                subgroupBarrier();
                for (uint e = lane; e < 256u; e += 32u) {
                    uint row = r0 + (e & 15u), tok = t0 + (e >> 4);
                    if (row < p.N && tok < p.n_tok) of[o_off + tok * p.o_stride + row] = cs[e];
                }
                subgroupBarrier();
            }
    }
}
