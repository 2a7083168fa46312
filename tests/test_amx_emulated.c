/* The AMX level's prefill kernel (src/backend/cpu/kernels_amx.c) on machines without AMX:
 * the file is compiled into this test with its tile instructions replaced by a scalar model
 * of what the Intel SDM documents for them (LDTILECFG palette 1, TILELOADD, TILESTORED,
 * TILEZERO, TDPBSUD: signed bytes of the first source times unsigned bytes of the second,
 * four per int32 lane), and its results are compared bit for bit with the AVX-512 VNNI
 * gemm on random shapes of every weight form: whole and partial 16-row groups, odd token
 * counts, column pieces and accumulation. The model also traps on any tile used outside
 * its configured shape. On real AMX hardware test_cpu_kernels runs the true instructions;
 * this keeps the kernel's layout and arithmetic checked in CI. Skips without AVX-512 VNNI. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

/* ---------------------------------------------------------------- the tile model */

#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#endif

#undef _tile_loadconfig
#undef _tile_loadd
#undef _tile_stored
#undef _tile_zero
#undef _tile_dpbsud

static _Thread_local struct {
    int rows[8], colsb[8], configured;
    uint8_t data[8][16][64];
} tiles;

static void model_loadconfig(const void *cfg) {
    const uint8_t *c = cfg;
    if (c[0] != 1) abort(); /* palette 1 only */
    for (int t = 0; t < 8; t++) {
        uint16_t cb;
        memcpy(&cb, c + 16 + 2 * t, 2);
        if (cb > 64 || c[48 + t] > 16) abort();
        tiles.colsb[t] = cb;
        tiles.rows[t] = c[48 + t];
    }
    tiles.configured = 1;
}

static void model_check(int t) {
    if (!tiles.configured || t < 0 || t > 7 || !tiles.rows[t] || !tiles.colsb[t]) abort();
}

static void model_load(int t, const void *p, long stride) {
    model_check(t);
    memset(tiles.data[t], 0, sizeof tiles.data[t]);
    for (int r = 0; r < tiles.rows[t]; r++) memcpy(tiles.data[t][r], (const uint8_t *)p + r * stride, (size_t)tiles.colsb[t]);
}

static void model_store(int t, void *p, long stride) {
    model_check(t);
    for (int r = 0; r < tiles.rows[t]; r++) memcpy((uint8_t *)p + r * stride, tiles.data[t][r], (size_t)tiles.colsb[t]);
}

static void model_zero(int t) {
    model_check(t);
    memset(tiles.data[t], 0, sizeof tiles.data[t]);
}

static void model_dpbsud(int c, int a, int b) {
    model_check(c);
    model_check(a);
    model_check(b);
    int M = tiles.rows[c], N = tiles.colsb[c] / 4, K = tiles.colsb[a] / 4;
    if (tiles.rows[a] != M || tiles.rows[b] != K || tiles.colsb[b] != tiles.colsb[c]) abort();
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            int32_t acc;
            memcpy(&acc, &tiles.data[c][m][4 * n], 4);
            for (int k = 0; k < K; k++)
                for (int i = 0; i < 4; i++)
                    acc += (int8_t)tiles.data[a][m][4 * k + i] * (int32_t)tiles.data[b][k][4 * n + i];
            memcpy(&tiles.data[c][m][4 * n], &acc, 4);
        }
}

#define _tile_loadconfig(cfg) model_loadconfig(cfg)
#define _tile_loadd(t, p, s) model_load(t, p, s)
#define _tile_stored(t, p, s) model_store(t, p, s)
#define _tile_zero(t) model_zero(t)
#define _tile_dpbsud(c, a, b) model_dpbsud(c, a, b)

/* its target pragma (AVX-512, AMX) ends with it: the rest of this file runs anywhere */
#pragma GCC push_options
#include "backend/cpu/kernels_amx.c"
#pragma GCC pop_options

/* ---------------------------------------------------------------- the comparison */

#if defined(__x86_64__) && defined(__linux__)

#include "rand_data.h"

/* Rows v[r][k] laid out in groups of G rows (cpu_kernels.h). */
static void lay_out(int G, const int8_t *v, int nr, int64_t kn, int S, uint8_t *q) {
    for (int r = 0; r < nr; r++) {
        int r0, g;
        cpu_ipanel_group(G, r, nr, &r0, &g);
        for (int64_t b = 0; b < kn / S; b++)
            for (int i = 0; i < S; i++) q[(size_t)r0 * (size_t)kn + (size_t)(b * S * g + (r - r0) * S + i)] = (uint8_t)v[r * kn + b * S + i];
    }
}

