/* AVX-512 VNNI integer prefill over 16-bit word panels, the AVX-512 set's default: the same
 * exact arithmetic as the byte panels of kernels_avx512_ipanel.c (Q16_32 activations, weights
 * as small integers with block scales, integer block sums), but the products are vpdpwssd of
 * the activation words by the weights widened to words, so a 32-element block takes 16
 * products per sum with no hi / lo split: no bias correction, no shift, fewer vector
 * instructions per block (the tiles were bound by the vector ports, not by loads). The block
 * sums are the same integers, so the results are bit-identical to the byte panels; measured
 * (docs/PERFORMANCE.md): tile +3-5% on the EPYC dev machine, 4B prefill +8% on the
 * 16-thread Sapphire Rapids host.
 * Layouts: cpu_kernels.h (cpu_ipanel_*, word panels); weight blocks: shared/docs/gemma3.md 5. */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif

#include "backend/cpu/kernels_avx512.h"

enum { P = CPU_IPANEL_TOKENS, SLICE = 256 };

/* ---------------------------------------------------------------- activations */

/* columns [k0, k0 + kn) of nt token rows: each row's Q16_32 words into tmp ([token][kn]
 * words), then [token][k pair] dwords to [k pair][token] by 16 x 16 transposes */
void cpu_avx512_wpanel_pack(const float *x, size_t ldx, int nt, int64_t n, int64_t k0, int64_t kn, void *dst,
                            void *tmp) {
    uint8_t *xp = dst;
    int16_t *tw = tmp;
    float *dx = (float *)(xp + cpu_ipanel_bytes(n)) + k0 / 32 * P, *xs = dx + n / 32 * P;
    xp += (size_t)(k0 / 2) * 128;
    for (int t = 0; t < P; t++) {
        int16_t *row = tw + (size_t)t * (size_t)kn;
        if (t >= nt) {
            memset(row, 0, (size_t)kn * sizeof(int16_t));
            for (int64_t b = 0; b < kn / 32; b++) dx[b * P + t] = xs[b * P + t] = 0.0f;
            continue;
        }
        const float *xr = x + (size_t)t * ldx + k0;
        for (int64_t b = 0; b < kn / 32; b++) {
            float dd;
            __m512i i0, i1, q = q16_block(xr + 32 * b, &dd, &i0, &i1);
            _mm512_storeu_si512(row + 32 * b, q);
            dx[b * P + t] = dd;
            xs[b * P + t] = dd * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
        }
    }
    for (int64_t kp0 = 0; kp0 < kn / 2; kp0 += 16) {
        int m = kn / 2 - kp0 < 16 ? (int)(kn / 2 - kp0) : 16;
        __mmask16 live = (__mmask16)((1u << m) - 1);
        for (int tg = 0; tg < 2; tg++) {
            const int16_t *src = tw + (size_t)(16 * tg) * (size_t)kn + 2 * kp0;
            __m512i r[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_maskz_loadu_epi32(live, src + (size_t)i * (size_t)kn);
            transpose16(r);
            for (int c = 0; c < m; c++) _mm512_store_si512(xp + (size_t)(kp0 + c) * 128 + 64 * tg, r[c]);
        }
    }
}

/* ---------------------------------------------------------------- weights */

/* One row as words (the byte unpacking of each type, widened) and its block scales; wc is
 * not used by word panels. Slices of 256 keep the bytes on the stack. */
#define WUNPACK_FN(t, type, S)                                                                      \
    void cpu_avx512_wunpack_##t(const void *w, uint8_t *q, float *sc, float *mn, int32_t *wc, int64_t n) { \
        (void)wc;                                                                               \
        const size_t slice_bytes = ue_type_row_bytes(type, SLICE);                              \
        int16_t *qw = (int16_t *)(void *)q;                                                     \
        _Alignas(64) uint8_t bytes[SLICE];                                                      \
        for (int64_t i = 0; i < n; i += SLICE) {                                                \
            int64_t len = n - i < SLICE ? n - i : SLICE;                                        \
            cpu_avx512_unpack_bytes_##t((const uint8_t *)w + (size_t)(i / SLICE) * slice_bytes, bytes, \
                                        sc + i / S, mn + i / S, len);                           \
            for (int64_t j = 0; j < len; j += 32)                                               \
                _mm512_storeu_si512(qw + i + j, _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(bytes + j)))); \
        }                                                                                       \
    }
