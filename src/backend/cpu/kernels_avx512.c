/* AVX-512 (F/DQ/BW/VL) + VNNI kernel set, int8 products and attention: 64 weights per
 * register, vpdpbusd (unsigned weights x signed Q8_32 activations) with an offset folded
 * into the accumulator's start value, one float scale per 32-block; F32/F16/BF16 tiles;
 * attention blocks, exp and GELU. The exact path's kernels are in kernels_avx512_exact.c.
 * Compiled for these instructions only here (target pragma); chosen at run time. */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"

#include "backend/cpu/kernels_avx512.h"

/* Software prefetch distance for weights streamed from memory, bytes. */
#ifndef PREFETCH
#define PREFETCH 1024
#endif

/* ---------------------------------------------------------------- quantizers */

static void quant_q8_32(const float *x, void *dst, int64_t n) {
    int8_t *qs = dst;
    float *d = (float *)(qs + n);
    int32_t *s4 = (int32_t *)(d + n / 32);
    float *xs = (float *)(s4 + n / 4);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t b = 0; b < n / 32; b++) {
        __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
        __m512 m = _mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1));
        float amax = _mm512_reduce_max_ps(m);
        float dd = amax / 127.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
        d[b] = dd;
        __m512 vid = _mm512_set1_ps(id);
        __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
        __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
        __m128i q0 = _mm512_cvtepi32_epi8(i0), q1 = _mm512_cvtepi32_epi8(i1);
        _mm_storeu_si128((__m128i *)(qs + 32 * b), q0);
        _mm_storeu_si128((__m128i *)(qs + 32 * b + 16), q1);
        __m256i q = _mm256_set_m128i(q1, q0);
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm512_castsi512_si256(ones), q);
        _mm256_storeu_si256((__m256i *)(s4 + 8 * b), s);
        xs[b] = dd * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
    }
}

/* ---------------------------------------------------------------- legacy 32-blocks */

/* R rows x T tokens over n elements; two blocks per step, a lone last block masked. */
INLINE void leg_tile(int kind, int R, int T, int64_t n, const uint8_t *w, size_t ldw,
                     const uint8_t *x, size_t ldx, float *out, size_t ldo) {
    const size_t bs = leg_bytes(kind);
    const int64_t nb = n / 32;
    const int has_min = kind == LEG_Q4_1 || kind == LEG_Q5_1;
    const int shift = kind == LEG_Q4_0 ? 3 : 4; /* offset 8 or 16 */
    __m512 acc[4][4];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b += 2) {
        int lone = b + 1 == nb;
        int64_t b1 = lone ? b : b + 1;
        __m512i wv[4], wc[4];
        __m512 wd[4], wm[4];
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *p0 = w + r * ldw + b * bs, *p1 = w + r * ldw + b1 * bs;
            _mm_prefetch((const char *)p0 + PREFETCH, _MM_HINT_T0);
            wv[r] = leg_unpack(kind, p0, p1);
            wd[r] = pair_ps(h2f(p0), lone ? 0.0f : h2f(p1));
            if (has_min) wm[r] = pair_ps(h2f(p0 + 2), lone ? 0.0f : h2f(p1 + 2));
            if (kind == LEG_Q8_0) /* x is used as x + 128 (unsigned): subtract 128 * sum w */
                wc[r] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                         _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                                                             _mm512_set1_epi8((char)0x80), wv[r]));
        }
        UNROLL
        for (int t = 0; t < T; t++) {
            const uint8_t *xr = x + t * ldx;
            const float *xd = cpu_act_d(xr, n);
            __m512i xv = _mm512_loadu_si512(xr + 32 * b);
            __m512 dx = pair_ps(xd[b], lone ? 0.0f : xd[b1]);
            __m512i s4 = _mm512_loadu_si512(cpu_act_s4(xr, n) + 8 * b);
            __m512i corr = _mm512_setzero_si512();
            if (kind == LEG_Q4_0 || kind == LEG_Q5_0)
                corr = _mm512_sub_epi32(corr, _mm512_slli_epi32(s4, shift));
            if (kind == LEG_Q8_0) xv = _mm512_xor_si512(xv, _mm512_set1_epi8((char)0x80));
            UNROLL
            for (int r = 0; r < R; r++) {
                __m512i s = kind == LEG_Q8_0 ? _mm512_dpbusd_epi32(wc[r], xv, wv[r])
                                             : _mm512_dpbusd_epi32(corr, wv[r], xv);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(wd[r], dx), acc[r][t]);
                if (has_min)
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s4), _mm512_mul_ps(wm[r], dx), acc[r][t]);
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) out[t * ldo + r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* ---------------------------------------------------------------- K-quants */

INLINE __m512i k4_x(const int8_t *xq, int j) {
    int a = k4_sub_a(j), b = a + 2;
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(xq + 32 * a))),
                              _mm256_loadu_si256((const __m256i *)(xq + 32 * b)), 1);
}

