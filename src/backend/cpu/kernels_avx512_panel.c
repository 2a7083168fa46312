/* AVX-512 prefill micro-kernel over token panels: the activations of up to 48 tokens are
 * packed once per matmul with tokens along the vector lanes (xt[k][48]), and each weight
 * value of the dequantized f32 rows is broadcast against three vectors of tokens. An 8-row
 * x 48-token tile keeps 24 accumulators and needs 11 loads per 24 FMAs, so it runs near
 * the FMA rate from L1/L2 (the 4x4 row tiles of kernels_avx512.c need 8 loads per 16 FMAs,
 * which the L2 cannot feed). Sums are plain f32 as in the row tiles. */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#endif

#include <immintrin.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

enum { P = CPU_PANEL_TOKENS };

/* xt[k * P + j] = x[j][k] for j < nt, 0 for nt <= j < P; 16 k at a time by gathers. */
void cpu_avx512_panel_pack(const float *x, size_t ldx, int nt, int64_t n, float *xt) {
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32((int)ldx));
    for (int j0 = 0; j0 < P; j0 += 16) {
        int m = nt - j0 < 0 ? 0 : nt - j0 > 16 ? 16 : nt - j0;
        __mmask16 live = (__mmask16)((1u << m) - 1);
        const float *xj = x + (size_t)j0 * ldx;
        for (int64_t k = 0; k < n; k++) {
            __m512 v = m ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, idx, xj + k, 4)
                         : _mm512_setzero_ps();
            _mm512_store_ps(xt + k * P + j0, v);
        }
    }
}

/* R rows x T vectors of 16 tokens over kn values of k. */
INLINE void panel_tile(int R, int T, int64_t kn, const float *w, size_t ldw, const float *xt,
                       int nt, float *out, size_t ldo, int accumulate) {
    __m512 acc[8][3];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kn; k++) {
        __m512 xv[3];
        UNROLL
        for (int t = 0; t < T; t++) xv[t] = _mm512_load_ps(xt + k * P + 16 * t);
        UNROLL
        for (int r = 0; r < R; r++) {
            __m512 wv = _mm512_set1_ps(w[(size_t)r * ldw + k]);
            UNROLL
            for (int t = 0; t < T; t++) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
        }
    }
    /* out is token-major: out[t * ldo + r]; the tile goes through a small buffer */
    float buf[8][48];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) _mm512_storeu_ps(&buf[r][16 * t], acc[r][t]);
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < R; r++)
            out[(size_t)t * ldo + r] = accumulate ? out[(size_t)t * ldo + r] + buf[r][t] : buf[r][t];
}

#define TILE_T(R)                                                                              \
    static void tile_##R(int64_t kn, const float *w, size_t ldw, const float *xt, int nt,     \
                         float *out, size_t ldo, int acc) {                                    \
        if (nt > 32)                                                                           \
            panel_tile(R, 3, kn, w, ldw, xt, nt, out, ldo, acc);                               \
        else if (nt > 16)                                                                      \
            panel_tile(R, 2, kn, w, ldw, xt, nt, out, ldo, acc);                               \
        else                                                                                   \
            panel_tile(R, 1, kn, w, ldw, xt, nt, out, ldo, acc);                               \
    }
TILE_T(8)
TILE_T(4)
TILE_T(1)

void cpu_avx512_panel_gemm(int64_t kn, const float *w, size_t ldw, int nr, const float *xt,
                           int nt, float *out, size_t ldo, int accumulate) {
    int r = 0;
    for (; r + 8 <= nr; r += 8) tile_8(kn, w + (size_t)r * ldw, ldw, xt, nt, out + r, ldo, accumulate);
    for (; r + 4 <= nr; r += 4) tile_4(kn, w + (size_t)r * ldw, ldw, xt, nt, out + r, ldo, accumulate);
    for (; r < nr; r++) tile_1(kn, w + (size_t)r * ldw, ldw, xt, nt, out + r, ldo, accumulate);
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
typedef int cpu_avx512_panel_unused; /* ISO C: a translation unit is not empty */
#endif
