/* AVX-VNNI level (AVX2 + the VEX-encoded 256-bit VPDPBUSD of Intel client cores without
 * AVX-512, and of AMD Zen 4 / 5): the AVX2 set with the integer prefill of the AVX-512
 * level, same panels (cpu_kernels.h) and the same exact int32 sums per scale block: rows
 * unpacked to signed bytes in groups of 3, and a 3-row x 16-token tile keeping 6 integer
 * and 6 float sums in the 16 ymm registers. Weight block layouts: shared/docs/gemma3.md
 * section 5; VPDPBUSD: Intel SDM vol. 2. */
#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avxvnni"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,f16c,avxvnni")
#endif

#include <pthread.h>

#include "backend/cpu/kernels_avx2.h"

enum { P = CPU_IPANEL_TOKENS, G = 3 };

/* ---------------------------------------------------------------- activations */

/* Columns [k0, k0 + kn) of nt tokens as one panel: each token quantized to its Q16_32
 * integers (the AVX2 quantizer), split into hi + 128 and lo bytes, 4 columns per dword. */
static void pack(const float *x, size_t ldx, int nt, int64_t n, int64_t k0, int64_t kn, void *dst, void *tmp) {
    uint8_t *xp = (uint8_t *)dst + (size_t)(k0 / 4) * 256;
    float *dx = (float *)((uint8_t *)dst + cpu_ipanel_bytes(n)) + k0 / 32 * P, *xs = dx + n / 32 * P;
    int16_t *q = tmp;
    const float *qd = (const float *)(q + kn), *qs = qd + kn / 32;
    for (int t = 0; t < P; t++) {
        if (t < nt) {
            cpu_avx2_quant_q16_32(x + (size_t)t * ldx + k0, q, kn);
        } else {
            memset(q, 0, (size_t)kn * sizeof *q);
            memset((void *)qd, 0, (size_t)(kn / 32) * 2 * sizeof(float));
        }
        for (int64_t b = 0; b < kn / 32; b++) {
            dx[b * P + t] = qd[b];
            xs[b * P + t] = qs[b];
        }
        for (int64_t k = 0; k < kn; k++) {
            uint8_t *at = xp + (size_t)(k / 4) * 256 + (size_t)(4 * t + k % 4);
            at[0] = (uint8_t)((q[k] >> 8) ^ 0x80); /* arithmetic shift: floor(q / 256), + 128 */
            at[128] = (uint8_t)(q[k] & 0xff);
        }
    }
}

/* ---------------------------------------------------------------- weights */

/* wc[b] = -128 * (sum of the signed bytes of block b of S). */
static void block_sums(const uint8_t *q, int64_t n, int S, int32_t *wc) {
    for (int64_t b = 0; b < n / S; b++) {
        int32_t s = 0;
        for (int i = 0; i < S; i++) s += (int8_t)q[b * S + i];
        wc[b] = -128 * s;
    }
}

static void leg_row(int kind, const uint8_t *w, uint8_t *q, float *sc, float *mn, int64_t n) {
    const float offset = kind == LEG_Q4_0 ? 8.0f : kind == LEG_Q5_0 ? 16.0f : 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *p = w + (size_t)b * leg_bytes(kind);
        _mm256_storeu_si256((__m256i *)(q + 32 * b), leg_unpack(kind, p));
        float d = h2f(p);
        sc[b] = d;
        if (kind != LEG_Q8_0) mn[b] = offset != 0.0f ? offset * d : -h2f(p + 2);
    }
}

static void k45_row(int five, const uint8_t *w, uint8_t *q, float *sc, float *mn, int64_t n) {
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + (size_t)B * (five ? 176 : 144);
        uint8_t s6[8], m6[8];
        k4_scales(blk + 4, s6, m6);
        float d = h2f(blk), dmin = h2f(blk + 2);
        for (int k = 0; k < 8; k++) {
            _mm256_storeu_si256((__m256i *)(q + 256 * B + 32 * k), k45_unpack(five, blk, k));
            sc[8 * B + k] = d * (float)s6[k];
            mn[8 * B + k] = dmin * (float)m6[k];
        }
    }
}

static void q6k_row(const uint8_t *w, uint8_t *q, float *sc, int64_t n) {
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + (size_t)B * 210;
        float d = h2f(blk + 208);
        for (int j = 0; j < 8; j++)
            _mm256_storeu_si256((__m256i *)(q + 256 * B + 32 * j), _mm256_sub_epi8(q6k_unpack(blk, j), _mm256_set1_epi8(32)));
        for (int j = 0; j < 16; j++) sc[16 * B + j] = d * (float)(int8_t)blk[192 + j];
    }
}

#define UNPACK_FN(t, S, call)                                                                  \
    static void unpack_##t(const void *w, uint8_t *q, float *sc, float *mn, int32_t *wc, int64_t n) { \
        (void)mn;                                                                              \
        call;                                                                                  \
        block_sums(q, n, S, wc);                                                               \
    }
