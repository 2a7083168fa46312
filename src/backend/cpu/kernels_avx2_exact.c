/* AVX2 kernels of the exact path: decode with 16-bit activations (vpmaddwd of the weights
 * widened to int16 against Q16_32 rows, one float scale per 32-block or 16-group) and row
 * dequantization to f32 for prefill, which then runs the F32 tiles. Weight unpacking is
 * shared with the int8 kernels (kernels_avx2.h). */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,f16c")
#endif

#include "backend/cpu/kernels_avx2.h"

/* The eight sub-blocks of a superblock unroll, so each one's unpacking is fixed code. */
#define UNROLL8 _Pragma("GCC unroll 8")

void cpu_avx2_quant_q16_32(const float *x, void *dst, int64_t n) {
    int16_t *qs = dst;
    float *d = (float *)(qs + n), *xs = d + n / 32;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 32; b++) {
        const float *xb = x + 32 * b;
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < 32; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + i)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float dd = _mm_cvtss_f32(h) / 32767.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
        __m256 vid = _mm256_set1_ps(id);
        __m256i q[4], sum = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) {
            q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + 8 * i), vid));
            sum = _mm256_add_epi32(sum, q[i]);
        }
        /* packs saturate to int16 and interleave 128-bit lanes: 0 2 1 3 restores order */
        __m256i p0 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), _MM_SHUFFLE(3, 1, 2, 0));
        __m256i p1 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2], q[3]), _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)(qs + 32 * b), p0);
        _mm256_storeu_si256((__m256i *)(qs + 32 * b + 16), p1);
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s = _mm_hadd_epi32(s, s);
        s = _mm_hadd_epi32(s, s);
        d[b] = dd;
        xs[b] = dd * (float)_mm_cvtsi128_si32(s);
    }
}

/* Bytes [16h, 16h + 16) of a 32-byte register widened to int16, minus the type's offset. */
INLINE __m256i widen(__m256i v, int h, int is_signed, int offset) {
    __m128i half = h ? _mm256_extracti128_si256(v, 1) : _mm256_castsi256_si128(v);
    __m256i w = is_signed ? _mm256_cvtepi8_epi16(half) : _mm256_cvtepu8_epi16(half);
    return offset ? _mm256_sub_epi16(w, _mm256_set1_epi16((short)offset)) : w;
}

/* 16 elements of w16 * x16 as 8 int32 lanes (exact: |w| <= 128, |x| <= 32767). */
INLINE __m256i dot16(__m256i w16, const int16_t *x) {
    return _mm256_madd_epi16(w16, _mm256_loadu_si256((const __m256i *)x));
}

INLINE __m256i dot32(__m256i v, int is_signed, int offset, const int16_t *x) {
    return _mm256_add_epi32(dot16(widen(v, 0, is_signed, offset), x), dot16(widen(v, 1, is_signed, offset), x + 16));
}

/* ---------------------------------------------------------------- legacy 32-blocks */

INLINE float leg16_dot(int kind, int64_t n, const uint8_t *w, const uint8_t *x) {
    const size_t bs = leg_bytes(kind);
    const int16_t *xq = cpu_act16_qs(x);
    const float *xd = cpu_act16_d(x, n), *xs = cpu_act16_xs(x, n);
    const int is_signed = kind == LEG_Q8_0;
    const int offset = kind == LEG_Q4_0 ? 8 : kind == LEG_Q5_0 ? 16 : 0;
    const int has_min = kind == LEG_Q4_1 || kind == LEG_Q5_1;
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *p = w + b * bs;
        __m256i s = dot32(leg_unpack(kind, p), is_signed, offset, xq + 32 * b);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(p) * xd[b]), acc);
        if (has_min) mins += h2f(p + 2) * xs[b];
    }
    return hsum_ps(acc) + mins;
}

/* Q4_K / Q5_K: sub-block k of superblock B is activation block 8B + k. */
INLINE float k45_16_dot(int five, int64_t n, const uint8_t *w, const uint8_t *x) {
    const size_t bs = five ? 176 : 144;
    const int16_t *xq = cpu_act16_qs(x);
    const float *xd = cpu_act16_d(x, n), *xs = cpu_act16_xs(x, n);
    __m256 acc = _mm256_setzero_ps(), macc = _mm256_setzero_ps();
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * bs;
        uint8_t sc[8], mn[8];
        k4_scales(blk + 4, sc, mn);
        float d = h2f(blk);
        __m256 dmn = _mm256_mul_ps(_mm256_set1_ps(h2f(blk + 2)),
                                   _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn))));
        macc = _mm256_fmadd_ps(dmn, _mm256_loadu_ps(xs + 8 * B), macc);
        UNROLL8
        for (int k = 0; k < 8; k++) {
            __m256i s = dot32(k45_unpack(five, blk, k), 0, 0, xq + 256 * B + 32 * k);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d * sc[k] * xd[8 * B + k]), acc);
        }
    }
    return hsum_ps(acc) - hsum_ps(macc);
}

/* Q6_K: register j = elements 32j.. (activation block 8B + j); its halves are scale groups
 * 2j and 2j + 1. */