WUNPACK_FN(q4_0, UE_TYPE_Q4_0, 32)
WUNPACK_FN(q4_1, UE_TYPE_Q4_1, 32)
WUNPACK_FN(q5_0, UE_TYPE_Q5_0, 32)
WUNPACK_FN(q5_1, UE_TYPE_Q5_1, 32)
WUNPACK_FN(q8_0, UE_TYPE_Q8_0, 32)
WUNPACK_FN(q4_k, UE_TYPE_Q4_K, 32)
WUNPACK_FN(q5_k, UE_TYPE_Q5_K, 32)
WUNPACK_FN(q6_k, UE_TYPE_Q6_K, 16)
#undef WUNPACK_FN

/* ---------------------------------------------------------------- products */

/* acc += x (16 tokens x 2 words) . w (the word pair at p, broadcast by the load itself: a
 * separate vpbroadcastd per pair measured 5% slower on the Sapphire Rapids host, 2% faster
 * on the EPYC) */
#define DPWSSD_BCAST(acc, x, p)                                                                \
    __asm__("vpdpwssd %[m]%{1to16%}, %[xv], %[a]" : [a] "+v"(acc) : [xv] "v"(x), [m] "m"(*(const int32_t *)(p)))

/* R rows x TV vectors of 16 tokens over kn values (kn a multiple of 32), weights in form F
 * (cpu_kernels.h). Per scale block of S elements an exact int32 sum of w * x over the words
 * (|sum| < 2^27), then scaled into the float sums. */
INLINE void wtile(int F, int R, int TV, int64_t kn, const cpu_ipanel_rows *w, int r0, const uint8_t *xp,
                  const float *dx, const float *xs, int nt, float *out, size_t ldo, int accumulate) {
    const int S = F == CPU_IPANEL_SIGNED16 ? 16 : 32;
    __m512 f[6][2];
    UNROLL16
    for (int r = 0; r < R; r++)
        UNROLL16
        for (int t = 0; t < TV; t++) f[r][t] = _mm512_setzero_ps();
    const int16_t *q = (const int16_t *)(const void *)(w->q + (size_t)r0 * w->ldq); /* [kn / S][R][S] */
    const float *sc = w->sc + (size_t)r0 * w->lds, *mn = w->mn + (size_t)r0 * w->lds;
    for (int64_t b = 0; b < kn / S; b++) {
        const uint8_t *xb = xp + (size_t)b * (size_t)S * 64;
        const int16_t *qb = q + (size_t)b * (size_t)(S * R);
        const int64_t b32 = b * S / 32;
        __m512i acc[6][2];
        UNROLL16
        for (int r = 0; r < R; r++)
            UNROLL16
            for (int t = 0; t < TV; t++) acc[r][t] = _mm512_setzero_si512();
        UNROLL16
        for (int kp = 0; kp < S / 2; kp++) {
            __m512i xv[2];
            UNROLL16
            for (int t = 0; t < TV; t++) xv[t] = _mm512_load_si512(xb + kp * 128 + 64 * t);
            UNROLL16
            for (int r = 0; r < R; r++)
                UNROLL16
                for (int t = 0; t < TV; t++) DPWSSD_BCAST(acc[r][t], xv[t], qb + r * S + 2 * kp);
        }
        ipanel_scale_block(F, R, TV, f, acc, sc, mn, w->lds, b, dx + b32 * P, xs + b32 * P);
    }
    ipanel_store_tile(R, TV, f, nt, out, ldo, r0, accumulate);
}

IPANEL_GEMM_FN(wtile, cpu_avx512_wpanel_gemm)

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
typedef int cpu_avx512_wpanel_unused; /* ISO C: a translation unit is not empty */
#endif
