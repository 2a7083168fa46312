/* AVX2 + FMA + F16C kernel set, int8 products and attention: 32 weights per register (one
 * legacy block, one K-quant sub-block); integer dots by vpmaddubsw (unsigned weights x
 * signed Q8_32 activations, or |w| x sign-adjusted x for Q8_0) then vpmaddwd, one float
 * scale per 32-block; F32/F16/BF16 tiles; attention blocks, exp and GELU. The exact path's
 * kernels are in kernels_avx2_exact.c. Compiled for these instructions only here. */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,f16c")
#endif

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"

#include "backend/cpu/kernels_avx2.h"

INLINE __m256i sum4_epi8(__m256i q) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
}

/* u8 x s8 -> the 8 int32 sums of 4 products (weights small enough not to saturate). */
INLINE __m256i dot4(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* 32 floats -> 32 int8 (round to nearest even), in element order. */
INLINE __m256i quant32(const float *x, __m256 vid) {
    __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), vid));
    __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), vid));
    __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), vid));
    __m256i d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), vid));
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    __m256i q = _mm256_packs_epi16(ab, cd);
    /* packs work per 128-bit lane: dwords come out as 0 2 4 6 1 3 5 7 */
    return _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

INLINE float amax_ps(const float *x, int len) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < len; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---------------------------------------------------------------- quantizers */

static void quant_q8_32(const float *x, void *dst, int64_t n) {
    int8_t *qs = dst;
    float *d = (float *)(qs + n);
    int32_t *s4 = (int32_t *)(d + n / 32);
    float *xs = (float *)(s4 + n / 4);
    for (int64_t b = 0; b < n / 32; b++) {
        float dd = amax_ps(x + 32 * b, 32) / 127.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
        d[b] = dd;
        __m256i q = quant32(x + 32 * b, _mm256_set1_ps(id));
        _mm256_storeu_si256((__m256i *)(qs + 32 * b), q);
        __m256i s = sum4_epi8(q);
        _mm256_storeu_si256((__m256i *)(s4 + 8 * b), s);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_hadd_epi32(h, h);
        h = _mm_hadd_epi32(h, h);
        xs[b] = dd * (float)_mm_cvtsi128_si32(h);
    }
}

/* ---------------------------------------------------------------- legacy 32-blocks */

INLINE void leg_tile(int kind, int R, int T, int64_t n, const uint8_t *w, size_t ldw,
                     const uint8_t *x, size_t ldx, float *out, size_t ldo) {
    const size_t bs = leg_bytes(kind);
    const int has_min = kind == LEG_Q4_1 || kind == LEG_Q5_1;
    const int shift = kind == LEG_Q4_0 ? 3 : 4;
    __m256 acc[4][4];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        __m256i wv[4];
        float wd[4], wm[4];
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w + r * ldw + b * bs;
            wv[r] = leg_unpack(kind, p);
            wd[r] = h2f(p);
            if (has_min) wm[r] = h2f(p + 2);
        }
        UNROLL
        for (int t = 0; t < T; t++) {
            const uint8_t *xr = x + t * ldx;
            float dx = cpu_act_d(xr, n)[b];
            __m256i xv = _mm256_loadu_si256((const __m256i *)(xr + 32 * b));
            __m256i s4 = _mm256_loadu_si256((const __m256i *)(cpu_act_s4(xr, n) + 8 * b));
            UNROLL
            for (int r = 0; r < R; r++) {
                __m256i s;
                if (kind == LEG_Q8_0)
                    s = dot4(_mm256_sign_epi8(wv[r], wv[r]), _mm256_sign_epi8(xv, wv[r]));
                else
                    s = dot4(wv[r], xv);
                if (kind == LEG_Q4_0 || kind == LEG_Q5_0) s = _mm256_sub_epi32(s, _mm256_slli_epi32(s4, shift));
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(wd[r] * dx), acc[r][t]);
                if (has_min)
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s4), _mm256_set1_ps(wm[r] * dx), acc[r][t]);
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) out[t * ldo + r] = hsum_ps(acc[r][t]);
}

