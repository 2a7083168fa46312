/* Quantizers (src/core/quantize.h): dequantize(quantize(x)) through the dequantizers of
 * core/types.h stays within each type's stated bound (quantize.c's header) on random
 * data of several scales and shapes, the stored scales are the ones the bound assumes
 * (not inflated), and the RMS error is about a uniform rounding error (step / sqrt(12)). */
#include "test_util.h"

#include "core/quantize.h"
#include "core/types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_BLOCKS 64
#define N_MAX (N_BLOCKS * 256)

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) / 9007199254740992.0; }

static float rng_normal(uint64_t *s) {
    double u1 = rng_unit(s), u2 = rng_unit(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

typedef enum dist { D_NORMAL, D_UNIFORM, D_OUTLIERS, D_POSITIVE, D_NEGATIVE, D_ZERO_BLOCKS,
                    D_CONSTANT, D_COUNT } dist;

static void fill(float *x, int n, dist d, float scale, uint64_t seed) {
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        float v;
        switch (d) {
        case D_UNIFORM: v = (float)(2.0 * rng_unit(&s) - 1.0); break;
        case D_OUTLIERS: v = rng_normal(&s) * (rng_next(&s) % 97 == 0 ? 30.0f : 1.0f); break;
        case D_POSITIVE: v = (float)(0.1 + rng_unit(&s)); break;
        case D_NEGATIVE: v = (float)(-0.1 - rng_unit(&s)); break;
        case D_ZERO_BLOCKS: v = (i / 256) % 2 ? rng_normal(&s) : 0.0f; break;
        case D_CONSTANT: v = (i / 32) % 2 ? 0.75f : -0.5f; break;
        default: v = rng_normal(&s); break;
        }
        x[i] = v * scale;
    }
}

static float rd_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return ue_f16_to_f32(h);
}

static float amax_of(const float *x, int n) {
    float a = 0.0f;
    for (int i = 0; i < n; i++) a = fmaxf(a, fabsf(x[i]));
    return a;
}

/* fp16 rounding slack on a scale s: half an ulp of fp16 relative, or one subnormal step. */
static float f16_slack(float s) { return fabsf(s) * (1.0f / 1024.0f) + 6.0e-8f; }

#define TOL(b) ((b) * 1.0001f + 1e-7f)

/* Checks one block of the legacy types: returns the nominal step (for the RMS check). */
static float check_legacy(ue_type type, const float *x, const float *y, const uint8_t *blk) {
    float d = rd_f16(blk), amax = amax_of(x, 32);
    if (type == UE_TYPE_Q8_0) {
        assert_true(d >= 0.0f && d <= amax / 127.0f + f16_slack(amax / 127.0f));
        for (int i = 0; i < 32; i++) assert_true(fabsf(x[i] - y[i]) <= TOL(d / 2));
        return d;
    }
    if (type == UE_TYPE_Q4_0 || type == UE_TYPE_Q5_0) {
        int half = type == UE_TYPE_Q4_0 ? 8 : 16;
        assert_true(fabsf(fabsf(d) - amax / (float)half) <= f16_slack(amax / (float)half));
        for (int i = 0; i < 32; i++) {
            float t = d != 0.0f ? x[i] / d : 0.0f; /* position on the grid -half..half-1 */
            /* past the top end (only the side opposite the extreme, |t| <= half): the
             * distance to that end, at most one step */
            float bound = t <= (float)half - 0.5f ? fabsf(d) / 2 : (t - (float)(half - 1)) * fabsf(d);
            assert_true(t <= (float)half * 1.001f);
            assert_true(fabsf(x[i] - y[i]) <= TOL(bound));
        }
        return fabsf(d);
    }
    if (type == UE_TYPE_Q4_1 || type == UE_TYPE_Q5_1) {
        int levels = type == UE_TYPE_Q4_1 ? 15 : 31;
        float m = rd_f16(blk + 2), mn = x[0], mx = x[0];
        for (int i = 1; i < 32; i++) mn = fminf(mn, x[i]), mx = fmaxf(mx, x[i]);
        float nominal = (mx - mn) / (float)levels;
        assert_true(m <= mn);
        assert_true(m + d * (float)levels >= mx - 1e-6f * fabsf(mx));
        assert_true(d <= nominal + f16_slack(nominal) + f16_slack(mn) / (float)levels);
        for (int i = 0; i < 32; i++) assert_true(fabsf(x[i] - y[i]) <= TOL(d / 2));
        return d;
    }
    /* IQ4_NL: each value is the nearest grid point. */
    static const int8_t T[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                 1,    13,   25,  38,  53,  69,  89,  113};
    assert_true(fabsf(fabsf(d) - amax / 127.0f) <= f16_slack(amax / 127.0f));
    for (int i = 0; i < 32; i++) {
        float best = INFINITY;
        for (int k = 0; k < 16; k++) best = fminf(best, fabsf(x[i] - d * (float)T[k]));
        assert_true(fabsf(x[i] - y[i]) <= TOL(best) + 1e-6f * fabsf(d));
        assert_true(fabsf(x[i] - y[i]) <= TOL(14.02f * fabsf(d))); /* 127 vs 113 */
    }
    return fabsf(d) * 12.0f; /* the grid's average gap */
}

