/* Tensor element types (src/core/types.h): traits of every type id, row sizes, IEEE half
 * and bfloat16 conversions, dequantization bit-exact against the gguf Python package, and
 * the scalar dot product against dequantize + dot. Fixtures: tools/make_type_fixtures.py. */
#include "test_util.h"

#include "core/types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_DIR "tests/fixtures/types/"

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t rd_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Deterministic xorshift generator for test inputs. */
static uint32_t rng_next(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static float rng_float(uint32_t *s) { /* uniform in [-1, 1) */
    return (float)((int32_t)rng_next(s)) / 2147483648.0f;
}

static const int k_removed_ids[] = {4, 5, 31, 32, 33, 36, 37, 38};
static const ue_type k_computable[] = {
    UE_TYPE_F32,  UE_TYPE_F16,  UE_TYPE_BF16, UE_TYPE_Q4_0, UE_TYPE_Q4_1,
    UE_TYPE_Q5_0, UE_TYPE_Q5_1, UE_TYPE_Q8_0, UE_TYPE_Q2_K, UE_TYPE_Q3_K,
    UE_TYPE_Q4_K, UE_TYPE_Q5_K, UE_TYPE_Q6_K, UE_TYPE_Q8_K, UE_TYPE_IQ4_NL,
};
#define N_COMPUTABLE (sizeof k_computable / sizeof k_computable[0])

static int is_removed(uint32_t id) {
    for (size_t i = 0; i < sizeof k_removed_ids / sizeof k_removed_ids[0]; i++)
        if ((uint32_t)k_removed_ids[i] == id) return 1;
    return 0;
}

static int is_computable(uint32_t id) {
    for (size_t i = 0; i < N_COMPUTABLE; i++)
        if ((uint32_t)k_computable[i] == id) return 1;
    return 0;
}

/* One dequantization fixture: raw blocks followed by the expected floats. */
typedef struct fixture {
    uint8_t *file;
    uint32_t type, n_blocks, block_size, type_size;
    const uint8_t *blocks;
    const uint8_t *expected; /* n_blocks * block_size little-endian f32, maybe unaligned */
} fixture;

static void fixture_load(fixture *fx, const char *name) {
    char path[256];
    snprintf(path, sizeof path, FIXTURE_DIR "%s.bin", name);
    size_t size;
    fx->file = ue_test_read_file(path, &size);
    assert_true(size >= 20);
    assert_memory_equal(fx->file, "UETF", 4);
    fx->type = rd_u32(fx->file + 4);
    fx->n_blocks = rd_u32(fx->file + 8);
    fx->block_size = rd_u32(fx->file + 12);
    fx->type_size = rd_u32(fx->file + 16);
    size_t want = 20 + (size_t)fx->n_blocks * fx->type_size + (size_t)fx->n_blocks * fx->block_size * 4;
    assert_int_equal(size, want);
    fx->blocks = fx->file + 20;
    fx->expected = fx->blocks + (size_t)fx->n_blocks * fx->type_size;
}

static const char *type_name(ue_type t) {
    return ue_type_get((uint32_t)t)->name;
}

static void test_traits_every_id(void **state) {
    (void)state;
    for (uint32_t id = 0; id < 256; id++) {
        const ue_type_traits *t = ue_type_get(id);
        if (id >= UE_TYPE_COUNT || is_removed(id)) {
            if (t) fail_msg("type id %u should be unknown, got %s", id, t->name);
            continue;
        }
        if (!t) fail_msg("type id %u should be known", id);
        assert_non_null(t->name);
        assert_true(t->name[0] != '\0');
        assert_true(t->block_size > 0 && t->type_size > 0);
        if (t->can_compute != is_computable(id))
            fail_msg("type %s: can_compute %d, expected %d", t->name, t->can_compute, is_computable(id));
    }
    assert_null(ue_type_get(UINT32_MAX));
    assert_string_equal(ue_type_get(UE_TYPE_Q4_K)->name, "Q4_K");
    assert_string_equal(ue_type_get(UE_TYPE_BF16)->name, "BF16");
}

/* Block and type sizes must agree with gguf.GGML_QUANT_SIZES, names too. One documented
 * exception: the package lists Q8_1 as 40 bytes (an old float-pair layout) while ggml's
 * block_q8_1 (two halves + 32 int8) is 36. Ids >= UE_TYPE_COUNT that newer packages know
 * are outside this interface and must stay unknown. */
static void test_sizes_match_gguf_package(void **state) {
    (void)state;
    size_t size;
    char *text = ue_test_read_file(FIXTURE_DIR "quant_sizes.txt", &size);
    int seen[UE_TYPE_COUNT] = {0};
    int lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        unsigned id, bs, ts;
        char name[32];
        assert_int_equal(sscanf(line, "%u %31s %u %u", &id, name, &bs, &ts), 4);
        lines++;
        const ue_type_traits *t = ue_type_get(id);
        if (id >= UE_TYPE_COUNT) {
            assert_null(t);
            continue;
        }
        if (!t) fail_msg("gguf type %s (%u) unknown here", name, id);
        seen[id] = 1;
        assert_string_equal(t->name, name);
        assert_int_equal(t->block_size, bs);
        if (id == UE_TYPE_Q8_1) {
            assert_int_equal(ts, 40);
            assert_int_equal(t->type_size, 36);
        } else if (t->type_size != ts) {
            fail_msg("type %s: type_size %u, gguf says %u", name, t->type_size, ts);
        }
    }
    assert_true(lines >= 32);
    for (uint32_t id = 0; id < UE_TYPE_COUNT; id++)
        if (!seen[id] && ue_type_get(id)) fail_msg("type id %u known here but not to gguf", id);
    free(text);
}