/* ---------------------------------------------------------------- K-quants */

/* Q4_K (five = 0) / Q5_K: register k = sub-block k = activation block 8B + k. Integer dot
 * per sub-block, float scale d * sc * dx; mins from the block sums, dmin * m * xs. */
INLINE void k45_tile(int five, int R, int T, int64_t n, const uint8_t *w, size_t ldw,
                     const uint8_t *x, size_t ldx, float *out, size_t ldo) {
    const size_t bs = five ? 176 : 144;
    __m256 acc[4][4];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t B = 0; B < n / 256; B++) {
        float dsc[4][8];
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = w + r * ldw + B * bs;
            uint8_t sc[8], mn[8];
            k4_scales(blk + 4, sc, mn);
            __m256 vsc = _mm256_mul_ps(_mm256_set1_ps(h2f(blk)),
                                       _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)sc))));
            _mm256_storeu_ps(dsc[r], vsc);
            __m256 dmn = _mm256_mul_ps(_mm256_set1_ps(h2f(blk + 2)),
                                       _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn))));
            UNROLL
            for (int t = 0; t < T; t++)
                acc[r][t] = _mm256_fnmadd_ps(dmn, _mm256_loadu_ps(cpu_act_xs(x + t * ldx, n) + 8 * B), acc[r][t]);
        }
        for (int k = 0; k < 8; k++) {
            __m256i wv[4];
            UNROLL
            for (int r = 0; r < R; r++) {
                wv[r] = k45_unpack(five, w + r * ldw + B * bs, k);
            }
            UNROLL
            for (int t = 0; t < T; t++) {
                const uint8_t *xr = x + t * ldx;
                __m256i xv = _mm256_loadu_si256((const __m256i *)(cpu_act_qs(xr) + 256 * B + 32 * k));
                float dx = cpu_act_d(xr, n)[8 * B + k];
                UNROLL
                for (int r = 0; r < R; r++)
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot4(wv[r], xv)),
                                                _mm256_set1_ps(dsc[r][k] * dx), acc[r][t]);
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) out[t * ldo + r] = hsum_ps(acc[r][t]);
}

/* Q6_K: register j = elements 32j..32j+31 (activation block 8B + j, scale groups 2j and
 * 2j + 1 in its two 128-bit halves). */
INLINE void q6k_tile(int R, int T, int64_t n, const uint8_t *w, size_t ldw, const uint8_t *x,
                     size_t ldx, float *out, size_t ldo) {
    __m256 acc[4][4];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t B = 0; B < n / 256; B++) {
        float dsc[4][16];
        UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = w + r * ldw + B * 210;
            __m256 d = _mm256_set1_ps(h2f(blk + 208));
            __m128i sc = _mm_loadu_si128((const __m128i *)(blk + 192));
            _mm256_storeu_ps(dsc[r], _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc))));
            _mm256_storeu_ps(dsc[r] + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8)))));
        }
        for (int j = 0; j < 8; j++) {
            __m256i wv[4];
            __m256 ws[4];
            UNROLL
            for (int r = 0; r < R; r++) {
                wv[r] = q6k_unpack(w + r * ldw + B * 210, j);
                ws[r] = _mm256_set_m128(_mm_set1_ps(dsc[r][2 * j + 1]), _mm_set1_ps(dsc[r][2 * j]));
            }
            UNROLL
            for (int t = 0; t < T; t++) {
                const uint8_t *xr = x + t * ldx;
                __m256i xv = _mm256_loadu_si256((const __m256i *)(cpu_act_qs(xr) + 256 * B + 32 * j));
                __m256i off = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(cpu_act_s4(xr, n) + 64 * B + 8 * j)), 5);
                __m256 dx = _mm256_set1_ps(cpu_act_d(xr, n)[8 * B + j]);
                UNROLL
                for (int r = 0; r < R; r++) {
                    __m256i s = _mm256_sub_epi32(dot4(wv[r], xv), off);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(ws[r], dx), acc[r][t]);
                }
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) out[t * ldo + r] = hsum_ps(acc[r][t]);
}

