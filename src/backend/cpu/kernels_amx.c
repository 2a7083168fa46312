/* AMX-INT8 integer prefill: the AVX-512 set with ipanel_gemm done by tile products
 * (TDPBSUD: signed weight bytes x unsigned activation bytes), same panels and unpacked rows
 * and the same exact int32 sums per scale block as kernels_avx512_ipanel.c. Tile layouts and
 * the Linux permission request: Intel SDM vol. 1 ch. 18 / vol. 2 (LDTILECFG, TDPBSUD) and
 * the kernel's Documentation/arch/x86/xstate.rst (ARCH_REQ_XCOMP_PERM). Written on a machine
 * without AMX: test_cpu_kernels checks it against the scalar reference where AMX is present. */
#if defined(__x86_64__) && defined(__linux__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/cpu/kernels_avx512.h"

enum { P = CPU_IPANEL_TOKENS, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18, KSTAGE = 2048 };

int cpu_amx_request(void) { return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0; }

/* Palette 1: tile 0 = A (16 weight rows x S bytes, staged), tiles 2, 3 = B hi / lo (S / 4
 * rows of 16 tokens x 4 bytes, straight from the panel: stride 256), tiles 4, 5 = C hi / lo
 * (16 rows x 16 tokens int32). */
typedef struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* The permission is per process on Linux, but is asked by each pool thread before its first
 * tile instruction, so a thread never depends on another having run first. The tiles stay
 * configured between calls (nothing else in the process uses AMX): t_cfg is the S of the
 * loaded configuration, 0 for none. */
static _Thread_local int t_perm, t_cfg;

static void ensure_config(int S) {
    if (t_cfg == S) return;
    _Alignas(64) tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 6; t++) {
        c.rows[t] = (uint8_t)(t == 2 || t == 3 ? S / 4 : 16);
        c.colsb[t] = (uint16_t)(t < 2 ? S : 64);
    }
    _tile_loadconfig(&c);
    t_cfg = S;
}

/* The weights of 16 rows (rows past nr repeat the last one; their sums are dropped) for
 * blocks [b0, b0 + nb) as the A tiles [nb][16][S], and their scales, offsets and
 * corrections as [nb][16]. */
static void stage(int S, const cpu_ipanel_rows *w, int nr, int r0, int64_t b0, int64_t nb, uint8_t *a, float *sc,
                  float *mn, int32_t *wc) {
    int idx[16];
    for (int m = 0; m < 16; m++) {
        int r = r0 + m < nr ? r0 + m : nr - 1, g0, g;
        idx[m] = (int)((size_t)r * w->lds);
        cpu_ipanel_group(r, nr, &g0, &g);
        const uint8_t *src = w->q + (size_t)g0 * w->ldq + (size_t)((r - g0) * S) + (size_t)(b0 * S * g);
        const size_t step = (size_t)(S * g);
        uint8_t *dst = a + m * S;
        if (S == 32)
            for (int64_t b = 0; b < nb; b++)
                _mm256_store_si256((__m256i *)(dst + b * 512), _mm256_loadu_si256((const __m256i *)(src + b * step)));
        else
            for (int64_t b = 0; b < nb; b++)
                _mm_store_si128((__m128i *)(dst + b * 256), _mm_loadu_si128((const __m128i *)(src + b * step)));
    }
    const __m512i vi = _mm512_loadu_si512(idx);
    const int min = w->form == CPU_IPANEL_MIN32;
    for (int64_t b = 0; b < nb; b++) {
        _mm512_store_ps(sc + 16 * b, _mm512_i32gather_ps(vi, w->sc + b0 + b, 4));
        _mm512_store_si512(wc + 16 * b, _mm512_i32gather_epi32(vi, w->wc + b0 + b, 4));
        if (min) _mm512_store_ps(mn + 16 * b, _mm512_i32gather_ps(vi, w->mn + b0 + b, 4));
    }
}

/* Sums of 16 staged rows x 16 tokens (tg) over nb blocks, into f: per block the hi and lo
 * products on tiles, then (hi + wc) << 8 + lo, the same exact int32 block sums and float
 * steps as the AVX-512 itile. */