/* R rows x T tokens of Q4_K (five = 0) or Q5_K (five = 1). Each sub-block of 32 is one
 * activation block: integer dot, then the float scale d * sc * dx; the mins come from the
 * activation block sums, dmin * m * xs. */
INLINE void k45_tile(int five, int R, int T, int64_t n, const uint8_t *w, size_t ldw,
                     const uint8_t *x, size_t ldx, float *out, size_t ldo) {
    const size_t bs = five ? 176 : 144;
    __m512 acc[4][4];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t B = 0; B < n / 256; B++) {
        __m512 scf[4]; /* d * sc[0..7] */
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = w + r * ldw + B * bs;
            uint64_t sc, mn;
            k4_scales(blk + 4, &sc, &mn);
            __m256 dsc = _mm256_mul_ps(_mm256_set1_ps(h2f(blk)),
                                       _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc))));
            __m256 dmn = _mm256_mul_ps(_mm256_set1_ps(h2f(blk + 2)),
                                       _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn))));
            scf[r] = _mm512_zextps256_ps512(dsc);
            UNROLL
            for (int t = 0; t < T; t++) {
                __m256 xs = _mm256_loadu_ps(cpu_act_xs(x + t * ldx, n) + 8 * B);
                acc[r][t] = _mm512_fnmadd_ps(_mm512_zextps256_ps512(dmn), _mm512_zextps256_ps512(xs), acc[r][t]);
            }
        }
        UNROLL
        for (int j = 0; j < 4; j++) {
            int a = k4_sub_a(j), b = a + 2;
            const __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(a)), _mm256_set1_epi32(b), 1);
            __m512i wv[4];
            __m512 ws[4];
            UNROLL
            for (int r = 0; r < R; r++) {
                wv[r] = k45_unpack(five, w + r * ldw + B * bs, j);
                ws[r] = _mm512_permutexvar_ps(idx, scf[r]);
            }
            UNROLL
            for (int t = 0; t < T; t++) {
                const uint8_t *xr = x + t * ldx;
                __m512i xv = k4_x(cpu_act_qs(xr) + 256 * B, j);
                const float *xd = cpu_act_d(xr, n) + 8 * B;
                __m512 dx = pair_ps(xd[a], xd[b]);
                UNROLL
                for (int r = 0; r < R; r++) {
                    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[r], xv);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(ws[r], dx), acc[r][t]);
                }
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) out[t * ldo + r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* Q6_K: register j = elements 64j..64j+63 = activation blocks 8B + 2j, 2j + 1. The -32
 * offset starts the accumulator at -32 * s4. */
INLINE void q6k_tile(int R, int T, int64_t n, const uint8_t *w, size_t ldw, const uint8_t *x,
                     size_t ldx, float *out, size_t ldo) {
    /* float lane l of register j takes scale group 4j + l / 4 */
    const __m512i groups = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512 acc[4][4];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t B = 0; B < n / 256; B++) {
        __m512 scf[4]; /* d * sc[0..15] */
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = w + r * ldw + B * 210;
            scf[r] = _mm512_mul_ps(_mm512_set1_ps(h2f(blk + 208)),
                                   _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 192)))));
        }
        UNROLL
        for (int j = 0; j < 4; j++) {
            const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(4 * j), groups);
            __m512i wv[4];
            __m512 ws[4];
            UNROLL
            for (int r = 0; r < R; r++) {
                wv[r] = q6k_unpack(w + r * ldw + B * 210, j);
                ws[r] = _mm512_permutexvar_ps(idx, scf[r]);
            }
            UNROLL
            for (int t = 0; t < T; t++) {
                const uint8_t *xr = x + t * ldx;
                __m512i xv = _mm512_loadu_si512(cpu_act_qs(xr) + 256 * B + 64 * j);
                __m512i corr = _mm512_sub_epi32(_mm512_setzero_si512(),
                                                _mm512_slli_epi32(_mm512_loadu_si512(cpu_act_s4(xr, n) + 64 * B + 16 * j), 5));
                const float *xd = cpu_act_d(xr, n) + 8 * B + 2 * j;
                __m512 dx = pair_ps(xd[0], xd[1]);
                UNROLL
                for (int r = 0; r < R; r++) {
                    __m512i s = _mm512_dpbusd_epi32(corr, wv[r], xv);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(ws[r], dx), acc[r][t]);
                }
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) out[t * ldo + r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* ---------------------------------------------------------------- float weights */

enum { FL_F32, FL_F16, FL_BF16 };

INLINE __m512 fl_load(int kind, const uint8_t *row, int64_t i, __mmask16 m) {
    if (kind == FL_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + i);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + i);
    if (kind == FL_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* A float row as f32, for the panel prefill of long batches (cpu_prefill.c). */
#define FL_DEQ(name, kind)                                                                     \
    static void name(const void *row, float *dst, int64_t n) {                                \
        for (int64_t i = 0; i < n; i += 16) {                                                  \
            __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);  \
            _mm512_mask_storeu_ps(dst + i, m, fl_load(kind, row, i, m));                       \
        }                                                                                      \
    }
FL_DEQ(deq_f32, FL_F32)
FL_DEQ(deq_f16, FL_F16)
FL_DEQ(deq_bf16, FL_BF16)
#undef FL_DEQ

INLINE void fl_tile(int kind, int R, int T, int64_t n, const uint8_t *w, size_t ldw,
                    const uint8_t *x, size_t ldx, float *out, size_t ldo) {
    __m512 acc[4][4];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 wv[4];
        UNROLL
        for (int r = 0; r < R; r++) wv[r] = fl_load(kind, w + r * ldw, i, m);
        UNROLL
        for (int t = 0; t < T; t++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, (const float *)(x + t * ldx) + i);
            UNROLL
            for (int r = 0; r < R; r++) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) out[t * ldo + r] = _mm512_reduce_add_ps(acc[r][t]);
}