INLINE float q6k_16_dot(int64_t n, const uint8_t *w, const uint8_t *x) {
    const int16_t *xq = cpu_act16_qs(x);
    const float *xd = cpu_act16_d(x, n);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * 210;
        const int8_t *sc = (const int8_t *)(blk + 192);
        float d = h2f(blk + 208);
        UNROLL8
        for (int j = 0; j < 8; j++) {
            __m256i v = q6k_unpack(blk, j);
            const int16_t *xj = xq + 256 * B + 32 * j;
            float dx = d * xd[8 * B + j];
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot16(widen(v, 0, 0, 32), xj)),
                                   _mm256_set1_ps(dx * sc[2 * j]), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot16(widen(v, 1, 0, 32), xj + 16)),
                                   _mm256_set1_ps(dx * sc[2 * j + 1]), acc1);
        }
    }
    return hsum_ps(_mm256_add_ps(acc0, acc1));
}

#define GEMV16(t, dot_expr)                                                                   \
    void cpu_avx2_gemv16_##t(int64_t n, const void *wp, size_t ldw, int nr, const void *xp,    \
                             size_t ldx, int nt, float *out, size_t ldo) {                     \
        for (int tok = 0; tok < nt; tok++)                                                     \
            for (int r = 0; r < nr; r++) {                                                     \
                const uint8_t *w = (const uint8_t *)wp + r * ldw;                              \
                const uint8_t *x = (const uint8_t *)xp + tok * ldx;                            \
                out[tok * ldo + r] = dot_expr;                                                 \
            }                                                                                  \
    }

GEMV16(q4_0, leg16_dot(LEG_Q4_0, n, w, x))
GEMV16(q4_1, leg16_dot(LEG_Q4_1, n, w, x))
GEMV16(q5_0, leg16_dot(LEG_Q5_0, n, w, x))
GEMV16(q5_1, leg16_dot(LEG_Q5_1, n, w, x))
GEMV16(q8_0, leg16_dot(LEG_Q8_0, n, w, x))
GEMV16(q4_k, k45_16_dot(0, n, w, x))
GEMV16(q5_k, k45_16_dot(1, n, w, x))
GEMV16(q6_k, q6k_16_dot(n, w, x))

/* ---------------------------------------------------------------- dequantization */

/* 32 bytes as 32 floats d * q + c, stored at dst. */
INLINE void store32(__m256i v, int is_signed, float d, float c, float *dst) {
    __m256 vd = _mm256_set1_ps(d), vc = _mm256_set1_ps(c);
    __m128i h[2] = {_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)};
    for (int i = 0; i < 4; i++) {
        __m128i q = i % 2 ? _mm_srli_si128(h[i / 2], 8) : h[i / 2];
        __m256i q32 = is_signed ? _mm256_cvtepi8_epi32(q) : _mm256_cvtepu8_epi32(q);
        _mm256_storeu_ps(dst + 8 * i, _mm256_fmadd_ps(_mm256_cvtepi32_ps(q32), vd, vc));
    }
}

INLINE void leg_deq(int kind, const uint8_t *w, float *dst, int64_t n) {
    const size_t bs = leg_bytes(kind);
    const float offset = kind == LEG_Q4_0 ? 8.0f : kind == LEG_Q5_0 ? 16.0f : 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *p = w + b * bs;
        float d = h2f(p), c = kind == LEG_Q4_1 || kind == LEG_Q5_1 ? h2f(p + 2) : -offset * d;
        store32(leg_unpack(kind, p), kind == LEG_Q8_0, d, c, dst + 32 * b);
    }
}

INLINE void k45_deq(int five, const uint8_t *w, float *dst, int64_t n) {
    const size_t bs = five ? 176 : 144;
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * bs;
        uint8_t sc[8], mn[8];
        k4_scales(blk + 4, sc, mn);
        float d = h2f(blk), dmin = h2f(blk + 2);
        for (int k = 0; k < 8; k++)
            store32(k45_unpack(five, blk, k), 0, d * sc[k], -dmin * mn[k], dst + 256 * B + 32 * k);
    }
}

/* Q6_K: d * sc * (q - 32), two scale groups per 32 elements. */
static void q6k_deq(const uint8_t *w, float *dst, int64_t n) {
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * 210;
        const int8_t *sc = (const int8_t *)(blk + 192);
        float d = h2f(blk + 208);
        for (int j = 0; j < 8; j++) {
            __m256i v = q6k_unpack(blk, j);
            float d0 = d * sc[2 * j], d1 = d * sc[2 * j + 1];
            float tmp[32];
            store32(v, 0, 1.0f, -32.0f, tmp);
            float *out = dst + 256 * B + 32 * j;
            for (int i = 0; i < 16; i += 8) {
                _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(tmp + i), _mm256_set1_ps(d0)));
                _mm256_storeu_ps(out + 16 + i, _mm256_mul_ps(_mm256_loadu_ps(tmp + 16 + i), _mm256_set1_ps(d1)));
            }
        }
    }
}

void cpu_avx2_deq_q4_0(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q4_0, w, dst, n); }
void cpu_avx2_deq_q4_1(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q4_1, w, dst, n); }
void cpu_avx2_deq_q5_0(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q5_0, w, dst, n); }
void cpu_avx2_deq_q5_1(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q5_1, w, dst, n); }
void cpu_avx2_deq_q8_0(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q8_0, w, dst, n); }
void cpu_avx2_deq_q4_k(const void *w, float *dst, int64_t n) { k45_deq(0, w, dst, n); }
void cpu_avx2_deq_q5_k(const void *w, float *dst, int64_t n) { k45_deq(1, w, dst, n); }
void cpu_avx2_deq_q6_k(const void *w, float *dst, int64_t n) { q6k_deq(w, dst, n); }

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
typedef int cpu_avx2_exact_unused; /* ISO C: a translation unit is not empty */
#endif