static void test_row_bytes(void **state) {
    (void)state;
    assert_int_equal(ue_type_row_bytes(UE_TYPE_Q4_K, 256), 144);
    assert_int_equal(ue_type_row_bytes(UE_TYPE_Q4_K, 640 * 256), 640 * 144);
    assert_int_equal(ue_type_row_bytes(UE_TYPE_Q4_K, 255), 0);
    assert_int_equal(ue_type_row_bytes(UE_TYPE_Q4_K, 257), 0);
    assert_int_equal(ue_type_row_bytes(UE_TYPE_Q6_K, 1152), 0); /* 1152 = 4.5 blocks */
    assert_int_equal(ue_type_row_bytes(UE_TYPE_Q8_0, 640), 20 * 34);
    assert_int_equal(ue_type_row_bytes(UE_TYPE_Q8_0, 33), 0);
    assert_int_equal(ue_type_row_bytes(UE_TYPE_Q5_0, 1152), 36 * 22);
    assert_int_equal(ue_type_row_bytes(UE_TYPE_F32, 3), 12);
    assert_int_equal(ue_type_row_bytes(UE_TYPE_BF16, 7), 14);
    assert_int_equal(ue_type_row_bytes(UE_TYPE_MXFP4, 64), 34);
    assert_int_equal(ue_type_row_bytes(UE_TYPE_Q4_0, 0), 0);
    assert_int_equal(ue_type_row_bytes(UE_TYPE_Q4_0, -32), 0);
    assert_int_equal(ue_type_row_bytes((ue_type)4, 32), 0);
    assert_int_equal(ue_type_row_bytes((ue_type)99, 32), 0);
    /* Overflowing byte counts read as 0, never as a wrapped size. */
    assert_int_equal(ue_type_row_bytes(UE_TYPE_F32, INT64_MAX), 0);
    assert_int_equal(ue_type_row_bytes(UE_TYPE_F64, INT64_MAX / 2), 0);
}

/* Bit-exact comparison; a NaN expected value only asks for NaN. */
static void expect_floats(const char *what, const float *got, const uint8_t *expected, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t want = rd_u32(expected + 4 * i);
        float wf = f32_from_bits(want);
        if (isnan(wf) ? !isnan(got[i]) : f32_bits(got[i]) != want)
            fail_msg("%s element %zu: got %.9g (0x%08x), expected %.9g (0x%08x)", what, i,
                     (double)got[i], f32_bits(got[i]), (double)wf, want);
    }
}

static void test_dequantize_matches_gguf(void **state) {
    (void)state;
    for (size_t k = 0; k < N_COMPUTABLE; k++) {
        ue_type type = k_computable[k];
        const ue_type_traits *t = ue_type_get((uint32_t)type);
        fixture fx;
        fixture_load(&fx, t->name);
        assert_int_equal(fx.type, type);
        assert_int_equal(fx.block_size, t->block_size);
        assert_int_equal(fx.type_size, t->type_size);
        size_t n = (size_t)fx.n_blocks * fx.block_size;
        size_t bytes = (size_t)fx.n_blocks * fx.type_size;
        float *out = malloc(n * sizeof *out);
        assert_non_null(out);

        ue_dequantize_row(type, fx.blocks, out, (int64_t)n);
        expect_floats(t->name, out, fx.expected, n);

        /* Blocks at an odd address (and one block at a time) must give the same bits. */
        uint8_t *shifted = malloc(bytes + 1);
        assert_non_null(shifted);
        memcpy(shifted + 1, fx.blocks, bytes);
        memset(out, 0xff, n * sizeof *out);
        for (uint32_t b = 0; b < fx.n_blocks; b++)
            ue_dequantize_row(type, shifted + 1 + (size_t)b * fx.type_size,
                              out + (size_t)b * fx.block_size, fx.block_size);
        expect_floats(t->name, out, fx.expected, n);

        free(shifted);
        free(out);
        free(fx.file);
    }
}

