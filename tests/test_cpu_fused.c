/* The CPU backend's fused prefill matmuls (cpu_prefill.c) against the separate ops they
 * replace, on every instruction-set level this machine runs: matmul_qkv equals three
 * matmuls and matmul_gelu equals two matmuls and gelu_mul, bit for bit (each output
 * element takes the same arithmetic in the same order; only the work split differs), for
 * batches on both sides of the prefill threshold, odd row counts, mixed weight types and
 * rows split into column pieces. Where rows are not split, matmul_gelu leaves `up`
 * untouched: that is the memory it saves. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_levels.h"
#include "rand_data.h"
#include "test_util.h"

/* A tensor in a fresh buffer of be: weights (type, rows of n) from random rows, or f32
 * [n][rows] filled with fill (NULL: the NaN poison pattern 0xff). */
typedef struct held {
    ue_buffer *buf;
    ue_tensor t;
} held;

static held make_weights(ue_backend *be, ue_type type, int64_t n, int64_t rows) {
    size_t bytes = ue_type_row_bytes(type, n) * (size_t)rows;
    uint8_t *w = malloc(bytes);
    assert_non_null(w);
    random_rows(type, w, n, rows);
    held h;
    ue_error err;
    assert_int_equal(be->ops->buffer_create(be, bytes, &h.buf, &err), UE_OK);
    assert_int_equal(be->ops->write(be, h.buf, 0, w, bytes, &err), UE_OK);
    free(w);
    h.t = (ue_tensor){.buf = h.buf, .type = type, .ne = {n, rows}};
    return h;
}

static held make_f32(ue_backend *be, int64_t n, int64_t rows, const float *fill) {
    size_t bytes = sizeof(float) * (size_t)(n * rows);
    held h;
    ue_error err;
    assert_int_equal(be->ops->buffer_create(be, bytes, &h.buf, &err), UE_OK);
    uint8_t *init = malloc(bytes);
    assert_non_null(init);
    if (fill) memcpy(init, fill, bytes);
    else memset(init, 0xff, bytes);
    assert_int_equal(be->ops->write(be, h.buf, 0, init, bytes, &err), UE_OK);
    free(init);
    h.t = (ue_tensor){.buf = h.buf, .type = UE_TYPE_F32, .ne = {n, rows}};
    return h;
}

static float *read_f32(ue_backend *be, const held *h) {
    size_t bytes = sizeof(float) * (size_t)(h->t.ne[0] * h->t.ne[1]);
    float *out = malloc(bytes);
    ue_error err;
    assert_non_null(out);
    assert_int_equal(be->ops->read(be, h->buf, 0, out, bytes, &err), UE_OK);
    return out;
}

static void assert_same(const char *what, cpu_isa isa, int64_t n, int64_t n_tok, const held *a, const held *b,
                        ue_backend *be) {
    float *x = read_f32(be, a), *y = read_f32(be, b);
    size_t count = (size_t)(a->t.ne[0] * a->t.ne[1]);
    for (size_t i = 0; i < count; i++)
        if (memcmp(&x[i], &y[i], sizeof(float)) != 0 || isnan(x[i])) {
            fprintf(stderr, "%s %s n=%lld tokens=%lld [%zu]: fused %.9g vs separate %.9g\n", cpu_isa_env(isa), what,
                    (long long)n, (long long)n_tok, i, x[i], y[i]);
            fail();
        }
    free(x);
    free(y);
}

static void drop(ue_backend *be, held *h, int count) {
    for (int i = 0; i < count; i++) be->ops->buffer_destroy(be, h[i].buf);
}

