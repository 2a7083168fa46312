/* AVX-512 VNNI integer prefill over token panels, with decode's arithmetic: activations
 * quantized to 16 bits per 32-block (the Q16_32 integers), split into hi / lo bytes and
 * packed once per matmul with 32 tokens along the lanes; weight rows unpacked to signed
 * bytes with a float scale (and offset) per 32- or 16-block. A 6-row x 32-token tile keeps
 * 12 integer sums, each exact over one scale block (hi bytes, shift by 8, lo bytes: 16
 * vpdpbusd per 32 elements), then scaled into 12 float sums: ~200 GMAC/s on one core of
 * this EPYC, 1.6x the f32 panels (vpdpbusd itself peaks at 2 x 264). Since the word panels
 * (kernels_avx512_wpanel.c: the same sums without the byte split, 3-8% faster) became the
 * AVX-512 default, these byte panels serve the AMX level (its tiles take bytes, and this
 * tile runs its Q6_K), and the row unpacking here is what the word panels widen.
 * Layouts: cpu_kernels.h (cpu_ipanel_*); weight blocks: shared/docs/gemma3.md section 5. */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif

#include "backend/cpu/kernels_avx512.h"

enum { P = CPU_IPANEL_TOKENS };

/* ---------------------------------------------------------------- activations */

/* One token's row as hi / lo byte rows (tmp_hi, tmp_lo: n bytes each) and its block scales
 * and sums, the Q16_32 quantization of cpu_quant_q16_32_scalar. */
static void quant_row(const float *x, int64_t n, uint8_t *hi, uint8_t *lo, float *dx, float *xs,
                      size_t ld_blocks) {
    for (int64_t b = 0; b < n / 32; b++) {
        float dd;
        __m512i i0, i1, q = q16_block(x + 32 * b, &dd, &i0, &i1);
        /* hi + 128 as unsigned bytes: both passes take the weights as the signed operand */
        _mm256_storeu_si256((__m256i *)(hi + 32 * b),
                            _mm256_xor_si256(_mm512_cvtepi16_epi8(_mm512_srai_epi16(q, 8)), _mm256_set1_epi8((char)0x80)));
        _mm256_storeu_si256((__m256i *)(lo + 32 * b), _mm512_cvtepi16_epi8(q));
        dx[(size_t)b * ld_blocks] = dd;
        xs[(size_t)b * ld_blocks] = dd * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
    }
}

void cpu_avx512_ipanel_pack(const float *x, size_t ldx, int nt, int64_t n, int64_t k0, int64_t kn, void *dst,
                            void *tmp) {
    uint8_t *xp = dst, *th = tmp, *tl = th + (size_t)P * (size_t)kn;
    float *dx = (float *)(xp + cpu_ipanel_bytes(n)) + k0 / 32 * P, *xs = dx + n / 32 * P;
    xp += (size_t)(k0 / 4) * 256;
    for (int t = 0; t < P; t++) {
        if (t < nt) {
            quant_row(x + (size_t)t * ldx + k0, kn, th + (size_t)t * kn, tl + (size_t)t * kn, dx + t, xs + t, P);
        } else {
            memset(th + (size_t)t * kn, 0, (size_t)kn);
            memset(tl + (size_t)t * kn, 0, (size_t)kn);
            for (int64_t b = 0; b < kn / 32; b++) dx[b * P + t] = xs[b * P + t] = 0.0f;
        }
    }
    /* [token][k] bytes to [k / 4][token][4]: 16 x 16 dword transposes */
    for (int64_t kq0 = 0; kq0 < kn / 4; kq0 += 16) {
        int m = kn / 4 - kq0 < 16 ? (int)(kn / 4 - kq0) : 16;
        __mmask16 live = (__mmask16)((1u << m) - 1);
        for (int h = 0; h < 2; h++)
            for (int tg = 0; tg < 2; tg++) {
                const uint8_t *src = (h ? tl : th) + (size_t)(16 * tg) * (size_t)kn + 4 * kq0;
                __m512i r[16];
                for (int i = 0; i < 16; i++) r[i] = _mm512_maskz_loadu_epi32(live, src + (size_t)i * (size_t)kn);
                transpose16(r);
                for (int c = 0; c < m; c++) _mm512_store_si512(xp + (size_t)(kq0 + c) * 256 + 128 * h + 64 * tg, r[c]);
            }
    }
}

/* ---------------------------------------------------------------- weights */

/* Legacy blocks: bytes 0..31 with w = d q - c, c = offset * d or -m (Q4_1, Q5_1); Q8_0 its
 * signed bytes with w = d q. */
