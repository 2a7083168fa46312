/* AVX-512 kernels of the exact path: decode with 16-bit activations split into hi / lo
 * bytes (Q16_HL, Q16_HLK: two vpdpbusd per 64 weights, exact to the 16-bit integers, one
 * float scale per 32-block; 1.4-1.6x the int16 vpdpwssd form in cache) and row
 * dequantization to f32 for prefill, which then runs the F32 tiles. Weight unpacking is
 * shared with the int8 kernels (kernels_avx512.h). */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif

#include "backend/cpu/kernels_avx512.h"
/* Software prefetch distance of the decode kernels, bytes ahead in the weight stream:
 * 4 KiB measured best on the 2-core EPYC VM (4B random Q4_K_M tg64: 14.2 -> 16.2 t/s, 270M
 * tg128 121 -> 140 t/s; 1-3 KiB gained less, 8 KiB lost some). The hardware prefetcher
 * alone leaves a lone stream per core short of the bandwidth there. */
enum { DECODE_PREFETCH = 4096 };

/* ---------------------------------------------------------------- hi/lo byte split */

/* Q16_HL / Q16_HLK rows (cpu_kernels.h): the Q16_32 integers of each 32-block as hi / lo
 * bytes in the group and half the weight type's unpacking order gives them. */
INLINE void quant_hl(const float *x, void *dst, int64_t n, int k4_order) {
    uint8_t *out = dst;
    size_t hl = cpu_hl_bytes(n);
    float *d = (float *)(out + hl), *xs = d + n / 32, *s16 = d + n / 16;
    if (n % 64) memset(out + hl - 128, 0, 128); /* the pad of a last group of 32 */
    for (int64_t b = 0; b < n / 32; b++) {
        float dd;
        __m512i i0, i1, q = q16_block(x + 32 * b, &dd, &i0, &i1);
        int64_t g = b / 2;
        int h = (int)(b % 2);
        if (k4_order) {
            int sb = (int)(b % 8);
            g = b / 8 * 4 + (sb / 4) * 2 + sb % 2;
            h = (sb / 2) % 2;
        }
        _mm256_storeu_si256((__m256i *)(out + 128 * g + 32 * h), _mm512_cvtepi16_epi8(_mm512_srai_epi16(q, 8)));
        _mm256_storeu_si256((__m256i *)(out + 128 * g + 64 + 32 * h), _mm512_cvtepi16_epi8(q));
        int s0 = _mm512_reduce_add_epi32(i0), s1 = _mm512_reduce_add_epi32(i1);
        d[b] = dd;
        xs[b] = dd * (float)(s0 + s1);
        s16[2 * b] = (float)s0;
        s16[2 * b + 1] = (float)s1;
    }
}

void cpu_avx512_quant_q16_hl(const float *x, void *dst, int64_t n) { quant_hl(x, dst, n, 0); }
void cpu_avx512_quant_q16_hlk(const float *x, void *dst, int64_t n) { quant_hl(x, dst, n, 1); }

/* sum of w * (256 hi + lo) per 4 elements, 16 int32 lanes: unsigned bytes w (< 128) with
 * the signed hi bytes, then the unsigned lo bytes with w as signed bytes; exact. */
INLINE __m512i hl_dot(__m512i w, const uint8_t *g) {
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, _mm512_load_si512(g));
    return _mm512_dpbusd_epi32(_mm512_slli_epi32(s, 8), _mm512_load_si512(g + 64), w);
}

/* The same for signed w (Q8_0): hi + 128 as unsigned bytes against w, minus 128 * sum w. */
INLINE __m512i hl_dot_signed(__m512i w, const uint8_t *g) {
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    __m512i hb = _mm512_xor_si512(_mm512_load_si512(g), bias);
    __m512i s = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), hb, w),
                                 _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, w));
    return _mm512_dpbusd_epi32(_mm512_slli_epi32(s, 8), _mm512_load_si512(g + 64), w);
}

