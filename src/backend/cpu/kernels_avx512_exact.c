/* AVX-512 kernels of the exact path: decode with 16-bit activations (vpdpwssd of the
 * weights widened to int16 against Q16_32 rows, one float scale per 32-block) and row
 * dequantization to f32 for prefill, which then runs the F32 tiles. Weight unpacking is
 * shared with the int8 kernels (kernels_avx512.h). */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif

#include "backend/cpu/kernels_avx512.h"

void cpu_avx512_quant_q16_32(const float *x, void *dst, int64_t n) {
    int16_t *qs = dst;
    float *d = (float *)(qs + n), *xs = d + n / 32;
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 32; b++) {
        __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
        float dd = amax / 32767.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
        __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
        _mm256_storeu_si256((__m256i *)(qs + 32 * b), _mm512_cvtsepi32_epi16(i0));
        _mm256_storeu_si256((__m256i *)(qs + 32 * b + 16), _mm512_cvtsepi32_epi16(i1));
        d[b] = dd;
        xs[b] = dd * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
    }
}

/* 32 weights (half h of a 64-byte register) widened to int16, minus the type's offset. */
INLINE __m512i widen(__m512i v, int h, int is_signed, int offset) {
    __m256i half = h ? _mm512_extracti64x4_epi64(v, 1) : _mm512_castsi512_si256(v);
    __m512i w = is_signed ? _mm512_cvtepi8_epi16(half) : _mm512_cvtepu8_epi16(half);
    return offset ? _mm512_sub_epi16(w, _mm512_set1_epi16((short)offset)) : w;
}

/* sum over 32 elements of w16 * x16 as 16 int32 lanes (exact: |w| <= 128, |x| <= 32767). */
INLINE __m512i dot32(__m512i w16, const int16_t *x) {
    return _mm512_dpwssd_epi32(_mm512_setzero_si512(), w16, _mm512_loadu_si512(x));
}

/* ---------------------------------------------------------------- legacy 32-blocks */

INLINE float leg16_dot(int kind, int64_t n, const uint8_t *w, const uint8_t *x) {
    const size_t bs = leg_bytes(kind);
    const int64_t nb = n / 32;
    const int16_t *xq = cpu_act16_qs(x);
    const float *xd = cpu_act16_d(x, n), *xs = cpu_act16_xs(x, n);
    const int is_signed = kind == LEG_Q8_0;
    const int offset = kind == LEG_Q4_0 ? 8 : kind == LEG_Q5_0 ? 16 : 0;
    const int has_min = kind == LEG_Q4_1 || kind == LEG_Q5_1;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    float mins = 0.0f;
    for (int64_t b = 0; b < nb; b += 2) {
        int lone = b + 1 == nb;
        const uint8_t *p0 = w + b * bs, *p1 = lone ? p0 : p0 + bs;
        __m512i v = leg_unpack(kind, p0, p1);
        __m512i s0 = dot32(widen(v, 0, is_signed, offset), xq + 32 * b);
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), _mm512_set1_ps(h2f(p0) * xd[b]), acc0);
        if (has_min) mins += h2f(p0 + 2) * xs[b];
        if (!lone) {
            __m512i s1 = dot32(widen(v, 1, is_signed, offset), xq + 32 * b + 32);
            acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), _mm512_set1_ps(h2f(p1) * xd[b + 1]), acc1);
            if (has_min) mins += h2f(p1 + 2) * xs[b + 1];
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + mins;
}

/* Lane i of v, broadcast to every lane. */
INLINE __m512 lane_ps(__m512 v, int i) { return _mm512_permutexvar_ps(_mm512_set1_epi32(i), v); }

/* Q4_K / Q5_K: sub-block s of superblock B is activation block 8B + s. The eight scales
 * d * sc[s] * dx[s] of a superblock are formed as one vector, then broadcast per lane. */