/* ---------------------------------------------------------------- attention */

/* exp(x) as 2^n * p(r), r = x - n ln2 in [-ln2/2, ln2/2], p degree 6 (relative error
 * ~2e-7); x below -87 (including -inf) gives 0. */
INLINE __m512 exp_ps(__m512 x) {
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 xc = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    n = _mm512_max_ps(n, _mm512_set1_ps(-126.0f));
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_GT_OQ);
    return _mm512_maskz_scalef_ps(live, p, n);
}

static float exp_sub(float *s, int n, float m) {
    __m512 vm = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), vm));
        e = _mm512_maskz_mov_ps(k, e);
        _mm512_mask_storeu_ps(s + j, k, e);
        sum = _mm512_add_ps(sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

/* gelu_tanh(x) = 0.5 x (1 + tanh(y)) = x / (1 + exp(-2y)), y = sqrt(2/pi) (x + 0.044715 x^3). */
static void gelu_mul(float *g, const float *u, int64_t n) {
    const __m512 k2 = _mm512_set1_ps(-2.0f * 0.7978845608028654f), c = _mm512_set1_ps(0.044715f);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(m, g + i);
        __m512 y = _mm512_mul_ps(k2, _mm512_fmadd_ps(_mm512_mul_ps(c, x), _mm512_mul_ps(x, x), x));
        __m512 r = _mm512_div_ps(x, _mm512_add_ps(one, exp_ps(y)));
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(r, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

static void rms_norm(const float *x, const float *w, float eps, float *y, int64_t n) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        s0 = _mm512_fmadd_pd(lo, lo, s0);
        s1 = _mm512_fmadd_pd(hi, hi, s1);
    }
    double sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    __m512 inv = _mm512_set1_ps((float)(1.0 / sqrt(sum / (double)n + eps)));
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i)));
    }
}