/* Legacy 32-blocks: group g = blocks 2g, 2g + 1 (a lone last block meets zero activations). */
INLINE float leg_hl_dot(int kind, int64_t n, const uint8_t *w, const uint8_t *x) {
    const size_t bs = leg_bytes(kind);
    const int64_t nb = n / 32;
    const float *xd = cpu_hl_d(x, n), *xs = cpu_hl_xs(x, n);
    const float offset = kind == LEG_Q4_0 ? -8.0f : kind == LEG_Q5_0 ? -16.0f : 0.0f;
    const int has_min = kind == LEG_Q4_1 || kind == LEG_Q5_1;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    float mins = 0.0f;
    for (int64_t b = 0; b < nb; b += 2) {
        int lone = b + 1 == nb;
        const uint8_t *p0 = w + b * bs, *p1 = lone ? p0 : p0 + bs;
        _mm_prefetch((const char *)p0 + DECODE_PREFETCH, _MM_HINT_T0);
        if (2 * bs > 64) _mm_prefetch((const char *)p0 + DECODE_PREFETCH + 64, _MM_HINT_T0);
        __m512i v = leg_unpack(kind, p0, p1);
        __m512i s = kind == LEG_Q8_0 ? hl_dot_signed(v, x + 64 * b) : hl_dot(v, x + 64 * b);
        float d0 = h2f(p0), d1 = lone ? 0.0f : h2f(p1);
        __m512 sc = pair_ps(d0 * xd[b], lone ? 0.0f : d1 * xd[b + 1]);
        if (b & 2)
            acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc1);
        else
            acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc0);
        if (has_min) mins += h2f(p0 + 2) * xs[b] + (lone ? 0.0f : h2f(p1 + 2) * xs[b + 1]);
        if (offset != 0.0f) mins += offset * (d0 * xs[b] + (lone ? 0.0f : d1 * xs[b + 1]));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + mins;
}

/* Q4_K / Q5_K over Q16_HLK rows: group 4B + j meets register j of superblock B. */
INLINE float k45_hl_dot(int five, int64_t n, const uint8_t *w, const uint8_t *x) {
    const size_t bs = five ? 176 : 144;
    const float *xd = cpu_hl_d(x, n), *xs = cpu_hl_xs(x, n);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m256 macc = _mm256_setzero_ps();
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * bs, *xg = x + 512 * B;
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
            const __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(a)), _mm256_set1_epi32(b), 1);
            _mm_prefetch((const char *)blk + DECODE_PREFETCH + 64 * j, _MM_HINT_T0);
            __m512i s = hl_dot(k45_unpack(five, blk, j), xg + 128 * j);
            if (j % 2)
                acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_permutexvar_ps(idx, sv16), acc1);
            else
                acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_permutexvar_ps(idx, sv16), acc0);
        }
    }
    __m128 m = _mm_add_ps(_mm256_castps256_ps128(macc), _mm256_extractf128_ps(macc, 1));
    m = _mm_add_ps(m, _mm_movehl_ps(m, m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) - _mm_cvtss_f32(m);
}

/* Q6_K over Q16_HL rows: the unsigned 6-bit values q against the activations, then the
 * offset 32 per scale group as 32 * sum_g d sc[g] dx * s16[g]. Lane l of register j is
 * group 4j + l / 4. */
INLINE float q6k_hl_dot(int64_t n, const uint8_t *w, const uint8_t *x) {
    const float *xd = cpu_hl_d(x, n), *s16 = cpu_hl_s16(x, n);
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512i groups = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), corr = _mm512_setzero_ps();
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * 210, *xg = x + 512 * B;
        __m512 dx = _mm512_permutexvar_ps(dup, _mm512_zextps256_ps512(_mm256_loadu_ps(xd + 8 * B)));
        __m512 sv = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(h2f(blk + 208)), dx),
                                  _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 192)))));
        corr = _mm512_fmadd_ps(sv, _mm512_loadu_ps(s16 + 16 * B), corr);
        UNROLL
        for (int j = 0; j < 4; j++) {
            _mm_prefetch((const char *)blk + DECODE_PREFETCH + 64 * j, _MM_HINT_T0);
            __m512i s = hl_dot(q6k_unpack(blk, j), xg + 128 * j);
            __m512 f = _mm512_permutexvar_ps(_mm512_add_epi32(groups, _mm512_set1_epi32(4 * j)), sv);
            if (j % 2)
                acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), f, acc1);
            else
                acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), f, acc0);
        }
    }
    return _mm512_reduce_add_ps(_mm512_fnmadd_ps(_mm512_set1_ps(32.0f), corr, _mm512_add_ps(acc0, acc1)));
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

GEMV16(q4_0, leg_hl_dot(LEG_Q4_0, n, w, x))
GEMV16(q4_1, leg_hl_dot(LEG_Q4_1, n, w, x))
GEMV16(q5_0, leg_hl_dot(LEG_Q5_0, n, w, x))
GEMV16(q5_1, leg_hl_dot(LEG_Q5_1, n, w, x))
GEMV16(q8_0, leg_hl_dot(LEG_Q8_0, n, w, x))
GEMV16(q4_k, k45_hl_dot(0, n, w, x))
GEMV16(q5_k, k45_hl_dot(1, n, w, x))
GEMV16(q6_k, q6k_hl_dot(n, w, x))

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