static inline void blocks16(int S, int min, int64_t nb, const uint8_t *a, const float *sc, const float *mn,
                            const int32_t *wc, const uint8_t *xq, const float *dx, const float *xs, __m512 f[16]) {
    const int KQ = S / 4;
    _Alignas(64) int32_t c[2][16][16];
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *xb = xq + (size_t)b * (size_t)KQ * 256;
        _tile_loadd(0, a + b * 16 * S, S);
        _tile_loadd(2, xb, 256);
        _tile_loadd(3, xb + 128, 256);
        _tile_zero(4);
        _tile_zero(5);
        _tile_dpbsud(4, 0, 2);
        _tile_dpbsud(5, 0, 3);
        _tile_stored(4, c[0], 64);
        _tile_stored(5, c[1], 64);
        const int64_t b32 = b * S / 32;
        const __m512 vdx = _mm512_load_ps(dx + b32 * P), vxs = min ? _mm512_load_ps(xs + b32 * P) : vdx;
        const float *sb = sc + 16 * b, *mb = mn + 16 * b;
        const int32_t *wb = wc + 16 * b;
        for (int m = 0; m < 16; m++) {
            __m512i hi = _mm512_load_si512(c[0][m]), lo = _mm512_load_si512(c[1][m]);
            __m512i acc = _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(hi, _mm512_set1_epi32(wb[m])), 8), lo);
            __m512 ds = _mm512_mul_ps(vdx, _mm512_set1_ps(sb[m]));
            f[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), ds, f[m]);
            if (min) f[m] = _mm512_fnmadd_ps(_mm512_set1_ps(mb[m]), vxs, f[m]);
        }
    }
}

static void amx_ipanel_gemm(int64_t k0, int64_t kn, int64_t n, const cpu_ipanel_rows *w, int nr, const void *xp, int nt,
                     float *out, size_t ldo, int accumulate) {
    if (!t_perm) t_perm = cpu_amx_request() ? 1 : -1;
    if (t_perm < 0 || nr <= 0 || nt <= 0) {
        /* no permission (the detection asked and got it, so not expected): the VNNI path */
        cpu_avx512_ipanel_gemm(k0, kn, n, w, nr, xp, nt, out, ldo, accumulate);
        return;
    }
    const int S = cpu_ipanel_sub(w->form), min = w->form == CPU_IPANEL_MIN32, KQ = S / 4;
    const uint8_t *xb = (const uint8_t *)xp + (size_t)(k0 / 4) * 256;
    const float *dx = (const float *)((const uint8_t *)xp + cpu_ipanel_bytes(n)) + k0 / 32 * P;
    const float *xs = dx + n / 32 * P;
    const int64_t nbk = kn / S, nbs = KSTAGE / S; /* blocks in all, blocks per staging */
    /* on the stack (56 KB): as thread-local storage it would be zeroed, so resident, in
     * every thread the process starts, AMX or not */
    _Alignas(64) uint8_t a[16 * KSTAGE];
    _Alignas(64) float ssc[KSTAGE / 16 * 16], smn[KSTAGE / 16 * 16];
    _Alignas(64) int32_t swc[KSTAGE / 16 * 16];
    ensure_config(S);
    for (int r0 = 0; r0 < nr; r0 += 16) {
        const int live = nr - r0 < 16 ? nr - r0 : 16;
        const __mmask16 lm = (__mmask16)((1u << live) - 1);
        int64_t staged = -1;
        for (int tg = 0; tg * 16 < nt; tg++) {
            __m512 f[16];
            for (int m = 0; m < 16; m++) f[m] = _mm512_setzero_ps();
            for (int64_t b0 = 0; b0 < nbk; b0 += nbs) {
                const int64_t nb = nbk - b0 < nbs ? nbk - b0 : nbs;
                if (staged != b0) stage(S, w, nr, r0, b0, nb, a, ssc, smn, swc);
                staged = b0;
                blocks16(S, min, nb, a, ssc, smn, swc, xb + (size_t)b0 * (size_t)KQ * 256 + 64 * tg,
                         dx + b0 * S / 32 * P + 16 * tg, xs + b0 * S / 32 * P + 16 * tg, f);
            }
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
    k_amx.ipanel_gemm = amx_ipanel_gemm;
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