/* I query rows x J key rows of scores. */
INLINE void dot_tile(int I, int J, int hd, float scale, const float *q, size_t ldq,
                     const float *k, size_t ldk, float *s, size_t lds) {
    __m512 acc[4][4];
    UNROLL
    for (int i = 0; i < I; i++)
        UNROLL
        for (int j = 0; j < J; j++) acc[i][j] = _mm512_setzero_ps();
    for (int c = 0; c < hd; c += 16) {
        __m512 kv[4];
        UNROLL
        for (int j = 0; j < J; j++) kv[j] = _mm512_loadu_ps(k + j * ldk + c);
        UNROLL
        for (int i = 0; i < I; i++) {
            __m512 qv = _mm512_loadu_ps(q + i * ldq + c);
            UNROLL
            for (int j = 0; j < J; j++) acc[i][j] = _mm512_fmadd_ps(qv, kv[j], acc[i][j]);
        }
    }
    UNROLL
    for (int i = 0; i < I; i++)
        UNROLL
        for (int j = 0; j < J; j++) s[i * lds + j] = scale * _mm512_reduce_add_ps(acc[i][j]);
}

static void attn_dot(int hd, float scale, const float *q, int nq, size_t ldq, const float *k,
                     int nk, size_t ldk, float *s, size_t lds) {
    int i = 0;
    for (; i + 4 <= nq; i += 4) {
        int j = 0;
        for (; j + 4 <= nk; j += 4) dot_tile(4, 4, hd, scale, q + i * ldq, ldq, k + j * ldk, ldk, s + i * lds + j, lds);
        for (; j < nk; j++) dot_tile(4, 1, hd, scale, q + i * ldq, ldq, k + j * ldk, ldk, s + i * lds + j, lds);
    }
    for (; i < nq; i++) {
        int j = 0;
        for (; j + 4 <= nk; j += 4) dot_tile(1, 4, hd, scale, q + i * ldq, ldq, k + j * ldk, ldk, s + i * lds + j, lds);
        for (; j < nk; j++) dot_tile(1, 1, hd, scale, q + i * ldq, ldq, k + j * ldk, ldk, s + i * lds + j, lds);
    }
}

/* acc rows i < I, columns c .. c + 16 * C: += sum_j p[i][j] v_j. */
INLINE void axpy_tile(int I, int C, int nk, const float *p, size_t ldp, const float *v,
                      size_t ldv, float *acc, size_t lda) {
    __m512 a[4][2];
    UNROLL
    for (int i = 0; i < I; i++)
        UNROLL
        for (int c = 0; c < C; c++) a[i][c] = _mm512_loadu_ps(acc + i * lda + 16 * c);
    for (int j = 0; j < nk; j++) {
        __m512 vv[2];
        UNROLL
        for (int c = 0; c < C; c++) vv[c] = _mm512_loadu_ps(v + j * ldv + 16 * c);
        UNROLL
        for (int i = 0; i < I; i++) {
            __m512 pij = _mm512_set1_ps(p[i * ldp + j]);
            UNROLL
            for (int c = 0; c < C; c++) a[i][c] = _mm512_fmadd_ps(pij, vv[c], a[i][c]);
        }
    }
    UNROLL
    for (int i = 0; i < I; i++)
        UNROLL
        for (int c = 0; c < C; c++) _mm512_storeu_ps(acc + i * lda + 16 * c, a[i][c]);
}

static void attn_axpy(int hd, const float *p, int nq, size_t ldp, const float *v, int nk,
                      size_t ldv, float *acc, size_t lda) {
    for (int c = 0; c < hd; c += 32) {
        int i = 0;
        if (hd - c >= 32) {
            for (; i + 4 <= nq; i += 4) axpy_tile(4, 2, nk, p + i * ldp, ldp, v + c, ldv, acc + i * lda + c, lda);
            for (; i < nq; i++) axpy_tile(1, 2, nk, p + i * ldp, ldp, v + c, ldv, acc + i * lda + c, lda);
        } else {
            for (; i + 4 <= nq; i += 4) axpy_tile(4, 1, nk, p + i * ldp, ldp, v + c, ldv, acc + i * lda + c, lda);
            for (; i < nq; i++) axpy_tile(1, 1, nk, p + i * ldp, ldp, v + c, ldv, acc + i * lda + c, lda);
        }
    }
}

