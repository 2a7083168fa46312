/* The CPU backend's fused ops against the separate ops they replace, on every
 * instruction-set level this machine runs, bit for bit (each output element takes the same
 * arithmetic in the same order; only the work split differs):
 *  - prefill matmuls (cpu_prefill.c): matmul_qkv equals three matmuls and matmul_gelu two
 *    matmuls and gelu_mul, for batches on both sides of the prefill threshold, odd row
 *    counts, mixed weight types and rows split into column pieces; where rows are not
 *    split, matmul_gelu leaves `up` untouched: that is the memory it saves;
 *  - row ops (cpu_ops.c): add_rms_norm and qk_norm_rope equal their composition in
 *    fused_compose.c, with and without the next norm, f32 and f16 caches, one token (the
 *    calling thread alone) and batches over the threads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fused_compose.h"
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

static void assert_same_bytes(const char *what, cpu_isa isa, int64_t n_tok, const held *a, const held *b,
                              ue_backend *be) {
    size_t bytes = ue_type_row_bytes(a->t.type, a->t.ne[0]) * (size_t)a->t.ne[1];
    uint8_t *x = malloc(bytes), *y = malloc(bytes);
    ue_error err;
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(be->ops->read(be, a->buf, 0, x, bytes, &err), UE_OK);
    assert_int_equal(be->ops->read(be, b->buf, 0, y, bytes, &err), UE_OK);
    if (memcmp(x, y, bytes) != 0) {
        fprintf(stderr, "%s %s tokens=%lld: fused and composed differ\n", cpu_isa_env(isa), what, (long long)n_tok);
        fail();
    }
    free(x);
    free(y);
}

static void free_floats(float *const *p, int n) {
    for (int i = 0; i < n; i++) free(p[i]);
}

/* add_rms_norm on copies of the same o and x: x and xn (and o) equal. */
static void check_add_rms_norm(ue_backend *be, cpu_isa isa, int64_t n, int64_t n_tok, int with_next) {
    float *ov = random_f32(n * n_tok, 3.0f), *xv = random_f32(n * n_tok, 1.0f);
    float *wpv = random_f32(n, 1.0f), *wnv = random_f32(n, 1.0f);
    held o[2] = {make_f32(be, n, n_tok, ov), make_f32(be, n, n_tok, ov)};
    held x[2] = {make_f32(be, n, n_tok, xv), make_f32(be, n, n_tok, xv)};
    held xn[2] = {make_f32(be, n, n_tok, NULL), make_f32(be, n, n_tok, NULL)};
    held w[2] = {make_f32(be, n, 1, wpv), make_f32(be, n, 1, wnv)};
    const ue_tensor *wn = with_next ? &w[1].t : NULL;
    be->ops->add_rms_norm(be, &o[0].t, &w[0].t, &x[0].t, wn, 1e-6f, &xn[0].t);
    ue_compose_add_rms_norm(be, &o[1].t, &w[0].t, &x[1].t, wn, 1e-6f, &xn[1].t);
    assert_same("add_rms_norm x", isa, n, n_tok, &x[0], &x[1], be);
    if (with_next) assert_same("add_rms_norm xn", isa, n, n_tok, &xn[0], &xn[1], be);
    drop(be, o, 2);
    drop(be, x, 2);
    drop(be, xn, 2);
    drop(be, w, 2);
    free_floats((float *[]){ov, xv, wpv, wnv}, 4);
}

/* qk_norm_rope into caches of cache_type at position pos0: q and the cache rows equal. */
static void check_qk_norm_rope(ue_backend *be, cpu_isa isa, int head_dim, int n_tok, ue_type cache_type) {
    const int n_head = 4, n_kv = 2, pos0 = 37;
    int64_t qd = (int64_t)n_head * head_dim, kvd = (int64_t)n_kv * head_dim;
    float *qv = random_f32(qd * n_tok, 2.0f), *kv = random_f32(kvd * n_tok, 2.0f), *vv = random_f32(kvd * n_tok, 1.0f);
    float *qn = random_f32(head_dim, 1.0f), *kn = random_f32(head_dim, 1.0f);
    held q[2] = {make_f32(be, qd, n_tok, qv), make_f32(be, qd, n_tok, qv)};
    held k[2] = {make_f32(be, kvd, n_tok, kv), make_f32(be, kvd, n_tok, kv)};
    held v[2] = {make_f32(be, kvd, n_tok, vv), make_f32(be, kvd, n_tok, vv)};
    held norms[2] = {make_f32(be, head_dim, 1, qn), make_f32(be, head_dim, 1, kn)};
    held cache[4];
    size_t cache_bytes = ue_type_row_bytes(cache_type, kvd) * (size_t)(pos0 + n_tok);
    for (int i = 0; i < 4; i++) {
        ue_error err;
        assert_int_equal(be->ops->buffer_create(be, cache_bytes, &cache[i].buf, &err), UE_OK);
        uint8_t *zero = calloc(1, cache_bytes);
        assert_non_null(zero);
        assert_int_equal(be->ops->write(be, cache[i].buf, 0, zero, cache_bytes, &err), UE_OK);
        free(zero);
        cache[i].t = (ue_tensor){.buf = cache[i].buf, .type = cache_type, .ne = {kvd, pos0 + n_tok}};
    }
    ue_qk_rope_args a[2];
    for (int i = 0; i < 2; i++)
        a[i] = (ue_qk_rope_args){.q = q[i].t, .k = k[i].t, .v = v[i].t, .q_norm = norms[0].t, .k_norm = norms[1].t,
                                 .k_dst = ue_tensor_rows(&cache[2 * i].t, pos0, n_tok),
                                 .v_dst = ue_tensor_rows(&cache[2 * i + 1].t, pos0, n_tok),
                                 .head_dim = head_dim, .eps = 1e-6f, .pos0 = pos0, .base = 10000.0f,
                                 .freq_scale = 0.125f};
    be->ops->qk_norm_rope(be, &a[0]);
    ue_compose_qk_norm_rope(be, &a[1]);
    assert_same("qk_norm_rope q", isa, qd, n_tok, &q[0], &q[1], be);
    assert_same_bytes("qk_norm_rope k cache", isa, n_tok, &cache[0], &cache[2], be);
    assert_same_bytes("qk_norm_rope v cache", isa, n_tok, &cache[1], &cache[3], be);
    drop(be, q, 2);
    drop(be, k, 2);
    drop(be, v, 2);
    drop(be, norms, 2);
    drop(be, cache, 4);
    free_floats((float *[]){qv, kv, vv, qn, kn}, 5);
}

static void test_fused_rows_every_isa(void **state) {
    (void)state;
    static const int tokens[] = {1, 7, 70}; /* one token (serial), batches over the threads */
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        if (!cpu_isa_supported((cpu_isa)isa)) continue;
        for (int threads = 1; threads <= 3; threads += 2) {
            ue_backend *be = cpu_backend_at((cpu_isa)isa, threads, 0);
            for (size_t ti = 0; ti < sizeof tokens / sizeof *tokens; ti++) {
                check_add_rms_norm(be, (cpu_isa)isa, 640, tokens[ti], 1);
                check_add_rms_norm(be, (cpu_isa)isa, 1152, tokens[ti], 0);
                check_qk_norm_rope(be, (cpu_isa)isa, 256, tokens[ti], UE_TYPE_F32);
                check_qk_norm_rope(be, (cpu_isa)isa, 64, tokens[ti], UE_TYPE_F16);
            }
            be->ops->destroy(be);
        }
    }
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
        cmocka_unit_test(test_fused_rows_every_isa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