UNPACK_FN(q4_0, 32, leg_row(LEG_Q4_0, w, q, sc, mn, n))
UNPACK_FN(q4_1, 32, leg_row(LEG_Q4_1, w, q, sc, mn, n))
UNPACK_FN(q5_0, 32, leg_row(LEG_Q5_0, w, q, sc, mn, n))
UNPACK_FN(q5_1, 32, leg_row(LEG_Q5_1, w, q, sc, mn, n))
UNPACK_FN(q8_0, 32, leg_row(LEG_Q8_0, w, q, sc, mn, n))
UNPACK_FN(q4_k, 32, k45_row(0, w, q, sc, mn, n))
UNPACK_FN(q5_k, 32, k45_row(1, w, q, sc, mn, n))
UNPACK_FN(q6_k, 16, q6k_row(w, q, sc, n))
#undef UNPACK_FN

/* ---------------------------------------------------------------- products */

#define UNROLL8 _Pragma("GCC unroll 8")

/* R <= 3 rows (a group: [kn / S][R][S] from q) x TV <= 2 vectors of 8 tokens from token
 * t0 of the panel, over kn values: per scale block the sum starts at the hi bytes' bias
 * correction, takes the hi bytes, shifts by 8 and takes the lo bytes (exact in int32),
 * then scales into the float sums, as the AVX-512 itile does. */
static inline __attribute__((always_inline)) void vtile(int F, int R, int TV, int64_t kn, const cpu_ipanel_rows *w, int r0,
                                                        const uint8_t *xp, const float *dx, const float *xs, int t0, int nt,
                                                        float *out, size_t ldo, int accumulate) {
    const int S = F == CPU_IPANEL_SIGNED16 ? 16 : 32, KQ = S / 4;
    __m256 f[3][2];
    UNROLL8 for (int r = 0; r < R; r++) UNROLL8 for (int t = 0; t < TV; t++) f[r][t] = _mm256_setzero_ps();
    const uint8_t *q = w->q + (size_t)r0 * w->ldq;
    const float *sc = w->sc + (size_t)r0 * w->lds, *mn = w->mn + (size_t)r0 * w->lds;
    const int32_t *wc = w->wc + (size_t)r0 * w->lds;
    for (int64_t b = 0; b < kn / S; b++) {
        const uint8_t *xb = xp + (size_t)b * (size_t)KQ * 256 + 4 * t0, *qb = q + (size_t)b * (size_t)(S * R);
        const int64_t b32 = b * S / 32;
        __m256i acc[3][2];
        UNROLL8 for (int r = 0; r < R; r++) {
            __m256i c = _mm256_set1_epi32(wc[(size_t)r * w->lds + b]);
            UNROLL8 for (int t = 0; t < TV; t++) acc[r][t] = c;
        }
        for (int h = 0; h < 2; h++) {
            if (h) UNROLL8 for (int r = 0; r < R; r++) UNROLL8 for (int t = 0; t < TV; t++) acc[r][t] = _mm256_slli_epi32(acc[r][t], 8);
            UNROLL8 for (int kq = 0; kq < KQ; kq++) {
                __m256i xv[2];
                UNROLL8 for (int t = 0; t < TV; t++) xv[t] = _mm256_loadu_si256((const __m256i *)(xb + kq * 256 + 128 * h + 32 * t));
                UNROLL8 for (int r = 0; r < R; r++) {
                    __m256i wv = _mm256_set1_epi32((int)ld32(qb + r * S + 4 * kq));
                    UNROLL8 for (int t = 0; t < TV; t++) acc[r][t] = _mm256_dpbusd_avx_epi32(acc[r][t], xv[t], wv);
                }
            }
        }
        UNROLL8 for (int r = 0; r < R; r++) {
            __m256 s = _mm256_set1_ps(sc[(size_t)r * w->lds + b]);
            UNROLL8 for (int t = 0; t < TV; t++) {
                __m256 ds = _mm256_mul_ps(_mm256_loadu_ps(dx + b32 * P + t0 + 8 * t), s);
                f[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][t]), ds, f[r][t]);
                if (F == CPU_IPANEL_MIN32)
                    f[r][t] = _mm256_fnmadd_ps(_mm256_set1_ps(mn[(size_t)r * w->lds + b]),
                                               _mm256_loadu_ps(xs + b32 * P + t0 + 8 * t), f[r][t]);
            }
        }
    }
    float buf[3][16];
    UNROLL8 for (int r = 0; r < R; r++) UNROLL8 for (int t = 0; t < TV; t++) _mm256_storeu_ps(&buf[r][8 * t], f[r][t]);
    int tn = nt - t0 < 8 * TV ? nt - t0 : 8 * TV;
    for (int t = 0; t < tn; t++)
        for (int r = 0; r < R; r++) {
            float *o = out + (size_t)(t0 + t) * ldo + r0 + r;
            *o = accumulate ? *o + buf[r][t] : buf[r][t];
        }
}