/* ---------------------------------------------------------------- tile dispatch */

/* Full tiles run the unrolled R x T body; partial tiles fall back to R x 1, 1 x T, 1 x 1. */
/* Any number of rows: full token groups run the unrolled MR x NT body (then 1 x NT);
 * smaller groups, decoding above all, take one row at a time (1 x 1): a single weight
 * stream per thread measured faster from memory than MR interleaved rows. */
#define GEMM_FN(name, body, MR, NT)                                                            \
    static void name##_##MR##x##NT(int64_t n, const uint8_t *w, size_t ldw, const uint8_t *x, \
                                   size_t ldx, float *out, size_t ldo) {                       \
        body(MR, NT, n, w, ldw, x, ldx, out, ldo);                                             \
    }                                                                                          \
    static void name##_1x##NT(int64_t n, const uint8_t *w, size_t ldw, const uint8_t *x,       \
                              size_t ldx, float *out, size_t ldo) {                            \
        body(1, NT, n, w, ldw, x, ldx, out, ldo);                                              \
    }                                                                                          \
    static void name##_1x1(int64_t n, const uint8_t *w, size_t ldw, const uint8_t *x,          \
                           size_t ldx, float *out, size_t ldo) {                               \
        body(1, 1, n, w, ldw, x, ldx, out, ldo);                                               \
    }                                                                                          \
    static void name(int64_t n, const void *wp, size_t ldw, int nr, const void *xp, size_t ldx, \
                     int nt, float *out, size_t ldo) {                                          \
        const uint8_t *w = wp, *x = xp;                                                        \
        int r = 0;                                                                             \
        for (; nt == NT && r + MR <= nr; r += MR, w += MR * ldw, out += MR)                    \
            name##_##MR##x##NT(n, w, ldw, x, ldx, out, ldo);                                   \
        for (; r < nr; r++, w += ldw, out++) {                                                 \
            if (nt == NT)                                                                      \
                name##_1x##NT(n, w, ldw, x, ldx, out, ldo);                                    \
            else                                                                               \
                for (int t = 0; t < nt; t++) name##_1x1(n, w, ldw, x + t * ldx, ldx, out + t * ldo, ldo); \
        }                                                                                      \
    }

#define BODY_Q4_0(R, T, ...) leg_tile(LEG_Q4_0, R, T, __VA_ARGS__)
#define BODY_Q4_1(R, T, ...) leg_tile(LEG_Q4_1, R, T, __VA_ARGS__)
#define BODY_Q5_0(R, T, ...) leg_tile(LEG_Q5_0, R, T, __VA_ARGS__)
#define BODY_Q5_1(R, T, ...) leg_tile(LEG_Q5_1, R, T, __VA_ARGS__)
#define BODY_Q8_0(R, T, ...) leg_tile(LEG_Q8_0, R, T, __VA_ARGS__)
#define BODY_Q4_K(R, T, ...) k45_tile(0, R, T, __VA_ARGS__)
#define BODY_Q5_K(R, T, ...) k45_tile(1, R, T, __VA_ARGS__)
#define BODY_Q6_K(R, T, ...) q6k_tile(R, T, __VA_ARGS__)
#define BODY_F32(R, T, ...) fl_tile(FL_F32, R, T, __VA_ARGS__)
#define BODY_F16(R, T, ...) fl_tile(FL_F16, R, T, __VA_ARGS__)
#define BODY_BF16(R, T, ...) fl_tile(FL_BF16, R, T, __VA_ARGS__)

GEMM_FN(gemm_q4_0, BODY_Q4_0, 4, 4)
GEMM_FN(gemm_q4_1, BODY_Q4_1, 4, 3)
GEMM_FN(gemm_q5_0, BODY_Q5_0, 4, 4)
GEMM_FN(gemm_q5_1, BODY_Q5_1, 4, 3)
GEMM_FN(gemm_q8_0, BODY_Q8_0, 4, 3)
GEMM_FN(gemm_q4_k, BODY_Q4_K, 4, 4)
GEMM_FN(gemm_q5_k, BODY_Q5_K, 4, 4)
GEMM_FN(gemm_q6_k, BODY_Q6_K, 4, 4)
GEMM_FN(gemm_f32, BODY_F32, 4, 4)
GEMM_FN(gemm_f16, BODY_F16, 4, 4)
GEMM_FN(gemm_bf16, BODY_BF16, 4, 4)

