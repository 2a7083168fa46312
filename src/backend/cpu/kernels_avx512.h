/* Inline helpers shared by the AVX-512 kernel files (kernels_avx512.c: int8 products and
 * attention; kernels_avx512_exact.c: 16-bit decode and dequantization; kernels_avx512_ipanel.c
 * and kernels_amx.c: integer prefill): block unpacking of each weight type into 64 bytes per
 * register, the 16-bit activation block, a 16 x 16 transpose. Include only after the AVX-512 target
 * pragma. Layouts: shared/docs/gemma3.md section 5. */
#ifndef UE_BACKEND_CPU_KERNELS_AVX512_H
#define UE_BACKEND_CPU_KERNELS_AVX512_H

#include <immintrin.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"

#define INLINE static inline __attribute__((always_inline))
/* Loops over the R rows and T tokens of a tile must unroll, so the arrays stay in registers
 * (UNROLL16: the integer panel tiles, up to 6 rows and 16 products per block). */
#define UNROLL _Pragma("GCC unroll 4")
#define UNROLL16 _Pragma("GCC unroll 16")

/* Software prefetch distance for weights streamed from memory, bytes. */
#ifndef PREFETCH
#define PREFETCH 1024
#endif

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

/* [a x 8, b x 8] from two floats. */
INLINE __m512 pair_ps(float a, float b) {
    return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}

/* One 32-value block in the Q16_32 quantization of cpu_quant_q16_32_scalar: *dd = max|x| /
 * 32767, the 32 int16 values q (x ~ dd q) returned in order, their halves as int32 in i0, i1
 * (for the block sums). Decode's activation rows and prefill's token panels both use it. */
INLINE __m512i q16_block(const float *x, float *dd, __m512i *i0, __m512i *i1) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
    float d = amax / 32767.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    __m512 vid = _mm512_set1_ps(id);
    *dd = d;
    *i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
    *i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtsepi32_epi16(*i0)), _mm512_cvtsepi32_epi16(*i1), 1);
}

/* 16 x 16 dwords transposed in place: at each level s = 8, 4, 2, 1 rows i and i + s swap
 * their off-diagonal s-blocks. */
INLINE void transpose16(__m512i r[16]) {
    UNROLL16
    for (int s = 8; s >= 1; s /= 2) {
        int lo[16], hi[16];
        for (int c = 0; c < 16; c++) {
            lo[c] = c & s ? 16 + c - s : c;
            hi[c] = c & s ? 16 + c : c + s;
        }
        __m512i ilo = _mm512_loadu_si512(lo), ihi = _mm512_loadu_si512(hi);
        UNROLL16
        for (int i = 0; i < 16; i++) {
            if (i & s) continue;
            __m512i a = r[i], b = r[i + s];
            r[i] = _mm512_permutex2var_epi32(a, ilo, b);
            r[i + s] = _mm512_permutex2var_epi32(a, ihi, b);
        }
    }
}

enum { LEG_Q4_0, LEG_Q4_1, LEG_Q5_0, LEG_Q5_1, LEG_Q8_0 };

/* Weights of blocks p0, p1 as 64 bytes in element order; for Q8_0 signed, else 0..31. */
INLINE __m512i leg_unpack(int kind, const uint8_t *p0, const uint8_t *p1) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    if (kind == LEG_Q8_0)
        return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p0 + 2))),
                                  _mm256_loadu_si256((const __m256i *)(p1 + 2)), 1);
    int qoff = kind == LEG_Q4_0 ? 2 : kind == LEG_Q4_1 ? 4 : kind == LEG_Q5_0 ? 6 : 8;
    __m256i raw = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(p1 + qoff)),
                                   _mm_loadu_si128((const __m128i *)(p0 + qoff)));
    /* [b0 low, b1 low, b0 high, b1 high] -> [b0 low, b0 high, b1 low, b1 high] */
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(raw), _mm256_srli_epi16(raw, 4), 1);
    z = _mm512_and_si512(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)), m4);
    if (kind == LEG_Q5_0 || kind == LEG_Q5_1) {
        int hoff = kind == LEG_Q5_0 ? 2 : 4;
        __mmask64 h = (__mmask64)ld32(p0 + hoff) | ((__mmask64)ld32(p1 + hoff) << 32);
        z = _mm512_mask_add_epi8(z, h, z, _mm512_set1_epi8(16));
    }
    return z;
}