INLINE float k45_16_dot(int five, int64_t n, const uint8_t *w, const uint8_t *x) {
    const size_t bs = five ? 176 : 144;
    const int16_t *xq = cpu_act16_qs(x);
    const float *xd = cpu_act16_d(x, n), *xs = cpu_act16_xs(x, n);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m256 macc = _mm256_setzero_ps();
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * bs;
        uint64_t sc, mn;
        k4_scales(blk + 4, &sc, &mn);
        __m256 dx = _mm256_loadu_ps(xd + 8 * B);
        __m256 dmn = _mm256_mul_ps(_mm256_set1_ps(h2f(blk + 2)),
                                   _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn))));
        macc = _mm256_fmadd_ps(dmn, _mm256_loadu_ps(xs + 8 * B), macc);
        __m256 sv = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(h2f(blk)), dx),
                                  _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc))));
        __m512 sv16 = _mm512_zextps256_ps512(sv);
        UNROLL
        for (int j = 0; j < 4; j++) {
            int a = k4_sub_a(j), b = a + 2;
            __m512i v = k45_unpack(five, blk, j);
            __m512i sa = dot32(widen(v, 0, 0, 0), xq + 256 * B + 32 * a);
            __m512i sb = dot32(widen(v, 1, 0, 0), xq + 256 * B + 32 * b);
            acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sa), lane_ps(sv16, a), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sb), lane_ps(sv16, b), acc1);
        }
    }
    __m128 m = _mm_add_ps(_mm256_castps256_ps128(macc), _mm256_extractf128_ps(macc, 1));
    m = _mm_add_ps(m, _mm_movehl_ps(m, m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) - _mm_cvtss_f32(m);
}

/* Q6_K: half h of register j = elements 64j + 32h .. (activation block 8B + 2j + h), scale
 * groups 4j + 2h and 4j + 2h + 1 in its 16 int32 lanes (8 each). The sixteen scales
 * d * sc[g] * dx[g / 2] are one vector; each half takes two of them by a permute. */
INLINE float q6k_16_dot(int64_t n, const uint8_t *w, const uint8_t *x) {
    const int16_t *xq = cpu_act16_qs(x);
    const float *xd = cpu_act16_d(x, n);
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512i pairs = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * 210;
        __m512 dx = _mm512_permutexvar_ps(dup, _mm512_zextps256_ps512(_mm256_loadu_ps(xd + 8 * B)));
        __m512 sv = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(h2f(blk + 208)), dx),
                                  _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 192)))));
        UNROLL
        for (int j = 0; j < 4; j++) {
            /* q - 32 fits a signed byte: subtract once, then widen with sign */
            __m512i v = _mm512_sub_epi8(q6k_unpack(blk, j), _mm512_set1_epi8(32));
            __m512i s0 = dot32(widen(v, 0, 1, 0), xq + 256 * B + 64 * j);
            __m512i s1 = dot32(widen(v, 1, 1, 0), xq + 256 * B + 64 * j + 32);
            __m512i g = _mm512_add_epi32(pairs, _mm512_set1_epi32(4 * j));
            acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), _mm512_permutexvar_ps(g, sv), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1),
                                   _mm512_permutexvar_ps(_mm512_add_epi32(g, _mm512_set1_epi32(2)), sv), acc1);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

