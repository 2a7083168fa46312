/* AMX-INT8 integer prefill: the AVX-512 set with ipanel_gemm done by tile products
 * (TDPBSUD: signed weight bytes x the unsigned hi / lo activation bytes of the same
 * panels) for the 32-element scale blocks, weights unpacked in groups of 16 rows (one A
 * tile per block, no staging), and the same exact int32 sums per block as
 * kernels_avx512_ipanel.c; Q6_K's 16-element blocks (half a tile's depth) stay on VNNI. Tile layouts and
 * the Linux permission request: Intel SDM vol. 1 ch. 18 / vol. 2 (LDTILECFG, TDPBSUD) and
 * the kernel's Documentation/arch/x86/xstate.rst (ARCH_REQ_XCOMP_PERM). Written on a machine
 * without AMX: test_cpu_kernels checks it against the scalar reference where AMX is present. */
#if defined(__x86_64__) && defined(__linux__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif

#include <math.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/cpu/kernels_avx512.h"

/* S: the 32-element scale blocks, the only ones on tiles (Q6_K's 16 stay on VNNI) */
enum { P = CPU_IPANEL_TOKENS, G = 16, S = 32, KQ = S / 4, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };

int cpu_amx_request(void) { return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0; }

/* Palette 1: tile 0 = A (16 weight rows x S bytes, straight from the unpacked rows: this
 * set's row groups are 16), tiles 1, 2 = B hi / lo (S / 4 rows of 16 tokens x 4 bytes,
 * straight from the panel: stride 256), tiles 4, 5 and 6, 7 = C hi / lo of two blocks in
 * flight (16 rows x 16 tokens int32). */
typedef struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* The permission is per process on Linux, but is asked by each pool thread before its first
 * tile instruction, so a thread never depends on another having run first. The tiles stay
 * configured between calls (nothing else in the process uses AMX). */
static _Thread_local int t_perm, t_configured;

static void ensure_config(void) {
    if (t_configured) return;
    _Alignas(64) tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    c.rows[0] = 16;
    c.colsb[0] = (uint16_t)S;
    for (int t = 1; t <= 2; t++) {
        c.rows[t] = (uint8_t)(S / 4);
        c.colsb[t] = 64;
    }
    for (int t = 4; t < 8; t++) {
        c.rows[t] = 16;
        c.colsb[t] = 64;
    }
    _tile_loadconfig(&c);
    t_configured = 1;
}

/* Block products into C tiles CH, CL: the hi and lo bytes of 16 tokens (unsigned, hi with
 * its + 128 bias) against 16 rows of signed weight bytes. */
#define ISSUE(CH, CL, a, xb)                                                                   \
    do {                                                                                       \
        _tile_loadd(0, (a), (S));                                                              \
        _tile_loadd(1, (xb), 256);                                                             \
        _tile_loadd(2, (xb) + 128, 256);                                                       \
        _tile_zero(CH);                                                                        \
        _tile_zero(CL);                                                                        \
        _tile_dpbsud(CH, 0, 1);                                                                \
        _tile_dpbsud(CL, 0, 2);                                                                \
    } while (0)

/* f[m] += the block's float sum of row m: ((hi + wc) << 8) + lo exact in int32, times the
 * token block scales and the row's scale, less the row's offset times the token sums.
 * Rows past live take the last live row's scales (their sums are never stored). */
static inline void epilogue(const int32_t c[2][16][16], int live, int min, const float *sc, const float *mn,
                            const int32_t *wc, size_t lds, __m512 vdx, __m512 vxs, __m512 f[16]) {
    for (int m = 0; m < 16; m++) {
        size_t at = (size_t)(m < live ? m : live - 1) * lds;
        __m512i hi = _mm512_add_epi32(_mm512_load_si512(c[0][m]), _mm512_set1_epi32(wc[at]));
        __m512i acc = _mm512_add_epi32(_mm512_slli_epi32(hi, 8), _mm512_load_si512(c[1][m]));
        f[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(vdx, _mm512_set1_ps(sc[at])), f[m]);
        if (min) f[m] = _mm512_fnmadd_ps(_mm512_set1_ps(mn[at]), vxs, f[m]);
    }
}