static void test_f16_to_f32_all_values(void **state) {
    (void)state;
    size_t size;
    uint8_t *table = ue_test_read_file(FIXTURE_DIR "f16_to_f32.bin", &size);
    assert_int_equal(size, 65536 * 4);
    int nans = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float got = ue_f16_to_f32((uint16_t)h);
        uint32_t want = rd_u32(table + 4 * h);
        if (isnan(f32_from_bits(want))) {
            nans++;
            if (!isnan(got)) fail_msg("half 0x%04x: expected NaN, got %g", h, (double)got);
        } else if (f32_bits(got) != want) {
            fail_msg("half 0x%04x: got 0x%08x, expected 0x%08x", h, f32_bits(got), want);
        }
    }
    assert_int_equal(nans, 2 * 1023);
    free(table);
}

static void test_f32_to_f16_round_trip(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ue_f16_to_f32((uint16_t)h);
        uint16_t back = ue_f32_to_f16(f);
        if (isnan(f)) {
            if (!isnan(ue_f16_to_f32(back))) fail_msg("half NaN 0x%04x lost its NaN-ness", h);
        } else if (back != h) {
            fail_msg("half 0x%04x -> %g -> 0x%04x", h, (double)f, back);
        }
    }
}

static void test_f32_to_f16_rounding(void **state) {
    (void)state;
    assert_int_equal(ue_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);       /* tie -> even */
    assert_int_equal(ue_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);   /* tie -> even (up) */
    assert_int_equal(ue_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    assert_int_equal(ue_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(ue_f32_to_f16(65519.99f), 0x7bff);
    assert_int_equal(ue_f32_to_f16(65520.0f), 0x7c00);              /* tie past max -> inf */
    assert_int_equal(ue_f32_to_f16(-1e10f), 0xfc00);
    assert_int_equal(ue_f32_to_f16(0x1p-24f), 0x0001);
    assert_int_equal(ue_f32_to_f16(0x1p-25f), 0x0000);               /* tie -> even (0) */
    assert_int_equal(ue_f32_to_f16(0x1p-25f + 0x1p-40f), 0x0001);
    assert_int_equal(ue_f32_to_f16(3 * 0x1p-25f), 0x0002);           /* tie -> even (2) */
    assert_int_equal(ue_f32_to_f16(-0x1p-26f), 0x8000);
    assert_int_equal(ue_f32_to_f16(0x1p-14f - 0x1p-25f), 0x0400);    /* carries to normal */
    assert_int_equal(ue_f32_to_f16(1e-40f), 0x0000);
    assert_int_equal(ue_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(ue_f32_to_f16(INFINITY), 0x7c00);
    assert_true(isnan(ue_f16_to_f32(ue_f32_to_f16(NAN))));
    assert_true(isnan(ue_f16_to_f32(ue_f32_to_f16(f32_from_bits(0x7f800001))))); /* tiny payload */

    /* Property over random inputs in and around the half range: the result is a nearest
     * half, and on a tie the even one. */
    uint32_t s = 12345;
    for (int i = 0; i < 200000; i++) {
        uint32_t u = rng_next(&s);
        u = (u & 0x807fffffu) | ((100u + rng_next(&s) % 44u) << 23); /* 2^-27 .. 2^16 */
        float x = f32_from_bits(u);
        uint16_t h = ue_f32_to_f16(x);
        double got = ue_f16_to_f32(h);
        double err = fabs((double)x - got);
        uint16_t mag = h & 0x7fff;
        if (mag == 0x7c00) {
            assert_true(fabs((double)x) >= 65520.0);
            continue;
        }
        if (mag < 0x7bff) assert_true(err <= fabs((double)x - ue_f16_to_f32((uint16_t)(h + 1))));
        if (mag > 0) {
            double other = fabs((double)x - ue_f16_to_f32((uint16_t)(h - 1)));
            assert_true(err <= other);
            if (err == other) assert_int_equal(h & 1, 0);
        }
    }
}

static void test_bf16(void **state) {
    (void)state;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = ue_bf16_to_f32((uint16_t)b);
        assert_int_equal(f32_bits(f), b << 16);
        uint16_t back = ue_f32_to_bf16(f);
        if (isnan(f)) {
            assert_true(isnan(ue_bf16_to_f32(back)));
            assert_int_equal(back & 0x40, 0x40); /* quiet */
        } else {
            assert_int_equal(back, b);
        }
    }
    assert_int_equal(ue_f32_to_bf16(f32_from_bits(0x3f808000)), 0x3f80); /* tie -> even */
    assert_int_equal(ue_f32_to_bf16(f32_from_bits(0x3f818000)), 0x3f82); /* tie -> even */
    assert_int_equal(ue_f32_to_bf16(f32_from_bits(0x3f808001)), 0x3f81);
    assert_int_equal(ue_f32_to_bf16(f32_from_bits(0x7f7fffff)), 0x7f80); /* max -> inf */
    assert_int_equal(ue_f32_to_bf16(f32_from_bits(0x7f800001)), 0x7fc0); /* sNaN -> qNaN */
    assert_int_equal(ue_f32_to_bf16(f32_from_bits(0xff800000)), 0xff80);
}

/* ue_dot_row_f32 must equal the float rounding of the double-precision, row-order sum of
 * dequantize_row(row)[i] * x[i]: the reference is defined that way, so the tolerance is
 * zero. Rows have odd block counts and sit at an odd address. */
static void test_dot_matches_dequantize(void **state) {
    (void)state;
    uint32_t s = 777;
    for (size_t k = 0; k < N_COMPUTABLE; k++) {
        ue_type type = k_computable[k];
        fixture fx;
        fixture_load(&fx, type_name(type));
        const uint32_t counts[] = {1, 3, 7, fx.block_size == 1 ? 37 : 13};
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            uint32_t nb = counts[c];
            assert_true(nb <= fx.n_blocks);
            /* Skip the trailing extreme-scale blocks for the longer rows but keep them in
             * the one-block case so big and tiny scales are covered too. */
            uint32_t first = nb == 1 ? fx.n_blocks - 1 - (rng_next(&s) % 8) : 0;
            size_t n = (size_t)nb * fx.block_size;
            size_t bytes = (size_t)nb * fx.type_size;
            uint8_t *buf = malloc(bytes + 1);
            float *x = malloc(n * sizeof *x);
            float *w = malloc(n * sizeof *w);
            assert_true(buf && x && w);
            memcpy(buf + 1, fx.blocks + (size_t)first * fx.type_size, bytes);
            for (size_t i = 0; i < n; i++) x[i] = rng_float(&s) * 4.0f;

            ue_dequantize_row(type, buf + 1, w, (int64_t)n);
            double ref = 0.0;
            for (size_t i = 0; i < n; i++) ref += (double)w[i] * (double)x[i];
            float got = ue_dot_row_f32(type, buf + 1, x, (int64_t)n);
            if (f32_bits(got) != f32_bits((float)ref) && !(isnan(got) && isnan(ref)))
                fail_msg("%s dot over %u blocks: got %.9g, expected %.9g", type_name(type), nb,
                         (double)got, ref);
            free(buf);
            free(x);
            free(w);
        }
        free(fx.file);
    }
}

/* A hand-made Q4_0 block: the nibble order (low nibbles first) and the -8 offset. */
static void test_q4_0_layout(void **state) {
    (void)state;
    uint8_t blk[18];
    uint16_t d = ue_f32_to_f16(0.5f);
    memcpy(blk, &d, 2);
    for (int j = 0; j < 16; j++) blk[2 + j] = (uint8_t)((15 - j) << 4 | j);
    float out[32];
    ue_dequantize_row(UE_TYPE_Q4_0, blk, out, 32);
    for (int j = 0; j < 16; j++) {
        assert_true(out[j] == 0.5f * (float)(j - 8));
        assert_true(out[j + 16] == 0.5f * (float)(15 - j - 8));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traits_every_id),
        cmocka_unit_test(test_sizes_match_gguf_package),
        cmocka_unit_test(test_row_bytes),
        cmocka_unit_test(test_dequantize_matches_gguf),
        cmocka_unit_test(test_f16_to_f32_all_values),
        cmocka_unit_test(test_f32_to_f16_round_trip),
        cmocka_unit_test(test_f32_to_f16_rounding),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_dot_matches_dequantize),
        cmocka_unit_test(test_q4_0_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
