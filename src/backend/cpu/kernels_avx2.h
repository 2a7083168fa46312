/* Inline helpers shared by the AVX2 kernel files (kernels_avx2.c: int8 products and
 * attention; kernels_avx2_exact.c: int16 decode and dequantization): block unpacking of
 * each weight type into 32 bytes per register. Include only after the AVX2 target pragma.
 * Layouts: shared/docs/gemma3.md section 5. */
#ifndef UE_BACKEND_CPU_KERNELS_AVX2_H
#define UE_BACKEND_CPU_KERNELS_AVX2_H

#include <immintrin.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"

#define INLINE static inline __attribute__((always_inline))
/* Loops over the R rows and T tokens of a tile must unroll, so the arrays stay in registers. */
#define UNROLL _Pragma("GCC unroll 4")

INLINE uint16_t ld16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
INLINE uint32_t ld32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
INLINE float h2f(const uint8_t *p) { return _cvtsh_ss(ld16(p)); }

INLINE float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Sum of each 4 consecutive signed bytes, as 8 int32. */
enum { LEG_Q4_0, LEG_Q4_1, LEG_Q5_0, LEG_Q5_1, LEG_Q8_0 };

INLINE size_t leg_bytes(int kind) {
    return kind == LEG_Q4_0 ? 18 : kind == LEG_Q4_1 ? 20 : kind == LEG_Q5_0 ? 22 : kind == LEG_Q5_1 ? 24 : 34;
}

/* Bit e of the 32-bit word h as 0x10 in byte e (the fifth bit of a Q5 weight). */
INLINE __m256i q5_high(uint32_t h) {
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), spread);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
    return _mm256_and_si256(v, _mm256_set1_epi8(16));
}

/* One block's 32 weights in element order: 0..31 unsigned, or signed for Q8_0. */
INLINE __m256i leg_unpack(int kind, const uint8_t *p) {
    if (kind == LEG_Q8_0) return _mm256_loadu_si256((const __m256i *)(p + 2));
    int qoff = kind == LEG_Q4_0 ? 2 : kind == LEG_Q4_1 ? 4 : kind == LEG_Q5_0 ? 6 : 8;
    __m128i raw = _mm_loadu_si128((const __m128i *)(p + qoff));
    __m256i z = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0f));
    if (kind == LEG_Q5_0) z = _mm256_or_si256(z, q5_high(ld32(p + 2)));
    if (kind == LEG_Q5_1) z = _mm256_or_si256(z, q5_high(ld32(p + 4)));
    return z;
}

INLINE void k4_scales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t a0 = ld32(s), a1 = ld32(s + 4), a2 = ld32(s + 8);
    uint32_t v[4] = {a0 & 0x3f3f3f3fu, (a2 & 0x0f0f0f0fu) | ((a0 >> 2) & 0x30303030u),
                     a1 & 0x3f3f3f3fu, ((a2 >> 4) & 0x0f0f0f0fu) | ((a1 >> 2) & 0x30303030u)};
    memcpy(sc, v, 8);
    memcpy(mn, v + 2, 8);
}

/* Q4_K / Q5_K sub-block k as 32 bytes 0..31: the low (k even) or high nibbles of
 * qs[32 * (k / 2) ..], fifth bit k of qh[l] (Q5_K). */
INLINE __m256i k45_unpack(int five, const uint8_t *blk, int k) {
    __m256i q = _mm256_loadu_si256((const __m256i *)(blk + (five ? 48 : 16) + 32 * (k / 2)));
    __m256i v = _mm256_and_si256(k % 2 ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0f));
    if (five) {
        __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 16));
        __m256i bit = _mm256_set1_epi8((char)(1 << k));
        __m256i on = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
        v = _mm256_or_si256(v, _mm256_and_si256(on, _mm256_set1_epi8(16)));
    }
    return v;
}

/* Q6_K elements 32j..32j+31 as 0..63: half h = j / 4, quarter q = j % 4 takes the low
 * (q < 2) or high nibbles of ql[64h + 32 (q % 2) ..] and bits 2q, 2q+1 of qh[32h ..]. */
INLINE __m256i q6k_unpack(const uint8_t *blk, int j) {
    int h = j / 4, q = j % 4;
    __m256i ql = _mm256_loadu_si256((const __m256i *)(blk + 64 * h + 32 * (q % 2)));
    __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
    __m256i lo = _mm256_and_si256(q < 2 ? ql : _mm256_srli_epi16(ql, 4), _mm256_set1_epi8(0x0f));
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * q), _mm256_set1_epi8(0x03));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
}

/* The exact path (kernels_avx2_exact.c), used in the set table of kernels_avx2.c. */
#define CPU_AVX2_EXACT(t)                                                                     \
    void cpu_avx2_gemv16_##t(int64_t n, const void *w, size_t ldw, int nr, const void *x,     \
                             size_t ldx, int nt, float *out, size_t ldo);                     \
    void cpu_avx2_deq_##t(const void *row, float *dst, int64_t n);
CPU_AVX2_EXACT(q4_0)
CPU_AVX2_EXACT(q4_1)
CPU_AVX2_EXACT(q5_0)
CPU_AVX2_EXACT(q5_1)
CPU_AVX2_EXACT(q8_0)
CPU_AVX2_EXACT(q4_k)
CPU_AVX2_EXACT(q5_k)
CPU_AVX2_EXACT(q6_k)
#undef CPU_AVX2_EXACT
void cpu_avx2_quant_q16_32(const float *x, void *dst, int64_t n);

#endif