/* Sums of one row group (live rows from q, laid out [nb][32][live]... as [nb][live][32];
 * a tile reads 16) and 16 tokens over nb blocks, into f. Two blocks' products are in flight
 * on four C tiles, and a block's sums are scaled one iteration after they were stored, so
 * neither the tile unit nor the loads of the stored sums wait on the other. */
static inline void group_tokens16(int64_t nb, const uint8_t *q, int live, const cpu_ipanel_rows *w, int r0,
                                  const uint8_t *xb, const float *dx, const float *xs, __m512 f[16]) {
    const int min = w->form == CPU_IPANEL_MIN32;
    const float *sc = w->sc + (size_t)r0 * w->lds, *mn = w->mn + (size_t)r0 * w->lds;
    const int32_t *wc = w->wc + (size_t)r0 * w->lds;
    _Alignas(64) int32_t c[3][2][16][16];
    ISSUE(4, 5, q, xb);
    for (int64_t b = 0; b <= nb; b++) {
        if (b < nb) {
            if (b & 1) {
                _tile_stored(6, c[b % 3][0], 64);
                _tile_stored(7, c[b % 3][1], 64);
            } else {
                _tile_stored(4, c[b % 3][0], 64);
                _tile_stored(5, c[b % 3][1], 64);
            }
            if (b + 1 < nb) {
                const uint8_t *a = q + (size_t)(b + 1) * (size_t)(S * live), *x = xb + (size_t)(b + 1) * KQ * 256;
                if (b & 1)
                    ISSUE(4, 5, a, x);
                else
                    ISSUE(6, 7, a, x);
            }
        }
        if (b > 0) {
            const int64_t e = b - 1;
            const __m512 vdx = _mm512_load_ps(dx + e * P), vxs = min ? _mm512_load_ps(xs + e * P) : vdx;
            epilogue((const int32_t(*)[16][16])c[e % 3], live, min, sc + e, mn + e, wc + e, w->lds, vdx, vxs, f);
        }
    }
}

/* The same sums one product at a time, for a thread refused the tile permission (not
 * expected: the level is chosen only once the process holds it). */
static void scalar_ipanel_gemm(int64_t kn, const cpu_ipanel_rows *w, int nr, const uint8_t *xb, const float *dx,
                               const float *xs, int nt, float *out, size_t ldo, int accumulate) {
    const int min = w->form == CPU_IPANEL_MIN32;
    for (int r = 0; r < nr; r++) {
        int r0, g;
        cpu_ipanel_group(G, r, nr, &r0, &g);
        const uint8_t *q = w->q + (size_t)r0 * w->ldq + (size_t)((r - r0) * S);
        for (int t = 0; t < nt; t++) {
            float f = 0.0f;
            for (int64_t b = 0; b < kn / S; b++) {
                int32_t hi = w->wc[(size_t)r * w->lds + (size_t)b], lo = 0;
                for (int i = 0; i < S; i++) {
                    const uint8_t *x = xb + (size_t)((b * S + i) / 4) * 256 + (size_t)(4 * t + i % 4);
                    hi += (int8_t)q[(size_t)(b * S * g) + (size_t)i] * (int32_t)x[0];
                    lo += (int8_t)q[(size_t)(b * S * g) + (size_t)i] * (int32_t)x[128];
                }
                f = fmaf((float)(hi * 256 + lo), dx[b * P + t] * w->sc[(size_t)r * w->lds + (size_t)b], f);
                if (min) f = fmaf(-w->mn[(size_t)r * w->lds + (size_t)b], xs[b * P + t], f);
            }
            float *o = out + (size_t)t * ldo + r;
            *o = accumulate ? *o + f : f;
        }
    }
}