/* ---------------------------------------------------------------- float weights */

enum { FL_F32, FL_F16, FL_BF16 };

INLINE __m256 fl_load(int kind, const uint8_t *row, int64_t i) {
    if (kind == FL_F32) return _mm256_loadu_ps((const float *)row + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + i));
    if (kind == FL_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

INLINE float fl_scalar(int kind, const uint8_t *row, int64_t i) {
    if (kind == FL_F32) {
        float f;
        memcpy(&f, row + 4 * i, 4); /* weights may sit at any byte address */
        return f;
    }
    uint16_t h = ld16(row + 2 * i);
    return kind == FL_F16 ? _cvtsh_ss(h) : ue_bf16_to_f32(h);
}

INLINE void fl_tile(int kind, int R, int T, int64_t n, const uint8_t *w, size_t ldw,
                    const uint8_t *x, size_t ldx, float *out, size_t ldo) {
    __m256 acc[4][4];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 wv[4];
        UNROLL
        for (int r = 0; r < R; r++) wv[r] = fl_load(kind, w + r * ldw, i);
        UNROLL
        for (int t = 0; t < T; t++) {
            __m256 xv = _mm256_loadu_ps((const float *)(x + t * ldx) + i);
            UNROLL
            for (int r = 0; r < R; r++) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) {
            float s = hsum_ps(acc[r][t]);
            for (int64_t k = i; k < n; k++)
                s += fl_scalar(kind, w + r * ldw, k) * ((const float *)(x + t * ldx))[k];
            out[t * ldo + r] = s;
        }
}


/* ---------------------------------------------------------------- attention */

/* exp(x) as 2^n * p(r), r = x - n ln2 in [-ln2/2, ln2/2], p degree 6 (relative error
 * ~2e-7); x below -87 (including -inf) gives 0, x above 88 gives exp(88). */
INLINE __m256 exp_ps(__m256 x) {
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 live = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_GT_OQ);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), live);
}

static float exp_sub(float *s, int n, float m) {
    __m256 vm = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
        _mm256_storeu_ps(s + j, e);
        sum = _mm256_add_ps(sum, e);
    }
    float tail = 0.0f;
    for (; j < n; j++) {
        float buf[8] = {s[j] - m, 0, 0, 0, 0, 0, 0, 0};
        _mm256_storeu_ps(buf, exp_ps(_mm256_loadu_ps(buf)));
        s[j] = buf[0];
        tail += buf[0];
    }
    return hsum_ps(sum) + tail;
}

static void rms_norm(const float *x, const float *w, float eps, float *y, int64_t n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        s0 = _mm256_fmadd_pd(lo, lo, s0);
        s1 = _mm256_fmadd_pd(hi, hi, s1);
    }
    double part[4];
    _mm256_storeu_pd(part, _mm256_add_pd(s0, s1));
    double sum = part[0] + part[1] + part[2] + part[3];
    for (int64_t j = i; j < n; j++) sum += (double)x[j] * x[j];
    float inv = (float)(1.0 / sqrt(sum / (double)n + eps));
    __m256 vinv = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv), _mm256_loadu_ps(w + i)));
    for (; i < n; i++) y[i] = x[i] * inv * w[i];
}

/* gelu_tanh(x) = 0.5 x (1 + tanh(y)) = x / (1 + exp(-2y)), y = sqrt(2/pi) (x + 0.044715 x^3). */
static void gelu_mul(float *g, const float *u, int64_t n) {
    const __m256 k2 = _mm256_set1_ps(-2.0f * 0.7978845608028654f), c = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 y = _mm256_mul_ps(k2, _mm256_fmadd_ps(_mm256_mul_ps(c, x), _mm256_mul_ps(x, x), x));
        __m256 r = _mm256_div_ps(x, _mm256_add_ps(one, exp_ps(y)));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(r, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) {
        float x = g[i], y = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        g[i] = 0.5f * x * (1.0f + tanhf(y)) * u[i];
    }
}