INLINE void leg_unpack_row(int kind, const uint8_t *w, uint8_t *q, float *sc, float *mn, int64_t n) {
    const size_t bs = leg_bytes(kind);
    const int64_t nb = n / 32;
    const float offset = kind == LEG_Q4_0 ? 8.0f : kind == LEG_Q5_0 ? 16.0f : 0.0f;
    for (int64_t b = 0; b < nb; b += 2) {
        int lone = b + 1 == nb;
        const uint8_t *p0 = w + b * bs, *p1 = lone ? p0 : p0 + bs;
        __m512i v = leg_unpack(kind, p0, p1);
        if (lone)
            _mm256_storeu_si256((__m256i *)(q + 32 * b), _mm512_castsi512_si256(v));
        else
            _mm512_storeu_si512(q + 32 * b, v);
        for (int h = 0; h < 2 - lone; h++) {
            const uint8_t *p = h ? p1 : p0;
            float d = h2f(p);
            sc[b + h] = d;
            if (kind != LEG_Q8_0) mn[b + h] = offset != 0.0f ? offset * d : -h2f(p + 2);
        }
    }
}

/* Q4_K / Q5_K: bytes q (+ 16 from qh for Q5_K); w = d sc q - dmin m per sub-block. */
INLINE void k45_unpack_row(int five, const uint8_t *w, uint8_t *q, float *sc, float *mn, int64_t n) {
    const size_t bs = five ? 176 : 144;
    const __m256i m4 = _mm256_set1_epi8(0x0f), s16 = _mm256_set1_epi8(16);
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * bs, *qs = blk + (five ? 48 : 16);
        uint64_t scb, mnb;
        k4_scales(blk + 4, &scb, &mnb);
        __m256 d = _mm256_set1_ps(h2f(blk)), dmin = _mm256_set1_ps(h2f(blk + 2));
        _mm256_storeu_ps(sc + 8 * B, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)scb)))));
        _mm256_storeu_ps(mn + 8 * B, _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mnb)))));
        __m256i qh = five ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
        uint8_t *out = q + 256 * B;
        for (int c = 0; c < 4; c++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            if (five) {
                lo = _mm256_mask_add_epi8(lo, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << (2 * c)))), lo, s16);
                hi = _mm256_mask_add_epi8(hi, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(2 << (2 * c)))), hi, s16);
            }
            _mm256_storeu_si256((__m256i *)(out + 64 * c), lo);
            _mm256_storeu_si256((__m256i *)(out + 64 * c + 32), hi);
        }
    }
}

/* Q6_K: q - 32 as signed bytes, sc = d * scale of each 16 elements (no offset left). */
static void q6k_unpack_row(const uint8_t *w, uint8_t *q, float *sc, int64_t n) {
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * 210;
        for (int j = 0; j < 4; j++)
            _mm512_storeu_si512(q + 256 * B + 64 * j, _mm512_sub_epi8(q6k_unpack(blk, j), _mm512_set1_epi8(32)));
        __m512 d = _mm512_set1_ps(h2f(blk + 208));
        __m128i s8 = _mm_loadu_si128((const __m128i *)(blk + 192));
        _mm512_storeu_ps(sc + 16 * B, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(s8))));
    }
}

/* wc[b] = -128 * (sum of the signed bytes q of block b), blocks of S = 16 or 32 (n a
 * multiple of 32): byte sums of q + 128 per 8 bytes (vpsadbw), folded per 16 bytes and,
 * for S = 32, per 32; the block sums compressed to the front, less the bias. */
static void block_sums(const uint8_t *q, int64_t n, int S, int32_t *wc) {
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const __m256i off = _mm256_set1_epi32(128 * 128 * S);
    for (int64_t i = 0; i < n; i += 64) {
        __mmask64 live = n - i >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (n - i)) - 1;
        __m512i s = _mm512_sad_epu8(_mm512_xor_si512(_mm512_maskz_loadu_epi8(live, q + i), bias), _mm512_setzero_si512());
        s = _mm512_add_epi64(s, _mm512_shuffle_epi32(s, (_MM_PERM_ENUM)0x4E)); /* 16-byte sums */
        __mmask8 pick = 0x55;
        if (S == 32) {
            s = _mm512_add_epi64(s, _mm512_shuffle_i64x2(s, s, _MM_SHUFFLE(2, 3, 0, 1)));
            pick = 0x11;
        }
        __m256i d = _mm512_cvtepi64_epi32(_mm512_maskz_compress_epi64(pick, s));
        int nb = (int)((n - i < 64 ? n - i : 64) / S);
        _mm256_mask_storeu_epi32(wc + i / S, (__mmask8)((1u << nb) - 1), _mm256_sub_epi32(off, _mm256_slli_epi32(d, 7)));
    }
}

/* Each type's row as bytes and scales (cpu_avx512_unpack_bytes_*, which the word panels of
 * kernels_avx512_wpanel.c widen), and with the block corrections wc of the byte panels. */
#define UNPACK_FN(t, S, call)                                                                  \
    void cpu_avx512_unpack_bytes_##t(const void *w, uint8_t *q, float *sc, float *mn, int64_t n) { \
        (void)mn;                                                                              \
        call;                                                                                  \
    }                                                                                          \
    void cpu_avx512_unpack_##t(const void *w, uint8_t *q, float *sc, float *mn, int32_t *wc, int64_t n) { \
        cpu_avx512_unpack_bytes_##t(w, q, sc, mn, n);                                          \
        block_sums(q, n, S, wc);                                                               \
    }