#define VGEMM(F, name)                                                                         \
    static void name(int64_t kn, const cpu_ipanel_rows *w, int nr, const uint8_t *xb, const float *dx, \
                     const float *xs, int nt, float *out, size_t ldo, int a) {                 \
        for (int r = 0; r < nr;) {                                                             \
            int r0, g;                                                                         \
            cpu_ipanel_group(G, r, nr, &r0, &g);                                               \
            for (int t0 = 0; t0 < nt; t0 += 16) {                                              \
                int two = nt - t0 > 8;                                                         \
                if (g == 3)                                                                    \
                    two ? vtile(F, 3, 2, kn, w, r0, xb, dx, xs, t0, nt, out, ldo, a)           \
                        : vtile(F, 3, 1, kn, w, r0, xb, dx, xs, t0, nt, out, ldo, a);          \
                else if (g == 2)                                                               \
                    two ? vtile(F, 2, 2, kn, w, r0, xb, dx, xs, t0, nt, out, ldo, a)           \
                        : vtile(F, 2, 1, kn, w, r0, xb, dx, xs, t0, nt, out, ldo, a);          \
                else                                                                           \
                    two ? vtile(F, 1, 2, kn, w, r0, xb, dx, xs, t0, nt, out, ldo, a)           \
                        : vtile(F, 1, 1, kn, w, r0, xb, dx, xs, t0, nt, out, ldo, a);          \
            }                                                                                  \
            r = r0 + g;                                                                        \
        }                                                                                      \
    }
VGEMM(CPU_IPANEL_MIN32, vgemm_min32)
VGEMM(CPU_IPANEL_SIGNED32, vgemm_signed32)
VGEMM(CPU_IPANEL_SIGNED16, vgemm_signed16)
#undef VGEMM

static void ipanel_gemm(int64_t k0, int64_t kn, int64_t n, const cpu_ipanel_rows *w, int nr, const void *xp, int nt,
                        float *out, size_t ldo, int accumulate) {
    const uint8_t *xb = (const uint8_t *)xp + (size_t)(k0 / 4) * 256;
    const float *dx = (const float *)((const uint8_t *)xp + cpu_ipanel_bytes(n)) + k0 / 32 * P;
    const float *xs = dx + n / 32 * P;
    if (w->form == CPU_IPANEL_SIGNED16)
        vgemm_signed16(kn, w, nr, xb, dx, xs, nt, out, ldo, accumulate);
    else if (w->form == CPU_IPANEL_SIGNED32)
        vgemm_signed32(kn, w, nr, xb, dx, xs, nt, out, ldo, accumulate);
    else
        vgemm_min32(kn, w, nr, xb, dx, xs, nt, out, ldo, accumulate);
}

/* ---------------------------------------------------------------- the set */

static cpu_kernel_set k_vnni;
static pthread_once_t k_vnni_once = PTHREAD_ONCE_INIT;

static void vnni_init(void) {
    k_vnni = *cpu_kernels_avx2();
    k_vnni.name = "AVX2 + AVX-VNNI";
    k_vnni.isa = CPU_ISA_AVXVNNI;
    k_vnni.ipanel_pack = pack;
    k_vnni.ipanel_gemm = ipanel_gemm;
    for (int f = 0; f < 3; f++) k_vnni.ipanel_rows[f] = G;
    static const struct {
        ue_type type;
        cpu_unpack_fn fn;
        cpu_ipanel_form form;
    } unpack[] = {
        {UE_TYPE_Q4_0, unpack_q4_0, CPU_IPANEL_MIN32},    {UE_TYPE_Q4_1, unpack_q4_1, CPU_IPANEL_MIN32},
        {UE_TYPE_Q5_0, unpack_q5_0, CPU_IPANEL_MIN32},    {UE_TYPE_Q5_1, unpack_q5_1, CPU_IPANEL_MIN32},
        {UE_TYPE_Q8_0, unpack_q8_0, CPU_IPANEL_SIGNED32}, {UE_TYPE_Q4_K, unpack_q4_k, CPU_IPANEL_MIN32},
        {UE_TYPE_Q5_K, unpack_q5_k, CPU_IPANEL_MIN32},    {UE_TYPE_Q6_K, unpack_q6_k, CPU_IPANEL_SIGNED16},
    };
    for (size_t i = 0; i < sizeof unpack / sizeof *unpack; i++) {
        cpu_type_kernel *k = &k_vnni.type[unpack[i].type];
        if (!k->deq) continue; /* the prefill needs deq too (cpu_prefill.c) */
        k->unpack = unpack[i].fn;
        k->unpack_form = unpack[i].form;
    }
}

const cpu_kernel_set *cpu_kernels_avxvnni(void) {
    if (!cpu_kernels_avx2()) return 0;
    pthread_once(&k_vnni_once, vnni_init);
    return &k_vnni;
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
#include "backend/cpu/cpu_kernels.h"
const cpu_kernel_set *cpu_kernels_avxvnni(void) { return 0; }
#endif