INLINE void dot_tile(int I, int J, int hd, float scale, const float *q, size_t ldq,
                     const float *k, size_t ldk, float *s, size_t lds) {
    __m256 acc[4][4];
    UNROLL
    for (int i = 0; i < I; i++)
        UNROLL
        for (int j = 0; j < J; j++) acc[i][j] = _mm256_setzero_ps();
    for (int c = 0; c < hd; c += 8) {
        __m256 kv[4];
        UNROLL
        for (int j = 0; j < J; j++) kv[j] = _mm256_loadu_ps(k + j * ldk + c);
        UNROLL
        for (int i = 0; i < I; i++) {
            __m256 qv = _mm256_loadu_ps(q + i * ldq + c);
            UNROLL
            for (int j = 0; j < J; j++) acc[i][j] = _mm256_fmadd_ps(qv, kv[j], acc[i][j]);
        }
    }
    UNROLL
    for (int i = 0; i < I; i++)
        UNROLL
        for (int j = 0; j < J; j++) s[i * lds + j] = scale * hsum_ps(acc[i][j]);
}

static void attn_dot(int hd, float scale, const float *q, int nq, size_t ldq, const float *k,
                     int nk, size_t ldk, float *s, size_t lds) {
    int i = 0;
    for (; i + 3 <= nq; i += 3) {
        int j = 0;
        for (; j + 3 <= nk; j += 3) dot_tile(3, 3, hd, scale, q + i * ldq, ldq, k + j * ldk, ldk, s + i * lds + j, lds);
        for (; j < nk; j++) dot_tile(3, 1, hd, scale, q + i * ldq, ldq, k + j * ldk, ldk, s + i * lds + j, lds);
    }
    for (; i < nq; i++) {
        int j = 0;
        for (; j + 3 <= nk; j += 3) dot_tile(1, 3, hd, scale, q + i * ldq, ldq, k + j * ldk, ldk, s + i * lds + j, lds);
        for (; j < nk; j++) dot_tile(1, 1, hd, scale, q + i * ldq, ldq, k + j * ldk, ldk, s + i * lds + j, lds);
    }
}

INLINE void axpy_tile(int I, int C, int nk, const float *p, size_t ldp, const float *v,
                      size_t ldv, float *acc, size_t lda) {
    __m256 a[4][2];
    UNROLL
    for (int i = 0; i < I; i++)
        UNROLL
        for (int c = 0; c < C; c++) a[i][c] = _mm256_loadu_ps(acc + i * lda + 8 * c);
    for (int j = 0; j < nk; j++) {
        __m256 vv[2];
        UNROLL
        for (int c = 0; c < C; c++) vv[c] = _mm256_loadu_ps(v + j * ldv + 8 * c);
        UNROLL
        for (int i = 0; i < I; i++) {
            __m256 pij = _mm256_set1_ps(p[i * ldp + j]);
            UNROLL
            for (int c = 0; c < C; c++) a[i][c] = _mm256_fmadd_ps(pij, vv[c], a[i][c]);
        }
    }
    UNROLL
    for (int i = 0; i < I; i++)
        UNROLL
        for (int c = 0; c < C; c++) _mm256_storeu_ps(acc + i * lda + 8 * c, a[i][c]);
}

static void attn_axpy(int hd, const float *p, int nq, size_t ldp, const float *v, int nk,
                      size_t ldv, float *acc, size_t lda) {
    for (int c = 0; c < hd; c += 16) {
        int i = 0;
        if (hd - c >= 16) {
            for (; i + 4 <= nq; i += 4) axpy_tile(4, 2, nk, p + i * ldp, ldp, v + c, ldv, acc + i * lda + c, lda);
            for (; i < nq; i++) axpy_tile(1, 2, nk, p + i * ldp, ldp, v + c, ldv, acc + i * lda + c, lda);
        } else {
            for (; i + 4 <= nq; i += 4) axpy_tile(4, 1, nk, p + i * ldp, ldp, v + c, ldv, acc + i * lda + c, lda);
            for (; i < nq; i++) axpy_tile(1, 1, nk, p + i * ldp, ldp, v + c, ldv, acc + i * lda + c, lda);
        }
    }
}