INLINE size_t leg_bytes(int kind) {
    return kind == LEG_Q4_0 ? 18 : kind == LEG_Q4_1 ? 20 : kind == LEG_Q5_0 ? 22 : kind == LEG_Q5_1 ? 24 : 34;
}

/* Q4_K / Q5_K scales: eight 6-bit scales and mins from 12 bytes, as bytes. */
INLINE void k4_scales(const uint8_t *s, uint64_t *sc, uint64_t *mn) {
    uint32_t a0 = ld32(s), a1 = ld32(s + 4), a2 = ld32(s + 8);
    *sc = (uint64_t)(a0 & 0x3f3f3f3fu) |
          (uint64_t)((a2 & 0x0f0f0f0fu) | ((a0 >> 2) & 0x30303030u)) << 32;
    *mn = (uint64_t)(a1 & 0x3f3f3f3fu) |
          (uint64_t)(((a2 >> 4) & 0x0f0f0f0fu) | ((a1 >> 2) & 0x30303030u)) << 32;
}

/* Register j of a Q4_K/Q5_K block holds sub-blocks (a, b) = (0,2), (1,3), (4,6), (5,7):
 * the low or high nibbles of qs[64 * (j / 2) ..]; Q5_K adds bit a / b of qh[l] as 16. */
INLINE int k4_sub_a(int j) { return (j / 2) * 4 + (j % 2); }

INLINE __m512i k45_unpack(int five, const uint8_t *blk, int j) {
    __m512i q = _mm512_loadu_si512(blk + (five ? 48 : 16) + 64 * (j / 2));
    __m512i v = _mm512_and_si512(j % 2 ? _mm512_srli_epi16(q, 4) : q, _mm512_set1_epi8(0x0f));
    if (five) {
        int a = k4_sub_a(j), b = a + 2;
        __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 16)));
        __m512i bit = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8((char)(1 << a))),
                                         _mm256_set1_epi8((char)(1 << b)), 1);
        v = _mm512_mask_add_epi8(v, _mm512_test_epi8_mask(qh, bit), v, _mm512_set1_epi8(16));
    }
    return v;
}

/* Q6_K register j = elements 64j..64j+63 as 0..63: low (j even) or high nibbles of
 * ql[64 * (j / 2)], two bits from qh[32 * (j / 2) ..] (bits 0-1 / 2-3 for j even, 4-5 / 6-7
 * for j odd; a 64-bit lane shift moves them to bits 4-5). */
INLINE __m512i q6k_unpack(const uint8_t *blk, int j) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    __m512i ql = _mm512_loadu_si512(blk + 64 * (j / 2));
    __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * (j / 2))));
    __m512i lo, hi;
    if (j % 2 == 0) {
        lo = _mm512_and_si512(ql, m4);
        hi = _mm512_and_si512(_mm512_sllv_epi64(qh, _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4)), m30);
    } else {
        lo = _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4);
        hi = _mm512_and_si512(_mm512_srlv_epi64(qh, _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0)), m30);
    }
    return _mm512_or_si512(lo, hi);
}

/* The exact path (kernels_avx512_exact.c), used in the set table of kernels_avx512.c. */
#define CPU_AVX512_EXACT(t)                                                                   \
    void cpu_avx512_gemv16_##t(int64_t n, const void *w, size_t ldw, int nr, const void *x,   \
                               size_t ldx, int nt, float *out, size_t ldo);                   \
    void cpu_avx512_deq_##t(const void *row, float *dst, int64_t n);