/* Q4_K / Q5_K / Q6_K super-block: per sub-block bound from quantize.c. */
static float check_k(ue_type type, const float *x, const float *y, const uint8_t *blk) {
    if (type == UE_TYPE_Q6_K) {
        float d = rd_f16(blk + 208), s[16], max_s = 0.0f, sum = 0.0f;
        for (int j = 0; j < 16; j++) {
            s[j] = amax_of(x + 16 * j, 16) / 31.0f;
            max_s = fmaxf(max_s, s[j]);
        }
        assert_true(d >= 0.0f && d <= max_s / 127.0f + f16_slack(max_s / 127.0f));
        for (int j = 0; j < 16; j++) {
            sum += s[j];
            for (int i = 16 * j; i < 16 * j + 16; i++)
                assert_true(fabsf(x[i] - y[i]) <= TOL((s[j] + d) / 2));
        }
        return sum / 16.0f;
    }
    int levels = type == UE_TYPE_Q4_K ? 15 : 31;
    float d = rd_f16(blk), dmin = rd_f16(blk + 2), s[8], max_s = 0.0f, max_m = 0.0f, sum = 0.0f;
    for (int j = 0; j < 8; j++) {
        float mn = x[32 * j], mx = x[32 * j];
        for (int i = 32 * j; i < 32 * j + 32; i++) mn = fminf(mn, x[i]), mx = fmaxf(mx, x[i]);
        mn = fminf(mn, 0.0f);
        s[j] = (mx - mn) / (float)levels;
        max_s = fmaxf(max_s, s[j]);
        max_m = fmaxf(max_m, -mn);
    }
    assert_true(d >= 0.0f && d <= max_s / 63.0f + f16_slack(max_s / 63.0f));
    assert_true(dmin >= 0.0f && dmin <= max_m / 63.0f + f16_slack(max_m / 63.0f));
    for (int j = 0; j < 8; j++) {
        sum += s[j];
        float bound = fmaxf((s[j] + d) / 2, dmin / 2);
        for (int i = 32 * j; i < 32 * j + 32; i++) assert_true(fabsf(x[i] - y[i]) <= TOL(bound));
    }
    return sum / 8.0f;
}

static const ue_type k_types[] = {UE_TYPE_Q8_0, UE_TYPE_Q4_0, UE_TYPE_Q5_0,  UE_TYPE_Q4_1,
                                  UE_TYPE_Q5_1, UE_TYPE_IQ4_NL, UE_TYPE_Q4_K, UE_TYPE_Q5_K,
                                  UE_TYPE_Q6_K};

/* Round trip of every block type over every distribution and three scales; the row is
 * written one byte past an aligned buffer start (blocks sit at any address in files). */