#define GEMV16(t, dot_expr)                                                                   \
    void cpu_avx512_gemv16_##t(int64_t n, const void *wp, size_t ldw, int nr, const void *xp,  \
                               size_t ldx, int nt, float *out, size_t ldo) {                   \
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

/* Quarter i (16 bytes) of a 64-byte register as 16 floats. */
INLINE __m512 quarter_ps(__m512i v, int i, int is_signed) {
    __m128i q; /* the lane index must be an immediate */
    switch (i) {
    case 0: q = _mm512_extracti32x4_epi32(v, 0); break;
    case 1: q = _mm512_extracti32x4_epi32(v, 1); break;
    case 2: q = _mm512_extracti32x4_epi32(v, 2); break;
    default: q = _mm512_extracti32x4_epi32(v, 3); break;
    }
    return _mm512_cvtepi32_ps(is_signed ? _mm512_cvtepi8_epi32(q) : _mm512_cvtepu8_epi32(q));
}

/* value = d * q + c: c = -offset * d, or the block's min m (Q4_1, Q5_1). */
INLINE void leg_deq(int kind, const uint8_t *w, float *dst, int64_t n) {
    const size_t bs = leg_bytes(kind);
    const int64_t nb = n / 32;
    const int is_signed = kind == LEG_Q8_0;
    const float offset = kind == LEG_Q4_0 ? 8.0f : kind == LEG_Q5_0 ? 16.0f : 0.0f;
    for (int64_t b = 0; b < nb; b += 2) {
        int lone = b + 1 == nb;
        const uint8_t *p0 = w + b * bs, *p1 = lone ? p0 : p0 + bs;
        __m512i v = leg_unpack(kind, p0, p1);
        for (int h = 0; h < 2 - lone; h++) {
            const uint8_t *p = h ? p1 : p0;
            float d = h2f(p);
            float c = kind == LEG_Q4_1 || kind == LEG_Q5_1 ? h2f(p + 2) : -offset * d;
            __m512 vd = _mm512_set1_ps(d), vc = _mm512_set1_ps(c);
            _mm512_storeu_ps(dst + 32 * (b + h), _mm512_fmadd_ps(quarter_ps(v, 2 * h, is_signed), vd, vc));
            _mm512_storeu_ps(dst + 32 * (b + h) + 16, _mm512_fmadd_ps(quarter_ps(v, 2 * h + 1, is_signed), vd, vc));
        }
    }
}

/* Q4_K / Q5_K: d * sc * q - dmin * m per sub-block. */
INLINE void k45_deq(int five, const uint8_t *w, float *dst, int64_t n) {
    const size_t bs = five ? 176 : 144;
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * bs;
        uint64_t sc, mn;
        k4_scales(blk + 4, &sc, &mn);
        uint8_t scb[8], mnb[8];
        memcpy(scb, &sc, 8);
        memcpy(mnb, &mn, 8);
        float d = h2f(blk), dmin = h2f(blk + 2);
        float *out = dst + 256 * B;
        UNROLL
        for (int j = 0; j < 4; j++) {
            __m512i v = k45_unpack(five, blk, j);
            for (int h = 0; h < 2; h++) {
                int s = k4_sub_a(j) + 2 * h;
                __m512 vd = _mm512_set1_ps(d * scb[s]), vm = _mm512_set1_ps(dmin * mnb[s]);
                _mm512_storeu_ps(out + 32 * s, _mm512_fmsub_ps(quarter_ps(v, 2 * h, 0), vd, vm));
                _mm512_storeu_ps(out + 32 * s + 16, _mm512_fmsub_ps(quarter_ps(v, 2 * h + 1, 0), vd, vm));
            }
        }
    }
}

/* Q6_K: d * sc * (q - 32); quarter i of register j is scale group 4j + i. */
static void q6k_deq(const uint8_t *w, float *dst, int64_t n) {
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * 210;
        const int8_t *sc = (const int8_t *)(blk + 192);
        float d = h2f(blk + 208);
        UNROLL
        for (int j = 0; j < 4; j++) {
            __m512i v = q6k_unpack(blk, j);
            for (int i = 0; i < 4; i++) {
                float ds = d * sc[4 * j + i];
                _mm512_storeu_ps(dst + 256 * B + 64 * j + 16 * i,
                                 _mm512_fmadd_ps(quarter_ps(v, i, 0), _mm512_set1_ps(ds), _mm512_set1_ps(-32.0f * ds)));
            }
        }
    }
}

void cpu_avx512_deq_q4_0(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q4_0, w, dst, n); }
void cpu_avx512_deq_q4_1(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q4_1, w, dst, n); }
void cpu_avx512_deq_q5_0(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q5_0, w, dst, n); }
void cpu_avx512_deq_q5_1(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q5_1, w, dst, n); }
void cpu_avx512_deq_q8_0(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q8_0, w, dst, n); }
void cpu_avx512_deq_q4_k(const void *w, float *dst, int64_t n) { k45_deq(0, w, dst, n); }
void cpu_avx512_deq_q5_k(const void *w, float *dst, int64_t n) { k45_deq(1, w, dst, n); }
void cpu_avx512_deq_q6_k(const void *w, float *dst, int64_t n) { q6k_deq(w, dst, n); }

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
typedef int cpu_avx512_exact_unused; /* ISO C: a translation unit is not empty */
#endif