CPU_AVX512_EXACT(q4_0)
CPU_AVX512_EXACT(q4_1)
CPU_AVX512_EXACT(q5_0)
CPU_AVX512_EXACT(q5_1)
CPU_AVX512_EXACT(q8_0)
CPU_AVX512_EXACT(q4_k)
CPU_AVX512_EXACT(q5_k)
CPU_AVX512_EXACT(q6_k)
#undef CPU_AVX512_EXACT
void cpu_avx512_panel_pack(const float *x, size_t ldx, int nt, int64_t n, float *xt);
void cpu_avx512_panel_gemm(int64_t kn, const float *w, size_t ldw, int nr, const float *xt,
                           int nt, float *out, size_t ldo, int accumulate);
#define CPU_AVX512_UNPACK(t)                                                                          \
    void cpu_avx512_unpack_##t(const void *w, uint8_t *q, float *sc, float *mn, int32_t *wc, int64_t n); \
    void cpu_avx512_unpack_bytes_##t(const void *w, uint8_t *q, float *sc, float *mn, int64_t n);         \
    void cpu_avx512_wunpack_##t(const void *w, uint8_t *q, float *sc, float *mn, int32_t *wc, int64_t n);
CPU_AVX512_UNPACK(q4_0)
CPU_AVX512_UNPACK(q4_1)
CPU_AVX512_UNPACK(q5_0)
CPU_AVX512_UNPACK(q5_1)
CPU_AVX512_UNPACK(q8_0)
CPU_AVX512_UNPACK(q4_k)
CPU_AVX512_UNPACK(q5_k)
CPU_AVX512_UNPACK(q6_k)
#undef CPU_AVX512_UNPACK
void cpu_avx512_ipanel_pack(const float *x, size_t ldx, int nt, int64_t n, int64_t k0, int64_t kn, void *dst,
                            void *tmp);
void cpu_avx512_ipanel_gemm(int64_t k0, int64_t kn, int64_t n, const cpu_ipanel_rows *w, int nr,
                            const void *xp, int nt, float *out, size_t ldo, int accumulate);
void cpu_avx512_wpanel_pack(const float *x, size_t ldx, int nt, int64_t n, int64_t k0, int64_t kn, void *dst,
                            void *tmp);
void cpu_avx512_wpanel_gemm(int64_t k0, int64_t kn, int64_t n, const cpu_ipanel_rows *w, int nr,
                            const void *xp, int nt, float *out, size_t ldo, int accumulate);
void cpu_avx512_quant_q16_hl(const float *x, void *dst, int64_t n);
void cpu_avx512_quant_q16_hlk(const float *x, void *dst, int64_t n);


/* Integer panel tiles (kernels_avx512_ipanel.c: bytes, kernels_avx512_wpanel.c: words): R <= 6
 * rows x TV <= 2 vectors of 16 tokens. One scale block's exact int32 sums acc into the float
 * sums f: f += acc * dx * sc[b] (- mn[b] * xs for CPU_IPANEL_MIN32); dx, xs at the block. */
INLINE void ipanel_scale_block(int F, int R, int TV, __m512 f[6][2], __m512i acc[6][2], const float *sc,
                               const float *mn, size_t lds, int64_t b, const float *dx, const float *xs) {
    UNROLL16
    for (int r = 0; r < R; r++) {
        __m512 s = _mm512_set1_ps(sc[(size_t)r * lds + b]);
        UNROLL16
        for (int t = 0; t < TV; t++) {
            __m512 ds = _mm512_mul_ps(_mm512_load_ps(dx + 16 * t), s);
            f[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][t]), ds, f[r][t]);
            if (F == CPU_IPANEL_MIN32)
                f[r][t] = _mm512_fnmadd_ps(_mm512_set1_ps(mn[(size_t)r * lds + b]), _mm512_load_ps(xs + 16 * t), f[r][t]);
        }
    }
}