static void check_qkv(ue_backend *be, cpu_isa isa, const ue_type types[3], int64_t n, int64_t n_tok) {
    static const int64_t rows[3] = {37, 13, 19};
    float *xv = random_f32(n * n_tok, 1.0f);
    held x = make_f32(be, n, n_tok, xv);
    held w[3], fused[3], sep[3];
    for (int i = 0; i < 3; i++) {
        w[i] = make_weights(be, types[i], n, rows[i]);
        fused[i] = make_f32(be, rows[i], n_tok, NULL);
        sep[i] = make_f32(be, rows[i], n_tok, NULL);
    }
    be->ops->matmul_qkv(be, &w[0].t, &w[1].t, &w[2].t, &x.t, &fused[0].t, &fused[1].t, &fused[2].t);
    for (int i = 0; i < 3; i++) be->ops->matmul(be, &w[i].t, &x.t, &sep[i].t);
    for (int i = 0; i < 3; i++) assert_same("qkv", isa, n, n_tok, &fused[i], &sep[i], be);
    drop(be, w, 3);
    drop(be, fused, 3);
    drop(be, sep, 3);
    drop(be, &x, 1);
    free(xv);
}

static void check_gelu(ue_backend *be, cpu_isa isa, ue_type type, int64_t n, int64_t n_tok) {
    enum { ROWS = 50 };
    float *xv = random_f32(n * n_tok, 1.0f);
    held x = make_f32(be, n, n_tok, xv);
    held w[2] = {make_weights(be, type, n, ROWS), make_weights(be, type, n, ROWS)};
    held out[4]; /* fused g, u; separate g, u */
    for (int i = 0; i < 4; i++) out[i] = make_f32(be, ROWS, n_tok, NULL);
    be->ops->matmul_gelu(be, &w[0].t, &w[1].t, &x.t, &out[0].t, &out[1].t);
    be->ops->matmul(be, &w[0].t, &x.t, &out[2].t);
    be->ops->matmul(be, &w[1].t, &x.t, &out[3].t);
    be->ops->gelu_mul(be, &out[2].t, &out[3].t);
    assert_same("gelu", isa, n, n_tok, &out[0], &out[2], be);
    /* one column piece (<= 2048) with the integer prefill: up never written */
    if (n_tok >= 8 && n <= 2048 && cpu_kernels_get(isa)->ipanel_gemm) {
        float *u = read_f32(be, &out[1]);
        uint32_t poison;
        memset(&poison, 0xff, sizeof poison);
        for (int64_t i = 0; i < ROWS * n_tok; i++) assert_memory_equal(&u[i], &poison, sizeof poison);
        free(u);
    }
    drop(be, w, 2);
    drop(be, out, 4);
    drop(be, &x, 1);
    free(xv);
}

static void test_fused_prefill_every_isa(void **state) {
    (void)state;
    static const ue_type mixes[][3] = {
        {UE_TYPE_Q4_K, UE_TYPE_Q4_K, UE_TYPE_Q6_K},
        {UE_TYPE_Q8_0, UE_TYPE_Q5_0, UE_TYPE_Q4_0},
    };
    static const int64_t widths[] = {512, 2560}; /* one column piece, two */
    static const int64_t tokens[] = {5, 45};     /* decode-size batch, odd prefill */
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        if (!cpu_isa_supported((cpu_isa)isa)) {
            fprintf(stderr, "%s: not on this CPU, skipped\n", cpu_isa_env((cpu_isa)isa));
            continue;
        }
        for (int threads = 1; threads <= 3; threads += 2) {
            ue_backend *be = cpu_backend_at((cpu_isa)isa, threads, 0);
            for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
                for (size_t ti = 0; ti < sizeof tokens / sizeof *tokens; ti++) {
                    for (size_t m = 0; m < sizeof mixes / sizeof *mixes; m++)
                        check_qkv(be, (cpu_isa)isa, mixes[m], widths[wi], tokens[ti]);
                    check_gelu(be, (cpu_isa)isa, UE_TYPE_Q4_K, widths[wi], tokens[ti]);
                    check_gelu(be, (cpu_isa)isa, UE_TYPE_Q8_0, widths[wi], tokens[ti]);
                }
            be->ops->destroy(be);
        }
    }
}

int main(void) {
    rnd_seed(0x2545f4914f6cdd1dull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fused_prefill_every_isa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
