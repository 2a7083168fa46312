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

enum { P = CPU_IPANEL_TOKENS, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };

int cpu_amx_request(void) { return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0; }

/* Palette 1: tiles 0, 1 = A (16 weight rows x S bytes each), tiles 2, 3 = B (S / 4 rows of
 * 16 tokens x 4 bytes, straight from the panel: stride 256), tiles 4..7 = C (16 rows x 16
 * tokens int32, for row group 0 / 1 x token group 0 / 1). Hi and lo bytes take turns on C,
 * so each B load serves both row groups. */
typedef struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

static void load_config(int S) {
    _Alignas(64) tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) {
        c.rows[t] = (uint8_t)(t == 2 || t == 3 ? S / 4 : 16);
        c.colsb[t] = (uint16_t)(t < 2 ? S : 64);
    }
    _tile_loadconfig(&c);
}

/* The permission is per process on Linux, but is asked by each pool thread before its first
 * tile instruction, so a thread never depends on another having run first. */
static _Thread_local int t_perm;

/* 32 rows from r0 (live of them real) x 2 token groups over kn values in blocks of S. */
static void amx_rows32(int S, int64_t kn, const cpu_ipanel_rows *w, int nr, int r0, int live, const uint8_t *xb,
                       const float *dx, const float *xs, int nt, float *out, size_t ldo, int accumulate) {
    const int KQ = S / 4, min = w->form == CPU_IPANEL_MIN32, tg2 = nt > 16, rg2 = live > 16;
    _Alignas(64) uint8_t a[32 * 32];
    _Alignas(64) int32_t c[2][4][16][16]; /* [hi, lo][row group * 2 + token group][row][token] */
    _Alignas(64) float f[32][32];
    const uint8_t *src[32];
    size_t step[32];
    memset(a, 0, sizeof a);
    memset(f, 0, sizeof f);
    for (int m = 0; m < live; m++) {
        int g0, g;
        cpu_ipanel_group(r0 + m, nr, &g0, &g);
        src[m] = w->q + (size_t)g0 * w->ldq + (size_t)((r0 + m - g0) * S);
        step[m] = (size_t)(S * g);
    }
    for (int64_t b = 0; b < kn / S; b++) {
        for (int m = 0; m < live; m++) memcpy(a + m * S, src[m] + (size_t)b * step[m], (size_t)S);
        const uint8_t *xq = xb + (size_t)b * (size_t)KQ * 256;
        _tile_loadd(0, a, S);
        if (rg2) _tile_loadd(1, a + 16 * S, S);
        for (int h = 0; h < 2; h++) {
            _tile_zero(4);
            _tile_zero(5);
            _tile_zero(6);
            _tile_zero(7);
            _tile_loadd(2, xq + 128 * h, 256);
            _tile_dpbsud(4, 0, 2);
            if (rg2) _tile_dpbsud(6, 1, 2);
            if (tg2) {
                _tile_loadd(3, xq + 128 * h + 64, 256);
                _tile_dpbsud(5, 0, 3);
                if (rg2) _tile_dpbsud(7, 1, 3);
            }
            _tile_stored(4, c[h][0], 64);
            if (tg2) _tile_stored(5, c[h][1], 64);
            if (rg2) {
                _tile_stored(6, c[h][2], 64);
                if (tg2) _tile_stored(7, c[h][3], 64);
            }
        }
        const int64_t b32 = b * S / 32;
        for (int m = 0; m < live; m++) {
            size_t at = (size_t)(r0 + m) * w->lds + (size_t)b;
            __m512i wc = _mm512_set1_epi32(w->wc[at]);
            __m512 s = _mm512_set1_ps(w->sc[at]);
            for (int t = 0; t <= tg2; t++) {
                int ct = (m >= 16) * 2 + t;
                __m512i hi = _mm512_load_si512(c[0][ct][m & 15]), lo = _mm512_load_si512(c[1][ct][m & 15]);
                __m512i acc = _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(hi, wc), 8), lo);
                __m512 ds = _mm512_mul_ps(_mm512_load_ps(dx + b32 * P + 16 * t), s);
                __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), ds, _mm512_load_ps(&f[m][16 * t]));
                if (min) v = _mm512_fnmadd_ps(_mm512_set1_ps(w->mn[at]), _mm512_load_ps(xs + b32 * P + 16 * t), v);
                _mm512_store_ps(&f[m][16 * t], v);
            }
        }
    }
    for (int t = 0; t < nt; t++)
        for (int m = 0; m < live; m++) {
            float *o = out + (size_t)t * ldo + r0 + m;
            *o = accumulate ? *o + f[m][t] : f[m][t];
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
    const int S = cpu_ipanel_sub(w->form);
    const uint8_t *xb = (const uint8_t *)xp + (size_t)(k0 / 4) * 256;
    const float *dx = (const float *)((const uint8_t *)xp + cpu_ipanel_bytes(n)) + k0 / 32 * P;
    const float *xs = dx + n / 32 * P;
    load_config(S);
    for (int r0 = 0; r0 < nr; r0 += 32)
        amx_rows32(S, kn, w, nr, r0, nr - r0 < 32 ? nr - r0 : 32, xb, dx, xs, nt, out, ldo, accumulate);
    _tile_release();
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