UNPACK_FN(q4_0, 32, leg_unpack_row(LEG_Q4_0, w, q, sc, mn, n))
UNPACK_FN(q4_1, 32, leg_unpack_row(LEG_Q4_1, w, q, sc, mn, n))
UNPACK_FN(q5_0, 32, leg_unpack_row(LEG_Q5_0, w, q, sc, mn, n))
UNPACK_FN(q5_1, 32, leg_unpack_row(LEG_Q5_1, w, q, sc, mn, n))
UNPACK_FN(q8_0, 32, leg_unpack_row(LEG_Q8_0, w, q, sc, mn, n))
UNPACK_FN(q4_k, 32, k45_unpack_row(0, w, q, sc, mn, n))
UNPACK_FN(q5_k, 32, k45_unpack_row(1, w, q, sc, mn, n))
UNPACK_FN(q6_k, 16, q6k_unpack_row(w, q, sc, n))
#undef UNPACK_FN

/* ---------------------------------------------------------------- products */

/* acc += x (unsigned bytes) . w (the 4 signed bytes at p, broadcast by the load itself:
 * an explicit vpbroadcastd per row costs a shuffle uop, measured 10% slower) */
#define DPBUSD_BCAST(acc, x, p)                                                                \
    __asm__("vpdpbusd %[m]%{1to16%}, %[xv], %[a]" : [a] "+v"(acc) : [xv] "v"(x), [m] "m"(*(const int32_t *)(p)))

/* R rows x TV vectors of 16 tokens over kn values (kn a multiple of 32), weights in form F
 * (cpu_kernels.h). Per scale block of S elements the sum starts at -128 * sum(w) (the bias
 * of the hi bytes), takes the hi bytes, shifts by 8 and takes the lo bytes:
 * sum w * (256 hi + lo), exact in int32. */
INLINE void itile(int F, int R, int TV, int64_t kn, const cpu_ipanel_rows *w, int r0, const uint8_t *xp,
                  const float *dx, const float *xs, int nt, float *out, size_t ldo, int accumulate) {
    const int S = F == CPU_IPANEL_SIGNED16 ? 16 : 32, KQ = S / 4;
    __m512 f[6][2];
    UNROLL16
    for (int r = 0; r < R; r++)
        UNROLL16
        for (int t = 0; t < TV; t++) f[r][t] = _mm512_setzero_ps();
    const uint8_t *q = w->q + (size_t)r0 * w->ldq; /* [kn / S][R][S] */
    const float *sc = w->sc + (size_t)r0 * w->lds, *mn = w->mn + (size_t)r0 * w->lds;
    const int32_t *wc = w->wc + (size_t)r0 * w->lds;
    for (int64_t b = 0; b < kn / S; b++) {
        const uint8_t *xb = xp + (size_t)b * KQ * 256, *qb = q + (size_t)b * S * R;
        const int64_t b32 = b * S / 32;
        __m512i acc[6][2];
        UNROLL16
        for (int r = 0; r < R; r++) {
            __m512i c = _mm512_set1_epi32(wc[(size_t)r * w->lds + b]);
            UNROLL16
            for (int t = 0; t < TV; t++) acc[r][t] = c;
        }
        UNROLL16
        for (int kq = 0; kq < KQ; kq++) {
            __m512i xh[2];
            UNROLL16
            for (int t = 0; t < TV; t++) xh[t] = _mm512_load_si512(xb + kq * 256 + 64 * t);
            UNROLL16
            for (int r = 0; r < R; r++)
                UNROLL16
                for (int t = 0; t < TV; t++) DPBUSD_BCAST(acc[r][t], xh[t], qb + r * S + 4 * kq);
        }
        UNROLL16
        for (int r = 0; r < R; r++)
            UNROLL16
            for (int t = 0; t < TV; t++) acc[r][t] = _mm512_slli_epi32(acc[r][t], 8);
        UNROLL16
        for (int kq = 0; kq < KQ; kq++) {
            __m512i xl[2];
            UNROLL16
            for (int t = 0; t < TV; t++) xl[t] = _mm512_load_si512(xb + kq * 256 + 128 + 64 * t);
            UNROLL16
            for (int r = 0; r < R; r++)
                UNROLL16
                for (int t = 0; t < TV; t++) DPBUSD_BCAST(acc[r][t], xl[t], qb + r * S + 4 * kq);
        }
        ipanel_scale_block(F, R, TV, f, acc, sc, mn, w->lds, b, dx + b32 * P, xs + b32 * P);
    }
    ipanel_store_tile(R, TV, f, nt, out, ldo, r0, accumulate);
}

IPANEL_GEMM_FN(itile, cpu_avx512_ipanel_gemm)

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
typedef int cpu_avx512_ipanel_unused; /* ISO C: a translation unit is not empty */
#endif