/* A tile's sums to out[t * ldo + r0 + r] for t < nt (added to out when accumulate). */
INLINE void ipanel_store_tile(int R, int TV, __m512 f[6][2], int nt, float *out, size_t ldo, int r0, int accumulate) {
    float buf[6][32];
    UNROLL16
    for (int r = 0; r < R; r++)
        UNROLL16
        for (int t = 0; t < TV; t++) _mm512_storeu_ps(&buf[r][16 * t], f[r][t]);
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < R; r++)
            out[(size_t)t * ldo + r0 + r] = accumulate ? out[(size_t)t * ldo + r0 + r] + buf[r][t] : buf[r][t];
}

/* A panel gemm (cpu_ipanel_gemm_fn) from a tile function tile(F, R, TV, kn, w, r0, xb, dx, xs,
 * nt, out, ldo, accumulate): per form, 6-row tiles, then 2, then 1 (the row groups of
 * cpu_ipanel_group), 32 or 16 tokens; both panel kinds keep 64 bytes per column. */
#define IPANEL_TILE_ROWS(tile, F, R, kn, w, r, xb, dx, xs, nt, out, ldo, a)                             \
    do {                                                                                               \
        if ((nt) > 16)                                                                                 \
            tile(F, R, 2, kn, w, r, xb, dx, xs, nt, out, ldo, a);                                      \
        else                                                                                           \
            tile(F, R, 1, kn, w, r, xb, dx, xs, nt, out, ldo, a);                                      \
    } while (0)
#define IPANEL_FORM_FN(tile, F, name)                                                                  \
    static void name(int64_t kn, const cpu_ipanel_rows *w, int nr, const uint8_t *xb, const float *dx,  \
                     const float *xs, int nt, float *out, size_t ldo, int a) {                          \
        int r = 0;                                                                                     \
        for (; r + CPU_IPANEL_ROWS <= nr; r += CPU_IPANEL_ROWS)                                        \
            IPANEL_TILE_ROWS(tile, F, 6, kn, w, r, xb, dx, xs, nt, out, ldo, a);                       \
        for (; r + 2 <= nr; r += 2) IPANEL_TILE_ROWS(tile, F, 2, kn, w, r, xb, dx, xs, nt, out, ldo, a); \
        for (; r < nr; r++) IPANEL_TILE_ROWS(tile, F, 1, kn, w, r, xb, dx, xs, nt, out, ldo, a);        \
    }
#define IPANEL_GEMM_FN(tile, name)                                                                      \
    IPANEL_FORM_FN(tile, CPU_IPANEL_MIN32, name##_min32)                                               \
    IPANEL_FORM_FN(tile, CPU_IPANEL_SIGNED32, name##_signed32)                                         \
    IPANEL_FORM_FN(tile, CPU_IPANEL_SIGNED16, name##_signed16)                                         \
    void name(int64_t k0, int64_t kn, int64_t n, const cpu_ipanel_rows *w, int nr, const void *xp, int nt, \
              float *out, size_t ldo, int accumulate) {                                                \
        const uint8_t *xb = (const uint8_t *)xp + (size_t)k0 * 64;                                     \
        const float *dx = (const float *)((const uint8_t *)xp + cpu_ipanel_bytes(n)) + k0 / 32 * CPU_IPANEL_TOKENS; \
        const float *xs = dx + n / 32 * CPU_IPANEL_TOKENS;                                             \
        if (w->form == CPU_IPANEL_SIGNED16)                                                            \
            name##_signed16(kn, w, nr, xb, dx, xs, nt, out, ldo, accumulate);                          \
        else if (w->form == CPU_IPANEL_SIGNED32)                                                       \
            name##_signed32(kn, w, nr, xb, dx, xs, nt, out, ldo, accumulate);                          \
        else                                                                                           \
            name##_min32(kn, w, nr, xb, dx, xs, nt, out, ldo, accumulate);                             \
    }

#endif