static void check_shape(int form, int64_t n, int64_t k0, int64_t kn, int nr, int nt, int accumulate) {
    const int S = cpu_ipanel_sub((cpu_ipanel_form)form);
    float *x = random_f32(32 * n, 1.0f);
    uint8_t *xp = aligned_alloc(64, cpu_ipanel_size(n)), *tmp = malloc((size_t)(64 * n));
    assert_non_null(xp);
    assert_non_null(tmp);
    cpu_avx512_ipanel_pack(x, (size_t)n, nt, n, 0, n, xp, tmp);
    size_t lds = (size_t)(kn / S), bytes = (size_t)nr * (size_t)kn;
    int8_t *v = malloc(bytes);
    uint8_t *q6 = malloc(bytes), *q16 = calloc(1, bytes + 512); /* a tile reads whole groups */
    float *sc = malloc(sizeof(float) * (size_t)nr * lds), *mn = malloc(sizeof(float) * (size_t)nr * lds);
    int32_t *wc = malloc(sizeof(int32_t) * (size_t)nr * lds);
    assert_true(v && q6 && q16 && sc && mn && wc);
    for (int r = 0; r < nr; r++)
        for (size_t b = 0; b < lds; b++) {
            int sum = 0;
            for (int i = 0; i < S; i++) {
                int q = form == CPU_IPANEL_MIN32 ? (int)(rnd_u32() % 128) : (int)(rnd_u32() % 256) - 128;
                v[(size_t)r * (size_t)kn + b * (size_t)S + (size_t)i] = (int8_t)q;
                sum += q;
            }
            sc[(size_t)r * lds + b] = rnd_f(-0.01f, 0.01f);
            mn[(size_t)r * lds + b] = rnd_f(-0.1f, 0.1f);
            wc[(size_t)r * lds + b] = -128 * sum;
        }
    int G = k_amx.ipanel_rows[form] > 0 ? k_amx.ipanel_rows[form] : CPU_IPANEL_ROWS;
    lay_out(CPU_IPANEL_ROWS, v, nr, kn, S, q6);
    lay_out(G, v, nr, kn, S, q16);
    cpu_ipanel_rows w6 = {q6, (size_t)kn, sc, mn, wc, lds, (cpu_ipanel_form)form};
    cpu_ipanel_rows w16 = {q16, (size_t)kn, sc, mn, wc, lds, (cpu_ipanel_form)form};
    size_t ldo = (size_t)nr + 3, count = 32 * ldo;
    float *want = malloc(sizeof(float) * count), *tile = malloc(sizeof(float) * count), *scal = malloc(sizeof(float) * count);
    assert_true(want && tile && scal);
    for (size_t i = 0; i < count; i++) want[i] = tile[i] = scal[i] = rnd_f(-1.0f, 1.0f);
    cpu_avx512_ipanel_gemm(k0, kn, n, &w6, nr, xp, nt, want, ldo, accumulate);
    t_perm = 1; /* as granted: the tile path */
    amx_ipanel_gemm(k0, kn, n, &w16, nr, xp, nt, tile, ldo, accumulate);
    t_perm = -1; /* as refused: the scalar loop over the same layout */
    amx_ipanel_gemm(k0, kn, n, &w16, nr, xp, nt, scal, ldo, accumulate);
    for (size_t i = 0; i < count; i++)
        if (memcmp(&want[i], &tile[i], sizeof(float)) != 0 || fabsf(want[i] - scal[i]) > 1e-5f * (1.0f + fabsf(want[i]))) {
            fprintf(stderr, "form %d n %lld k0 %lld kn %lld rows %d tokens %d acc %d [%zu]: VNNI %.9g tiles %.9g scalar %.9g\n",
                    form, (long long)n, (long long)k0, (long long)kn, nr, nt, accumulate, i, want[i], tile[i], scal[i]);
            fail();
        }
    free(x);
    free(xp);
    free(tmp);
    free(v);
    free(q6);
    free(q16);
    free(sc);
    free(mn);
    free(wc);
    free(want);
    free(tile);
    free(scal);
}

static void test_amx_kernel_matches_vnni(void **state) {
    (void)state;
    if (!cpu_isa_supported(CPU_ISA_AVX512)) {
        fprintf(stderr, "no AVX-512 VNNI here: the comparison needs its gemm, skipped\n");
        skip();
    }
    amx_init();
    static const int rows[] = {16, 48, 1, 13, 37, 80};
    for (int form = 0; form < 3; form++)
        for (int i = 0; i < 12; i++) {
            int64_t n = 256 * (1 + (int64_t)(rnd_u32() % 4)), k0 = (i & 2) ? 128 : 0, kn = n - k0;
            if (i % 3 == 0) kn = 64 * (1 + (n - k0) / 128);
            int nr = i < 6 ? rows[i] : 1 + (int)(rnd_u32() % 80), nt = i == 0 ? 32 : 1 + (int)(rnd_u32() % 32);
            check_shape(form, n, k0, kn, nr, nt, i & 1);
        }
}

int main(void) {
    rnd_seed(0x5851f42d4c957f2dull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amx_kernel_matches_vnni),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else
int main(void) {
    fprintf(stderr, "not x86-64 Linux: no AMX level to check, skipped\n");
    return 77;
}
#endif