static const cpu_kernel_set k_avx512 = {
    .name = "AVX-512 VNNI",
    .isa = CPU_ISA_AVX512,
    .quant = {[CPU_ACT_Q8_32] = quant_q8_32, [CPU_ACT_Q16_HL] = cpu_avx512_quant_q16_hl, [CPU_ACT_Q16_HLK] = cpu_avx512_quant_q16_hlk},
    .type = {
        [UE_TYPE_Q4_0] = {gemm_q4_0, CPU_ACT_Q8_32, 4, 4, cpu_avx512_gemv16_q4_0, cpu_avx512_deq_q4_0, CPU_ACT_Q16_HL, cpu_avx512_wunpack_q4_0},
        [UE_TYPE_Q4_1] = {gemm_q4_1, CPU_ACT_Q8_32, 4, 3, cpu_avx512_gemv16_q4_1, cpu_avx512_deq_q4_1, CPU_ACT_Q16_HL, cpu_avx512_wunpack_q4_1},
        [UE_TYPE_Q5_0] = {gemm_q5_0, CPU_ACT_Q8_32, 4, 4, cpu_avx512_gemv16_q5_0, cpu_avx512_deq_q5_0, CPU_ACT_Q16_HL, cpu_avx512_wunpack_q5_0},
        [UE_TYPE_Q5_1] = {gemm_q5_1, CPU_ACT_Q8_32, 4, 3, cpu_avx512_gemv16_q5_1, cpu_avx512_deq_q5_1, CPU_ACT_Q16_HL, cpu_avx512_wunpack_q5_1},
        [UE_TYPE_Q8_0] = {gemm_q8_0, CPU_ACT_Q8_32, 4, 3, cpu_avx512_gemv16_q8_0, cpu_avx512_deq_q8_0, CPU_ACT_Q16_HL, cpu_avx512_wunpack_q8_0, CPU_IPANEL_SIGNED32},
        [UE_TYPE_Q4_K] = {gemm_q4_k, CPU_ACT_Q8_32, 4, 4, cpu_avx512_gemv16_q4_k, cpu_avx512_deq_q4_k, CPU_ACT_Q16_HLK, cpu_avx512_wunpack_q4_k},
        [UE_TYPE_Q5_K] = {gemm_q5_k, CPU_ACT_Q8_32, 4, 4, cpu_avx512_gemv16_q5_k, cpu_avx512_deq_q5_k, CPU_ACT_Q16_HLK, cpu_avx512_wunpack_q5_k},
        [UE_TYPE_Q6_K] = {gemm_q6_k, CPU_ACT_Q8_32, 4, 4, cpu_avx512_gemv16_q6_k, cpu_avx512_deq_q6_k, CPU_ACT_Q16_HL, cpu_avx512_wunpack_q6_k, CPU_IPANEL_SIGNED16},
        [UE_TYPE_F32] = {gemm_f32, CPU_ACT_F32, 4, 4, NULL, deq_f32, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_F16] = {gemm_f16, CPU_ACT_F32, 4, 4, NULL, deq_f16, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_BF16] = {gemm_bf16, CPU_ACT_F32, 4, 4, NULL, deq_bf16, CPU_ACT_Q16_32, NULL},
    },
    .attn_dot = attn_dot,
    .attn_axpy = attn_axpy,
    .exp_sub = exp_sub,
    .gelu_mul = gelu_mul,
    .rms_norm = rms_norm,
    .panel_pack = cpu_avx512_panel_pack,
    .panel_gemm = cpu_avx512_panel_gemm,
    .ipanel_pack = cpu_avx512_wpanel_pack,
    .ipanel_gemm = cpu_avx512_wpanel_gemm,
    .ipanel_qbytes = 2,
};

#if defined(__clang__)
#pragma clang attribute pop
#endif

const cpu_kernel_set *cpu_kernels_avx512(void) { return &k_avx512; }

#else
#include "backend/cpu/cpu_kernels.h"
const cpu_kernel_set *cpu_kernels_avx512(void) { return 0; }
#endif