/* ---------------------------------------------------------------- tile dispatch */

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

GEMM_FN(gemm_q4_0, BODY_Q4_0, 4, 2)
GEMM_FN(gemm_q4_1, BODY_Q4_1, 2, 2)
GEMM_FN(gemm_q5_0, BODY_Q5_0, 4, 2)
GEMM_FN(gemm_q5_1, BODY_Q5_1, 2, 2)
GEMM_FN(gemm_q8_0, BODY_Q8_0, 4, 2)
GEMM_FN(gemm_q4_k, BODY_Q4_K, 4, 2)
GEMM_FN(gemm_q5_k, BODY_Q5_K, 4, 2)
GEMM_FN(gemm_q6_k, BODY_Q6_K, 4, 2)
GEMM_FN(gemm_f32, BODY_F32, 4, 2)
GEMM_FN(gemm_f16, BODY_F16, 4, 2)
GEMM_FN(gemm_bf16, BODY_BF16, 4, 2)

static const cpu_kernel_set k_avx2 = {
    .name = "AVX2",
    .isa = CPU_ISA_AVX2,
    .quant = {[CPU_ACT_Q8_32] = quant_q8_32, [CPU_ACT_Q16_32] = cpu_avx2_quant_q16_32},
    .type = {
        [UE_TYPE_Q4_0] = {gemm_q4_0, CPU_ACT_Q8_32, 4, 2, cpu_avx2_gemv16_q4_0, cpu_avx2_deq_q4_0, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q4_1] = {gemm_q4_1, CPU_ACT_Q8_32, 2, 2, cpu_avx2_gemv16_q4_1, cpu_avx2_deq_q4_1, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q5_0] = {gemm_q5_0, CPU_ACT_Q8_32, 4, 2, cpu_avx2_gemv16_q5_0, cpu_avx2_deq_q5_0, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q5_1] = {gemm_q5_1, CPU_ACT_Q8_32, 2, 2, cpu_avx2_gemv16_q5_1, cpu_avx2_deq_q5_1, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q8_0] = {gemm_q8_0, CPU_ACT_Q8_32, 4, 2, cpu_avx2_gemv16_q8_0, cpu_avx2_deq_q8_0, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q4_K] = {gemm_q4_k, CPU_ACT_Q8_32, 4, 2, cpu_avx2_gemv16_q4_k, cpu_avx2_deq_q4_k, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q5_K] = {gemm_q5_k, CPU_ACT_Q8_32, 4, 2, cpu_avx2_gemv16_q5_k, cpu_avx2_deq_q5_k, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q6_K] = {gemm_q6_k, CPU_ACT_Q8_32, 4, 2, cpu_avx2_gemv16_q6_k, cpu_avx2_deq_q6_k, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_F32] = {gemm_f32, CPU_ACT_F32, 4, 2, NULL, NULL, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_F16] = {gemm_f16, CPU_ACT_F32, 4, 2, NULL, NULL, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_BF16] = {gemm_bf16, CPU_ACT_F32, 4, 2, NULL, NULL, CPU_ACT_Q16_32, NULL},
    },
    .attn_dot = attn_dot,
    .attn_axpy = attn_axpy,
    .exp_sub = exp_sub,
    .gelu_mul = gelu_mul,
    .rms_norm = rms_norm,
};

#if defined(__clang__)
#pragma clang attribute pop
#endif

const cpu_kernel_set *cpu_kernels_avx2(void) { return &k_avx2; }

#else
#include "backend/cpu/cpu_kernels.h"
const cpu_kernel_set *cpu_kernels_avx2(void) { return 0; }
#endif