static void test_block_types_round_trip(void **state) {
    (void)state;
    static float x[N_MAX], y[N_MAX];
    static uint8_t raw[N_MAX * 2 + 16];
    const float scales[] = {0.02f, 1.0f, 300.0f};
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        ue_type type = k_types[ti];
        const ue_type_traits *tr = ue_type_get(type);
        double worst_rms_ratio = 0.0;
        for (int dd = 0; dd < D_COUNT; dd++)
            for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++) {
                fill(x, N_MAX, (dist)dd, scales[si], 1000u * ti + 10u * (unsigned)dd + si);
                uint8_t *q = raw + 1;
                ue_error err;
                assert_int_equal(ue_quantize_row(type, x, q, N_MAX, &err), UE_OK);
                ue_dequantize_row(type, q, y, N_MAX);
                double se = 0.0, step_sum = 0.0;
                int n_blocks = N_MAX / (int)tr->block_size;
                for (int b = 0; b < n_blocks; b++) {
                    int off = b * (int)tr->block_size;
                    const uint8_t *blk = q + (size_t)b * tr->type_size;
                    float step = tr->block_size == 256 ? check_k(type, x + off, y + off, blk)
                                                       : check_legacy(type, x + off, y + off, blk);
                    step_sum += step;
                }
                for (int i = 0; i < N_MAX; i++) se += (double)(x[i] - y[i]) * (x[i] - y[i]);
                double rms = sqrt(se / N_MAX), mean_step = step_sum / n_blocks;
                if ((dist)dd == D_NORMAL && mean_step > 0) {
                    double ratio = rms / mean_step;
                    if (ratio > worst_rms_ratio) worst_rms_ratio = ratio;
                    /* A uniform rounding error is step/sqrt(12) = 0.29 step. */
                    assert_true(ratio < 0.40);
                }
                if ((dist)dd == D_ZERO_BLOCKS) /* an all-zero block decodes to zeros */
                    for (int i = 0; i < 256; i++) assert_true(y[i] == 0.0f);
            }
        printf("%-7s RMS error on normal data: %.3f x nominal step\n", tr->name, worst_rms_ratio);
    }
}

static void test_float_types(void **state) {
    (void)state;
    static float x[N_MAX], y[N_MAX];
    static uint8_t q[N_MAX * 4];
    fill(x, N_MAX, D_OUTLIERS, 3.0f, 7);
    x[0] = 0.0f;
    x[1] = -0.0f;
    x[2] = 65504.0f;
    ue_error err;
    assert_int_equal(ue_quantize_row(UE_TYPE_F32, x, q, N_MAX, &err), UE_OK);
    ue_dequantize_row(UE_TYPE_F32, q, y, N_MAX);
    assert_memory_equal(x, y, sizeof x);
    assert_int_equal(ue_quantize_row(UE_TYPE_F16, x, q + 1, N_MAX, &err), UE_OK);
    ue_dequantize_row(UE_TYPE_F16, q + 1, y, N_MAX);
    for (int i = 0; i < N_MAX; i++) assert_true(fabsf(x[i] - y[i]) <= fabsf(x[i]) / 2048.0f + 3e-8f);
    assert_true(y[2] == 65504.0f);
    assert_int_equal(ue_quantize_row(UE_TYPE_BF16, x, q + 1, N_MAX, &err), UE_OK);
    ue_dequantize_row(UE_TYPE_BF16, q + 1, y, N_MAX);
    for (int i = 0; i < N_MAX; i++) assert_true(fabsf(x[i] - y[i]) <= fabsf(x[i]) / 256.0f);
}

/* Values exactly on a Q8_0 grid come back exactly. */
static void test_q8_0_exact_grid(void **state) {
    (void)state;
    float x[64], y[64];
    uint8_t q[68];
    for (int i = 0; i < 64; i++) x[i] = (float)((i * 37) % 255 - 127) * 0.25f;
    ue_error err;
    assert_int_equal(ue_quantize_row(UE_TYPE_Q8_0, x, q, 64, &err), UE_OK);
    ue_dequantize_row(UE_TYPE_Q8_0, q, y, 64);
    assert_memory_equal(x, y, sizeof x);
}

static void test_errors(void **state) {
    (void)state;
    float x[256] = {0};
    uint8_t q[1024];
    ue_error err;
    assert_int_equal(ue_quantize_row(UE_TYPE_Q4_K, x, q, 255, &err), UE_ERR_ARGUMENT);
    assert_non_null(strstr(err.msg, "Q4_K"));
    assert_int_equal(ue_quantize_row(UE_TYPE_Q8_0, x, q, 0, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_quantize_row(UE_TYPE_Q2_K, x, q, 256, &err), UE_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "Q2_K"));
    assert_int_equal(ue_quantize_row((ue_type)4, x, q, 256, &err), UE_ERR_UNSUPPORTED);
    assert_false(ue_quantize_supported(UE_TYPE_Q8_K));
    assert_true(ue_quantize_supported(UE_TYPE_Q6_K));
    /* Non-finite input is well defined (no trap under UBSan), contents unspecified. */
    x[3] = NAN;
    x[7] = INFINITY;
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++)
        assert_int_equal(ue_quantize_row(k_types[ti], x, q, 256, &err), UE_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_types_round_trip),
        cmocka_unit_test(test_float_types),
        cmocka_unit_test(test_q8_0_exact_grid),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