static void amx_ipanel_gemm(int64_t k0, int64_t kn, int64_t n, const cpu_ipanel_rows *w, int nr, const void *xp, int nt,
                            float *out, size_t ldo, int accumulate) {
    if (w->form == CPU_IPANEL_SIGNED16) { /* 16-element blocks: half a tile's depth, VNNI is faster */
        cpu_avx512_ipanel_gemm(k0, kn, n, w, nr, xp, nt, out, ldo, accumulate);
        return;
    }
    if (!t_perm) t_perm = cpu_amx_request() ? 1 : -1;
    if (nr <= 0 || nt <= 0) return;
    const uint8_t *xb = (const uint8_t *)xp + (size_t)(k0 / 4) * 256;
    const float *dx = (const float *)((const uint8_t *)xp + cpu_ipanel_bytes(n)) + k0 / 32 * P;
    const float *xs = dx + n / 32 * P;
    if (t_perm < 0) {
        scalar_ipanel_gemm(kn, w, nr, xb, dx, xs, nt, out, ldo, accumulate);
        return;
    }
    const int64_t nb = kn / S;
    ensure_config();
    for (int r0 = 0; r0 < nr; r0 += G) {
        const int live = nr - r0 < G ? nr - r0 : G;
        const __mmask16 lm = (__mmask16)((1u << live) - 1);
        const uint8_t *q = w->q + (size_t)r0 * w->ldq;
        for (int tg = 0; tg * 16 < nt; tg++) {
            __m512 f[16];
            for (int m = 0; m < 16; m++) f[m] = _mm512_setzero_ps();
            group_tokens16(nb, q, live, w, r0, xb + 64 * tg, dx + 16 * tg, xs + 16 * tg, f);
            transpose16((__m512i *)f); /* the float bits move as dwords */
            const int tn = nt - 16 * tg < 16 ? nt - 16 * tg : 16;
            for (int t = 0; t < tn; t++) {
                float *o = out + (size_t)(16 * tg + t) * ldo + r0;
                __m512 v = accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(lm, o), f[t]) : f[t];
                _mm512_mask_storeu_ps(o, lm, v);
            }
        }
    }
}

static cpu_kernel_set k_amx;
static pthread_once_t k_amx_once = PTHREAD_ONCE_INIT;

static void amx_init(void) {
    k_amx = *cpu_kernels_avx512();
    k_amx.name = "AVX-512 VNNI + AMX-INT8";
    k_amx.isa = CPU_ISA_AMX;
    /* the tiles take byte panels (the AVX-512 set's default is word panels) */
    k_amx.ipanel_pack = cpu_avx512_ipanel_pack;
    k_amx.ipanel_gemm = amx_ipanel_gemm;
    k_amx.ipanel_qbytes = 1;
    static const struct {
        ue_type type;
        cpu_unpack_fn fn;
    } bytes[] = {{UE_TYPE_Q4_0, cpu_avx512_unpack_q4_0}, {UE_TYPE_Q4_1, cpu_avx512_unpack_q4_1},
                 {UE_TYPE_Q5_0, cpu_avx512_unpack_q5_0}, {UE_TYPE_Q5_1, cpu_avx512_unpack_q5_1},
                 {UE_TYPE_Q8_0, cpu_avx512_unpack_q8_0}, {UE_TYPE_Q4_K, cpu_avx512_unpack_q4_k},
                 {UE_TYPE_Q5_K, cpu_avx512_unpack_q5_k}, {UE_TYPE_Q6_K, cpu_avx512_unpack_q6_k}};
    for (size_t i = 0; i < sizeof bytes / sizeof *bytes; i++) k_amx.type[bytes[i].type].unpack = bytes[i].fn;
    k_amx.ipanel_rows[CPU_IPANEL_MIN32] = G;
    k_amx.ipanel_rows[CPU_IPANEL_SIGNED32] = G;
}

const cpu_kernel_set *cpu_kernels_amx(void) {
    if (!cpu_kernels_avx512()) return 0;
    pthread_once(&k_amx_once, amx_init);
    return &k_amx;
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
#include "backend/cpu/cpu_kernels.h"
int cpu_amx_request(void) { return 0; }
const cpu_kernel_set *cpu_kernels_amx(void) { return 0; }
#endif
