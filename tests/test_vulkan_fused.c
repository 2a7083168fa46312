/* The Vulkan backend's decode-step variants (vk_decode.c) against the CPU scalar
 * reference backend composing the same ops: matmul_qkv, matmul_add_rms_norm and
 * attention_rope, each under every variant setting (UE_VK_QKV, UE_VK_MVNORM, UE_VK_ATTF,
 * UE_VK_MVS sizes, UE_VK_ATT_SPLIT, a tiny counter ring, 64 KiB storage-buffer windows
 * that force the composed path). Operands share buffers as in the model (the fused kernels need them in
 * one window); bytes between tensors are guards that must come back untouched, outputs
 * start as NaN. Calls are chained before one sync, as decode records them. Skips without
 * a Vulkan device. Tolerances beside each check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rand_data.h"
#include "test_util.h"
#include "vk_twin.h"

#include "backend/backend.h"

#ifdef UE_HAVE_VULKAN_BACKEND
static ue_backend *g_cpu, *g_vk;
enum { GAP = 256, MAX_REGIONS = 16 };

/* Random weight rows (random_rows) in a new malloc'd block. */
static uint8_t *new_rows(ue_type type, int64_t n, int64_t rows) {
    uint8_t *dst = malloc(ue_type_row_bytes(type, n) * (size_t)rows);
    assert_non_null(dst);
    random_rows(type, dst, n, rows);
    return dst;
}

/* One buffer on each backend holding several tensors GAP bytes apart, guards between. */
typedef struct pool {
    ue_buffer *cb, *gb;
    size_t size, used;
    size_t lo[MAX_REGIONS], hi[MAX_REGIONS];
    int n;
} pool;

/* A tensor placed in a pool: the CPU view and the Vulkan view. */
typedef struct pair {
    ue_tensor c, g;
} pair;

static void pool_open(pool *p, size_t size) {
    memset(p, 0, sizeof *p);
    p->size = size;
    ue_error err = {0};
    assert_int_equal(g_cpu->ops->buffer_create(g_cpu, size, &p->cb, &err), UE_OK);
    if (g_vk->ops->buffer_create(g_vk, size, &p->gb, &err) != UE_OK) fail_msg("%s", err.msg);
    uint8_t *fill = malloc(size);
    assert_non_null(fill);
    memset(fill, TWIN_GUARD_BYTE, size);
    assert_int_equal(g_cpu->ops->write(g_cpu, p->cb, 0, fill, size, &err), UE_OK);
    assert_int_equal(g_vk->ops->write(g_vk, p->gb, 0, fill, size, &err), UE_OK);
    free(fill);
}

/* Places [ne1, ne0] of type with data (NULL: NaN poison) after the last tensor. */
static pair pool_put(pool *p, ue_type type, int64_t ne0, int64_t ne1, const void *data) {
    size_t bytes = ue_type_row_bytes(type, ne0) * (size_t)ne1, off = p->used + GAP;
    assert_true(off + bytes + GAP <= p->size && p->n < MAX_REGIONS);
    p->lo[p->n] = off, p->hi[p->n++] = off + bytes;
    p->used = (off + bytes + 255) & ~(size_t)255;
    uint8_t *tmp = malloc(bytes);
    assert_non_null(tmp);
    if (data) memcpy(tmp, data, bytes);
    else memset(tmp, 0xFF, bytes);
    ue_error err = {0};
    assert_int_equal(g_cpu->ops->write(g_cpu, p->cb, off, tmp, bytes, &err), UE_OK);
    assert_int_equal(g_vk->ops->write(g_vk, p->gb, off, tmp, bytes, &err), UE_OK);
    free(tmp);
    pair r = {{.buf = p->cb, .offset = off, .type = type, .ne = {ne0, ne1}},
              {.buf = p->gb, .offset = off, .type = type, .ne = {ne0, ne1}}};
    return r;
}

/* Reads the Vulkan buffer back (malloc'd) and checks every byte outside the tensors. */
static uint8_t *pool_read(const pool *p, const char *what) {
    uint8_t *all = malloc(p->size);
    assert_non_null(all);
    ue_error err = {0};
    if (g_vk->ops->read(g_vk, p->gb, 0, all, p->size, &err) != UE_OK) fail_msg("read: %s", err.msg);
    for (size_t i = 0; i < p->size; i++) {
        int inside = 0;
        for (int r = 0; r < p->n && !inside; r++) inside = i >= p->lo[r] && i < p->hi[r];
        if (!inside && all[i] != TWIN_GUARD_BYTE) fail_msg("%s: guard byte %zu overwritten", what, i);
    }
    return all;
}

static void pool_close(pool *p) {
    g_cpu->ops->buffer_destroy(g_cpu, p->cb);
    g_vk->ops->buffer_destroy(g_vk, p->gb);
}

static const float *cpu_f32(const ue_tensor *t) {
    return (const float *)((const uint8_t *)t->buf->host + t->offset);
}

/* |gpu - cpu| <= atol + rtol * scale[i] (scale NULL: |cpu| + rms(cpu)) over tensor t. */
static void compare(const pool *p, const pair *t, const char *what, double atol, double rtol,
                    const double *scale) {
    uint8_t *all = pool_read(p, what);
    const float *g = (const float *)(all + t->g.offset), *c = cpu_f32(&t->c);
    size_t n = (size_t)(t->c.ne[0] * t->c.ne[1]);
    double rms = 0.0;
    for (size_t i = 0; i < n; i++) rms += (double)c[i] * c[i];
    rms = sqrt(rms / (double)n);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(g[i])) fail_msg("%s: element %zu is %f", what, i, g[i]);
        double tol = atol + rtol * (scale ? scale[i] : fabs(c[i]) + rms);
        if (fabs((double)g[i] - c[i]) > tol)
            fail_msg("%s: element %zu: vulkan %.7g, cpu %.7g (tolerance %.3g)", what, i, g[i], c[i], tol);
    }
    free(all);
}

/* q, k, v of one input, weights in one buffer and outputs in another (as the model's):
 * matmul tolerance, 2e-5 of sum |w||x|. */
static void check_qkv(ue_type tq, ue_type tv, int64_t k, int64_t rq, int64_t rkv, int64_t n_tok) {
    uint8_t *w[3] = {new_rows(tq, k, rq), new_rows(tq, k, rkv), new_rows(tv, k, rkv)};
    ue_type types[3] = {tq, tq, tv};
    int64_t rows[3] = {rq, rkv, rkv};
    float *x = random_f32(k * n_tok, 1.0f);
    pool pw, pa;
    pool_open(&pw, 3 * ue_type_row_bytes(UE_TYPE_F32, k) * (size_t)rq + 8192);
    pool_open(&pa, (size_t)(k + rq + 2 * rkv) * (size_t)n_tok * 4 + 8192);
    pair tw[3], to[3], tx = pool_put(&pa, UE_TYPE_F32, k, n_tok, x);
    for (int i = 0; i < 3; i++) tw[i] = pool_put(&pw, types[i], k, rows[i], w[i]);
    for (int i = 0; i < 3; i++) to[i] = pool_put(&pa, UE_TYPE_F32, rows[i], n_tok, NULL);
    g_cpu->ops->matmul_qkv(g_cpu, &tw[0].c, &tw[1].c, &tw[2].c, &tx.c, &to[0].c, &to[1].c, &to[2].c);
    g_vk->ops->matmul_qkv(g_vk, &tw[0].g, &tw[1].g, &tw[2].g, &tx.g, &to[0].g, &to[1].g, &to[2].g);
    sync_both(g_cpu, g_vk);
    for (int i = 0; i < 3; i++) {
        double *mag = matmul_mag(types[i], w[i], x, k, rows[i], n_tok);
        char what[96];
        snprintf(what, sizeof what, "matmul_qkv %s/%s k=%lld rows %lld/%lld tokens %lld: output %d",
                 ue_type_get(tq)->name, ue_type_get(tv)->name, (long long)k, (long long)rq,
                 (long long)rkv, (long long)n_tok, i);
        compare(&pa, &to[i], what, 1e-6, 2e-5, mag);
        free(mag);
        free(w[i]);
    }
    free(x);
    pool_close(&pw);
    pool_close(&pa);
}

static void test_matmul_qkv(void **state) {
    (void)state;
    check_qkv(UE_TYPE_Q4_K, UE_TYPE_Q4_K, 2560, 64, 32, 1); /* one dispatch */
    check_qkv(UE_TYPE_Q4_K, UE_TYPE_Q6_K, 512, 96, 32, 1);  /* q and k together, v apart */
    check_qkv(UE_TYPE_Q4_K, UE_TYPE_Q4_K, 768, 45, 19, 3);  /* odd row counts, 3 tokens */
    check_qkv(UE_TYPE_F16, UE_TYPE_F16, 320, 40, 24, 2);
    check_qkv(UE_TYPE_Q5_0, UE_TYPE_Q5_0, 640, 64, 16, 1);  /* repacked: separate */
}

/* matmul_add_rms_norm, twice in a row (the second reads the first's x): x and xn within
 * 1e-4 of |ref| + rms(ref) (the product's 2e-5 carried through two norms). */
static void check_mv_norm(ue_type type, int64_t k, int64_t n, int has_next, int64_t n_tok) {
    uint8_t *w = new_rows(type, k, n);
    float *y = random_f32(k * n_tok, 1.0f), *x = random_f32(n * n_tok, 2.0f);
    float *nw = random_f32(2 * n, 1.0f);
    pool pw, pn, pa;
    pool_open(&pw, ue_type_row_bytes(type, k) * (size_t)n + 4096);
    pool_open(&pn, (size_t)(2 * n) * 4 + 4096);
    pool_open(&pa, (size_t)(k + 3 * n) * (size_t)n_tok * 4 + 8192);
    pair tw = pool_put(&pw, type, k, n, w), tp = pool_put(&pn, UE_TYPE_F32, n, 1, nw);
    pair tn = pool_put(&pn, UE_TYPE_F32, n, 1, nw + n);
    pair ty = pool_put(&pa, UE_TYPE_F32, k, n_tok, y), to = pool_put(&pa, UE_TYPE_F32, n, n_tok, NULL);
    pair tx = pool_put(&pa, UE_TYPE_F32, n, n_tok, x), txn = pool_put(&pa, UE_TYPE_F32, n, n_tok, NULL);
    for (int rep = 0; rep < 2; rep++) {
        g_cpu->ops->matmul_add_rms_norm(g_cpu, &tw.c, &ty.c, &to.c, &tp.c, &tx.c,
                                        has_next ? &tn.c : NULL, 1e-6f, &txn.c);
        g_vk->ops->matmul_add_rms_norm(g_vk, &tw.g, &ty.g, &to.g, &tp.g, &tx.g,
                                       has_next ? &tn.g : NULL, 1e-6f, &txn.g);
    }
    sync_both(g_cpu, g_vk);
    char what[96];
    snprintf(what, sizeof what, "matmul_add_rms_norm %s k=%lld n=%lld next %d tokens %lld",
             ue_type_get(type)->name, (long long)k, (long long)n, has_next, (long long)n_tok);
    compare(&pa, &tx, what, 1e-6, 1e-4, NULL);
    if (has_next) compare(&pa, &txn, what, 1e-6, 1e-4, NULL);
    free(w);
    free(y);
    free(x);
    free(nw);
    pool_close(&pw);
    pool_close(&pn);
    pool_close(&pa);
}

static void test_matmul_add_rms_norm(void **state) {
    (void)state;
    check_mv_norm(UE_TYPE_Q4_K, 2048, 640, 1, 1);
    check_mv_norm(UE_TYPE_Q6_K, 1024, 2560, 1, 1); /* repacked weights */
    check_mv_norm(UE_TYPE_Q4_K, 512, 5000, 1, 1);  /* row past the registers: loops */
    check_mv_norm(UE_TYPE_Q5_0, 640, 96, 0, 1);    /* no next norm */
    check_mv_norm(UE_TYPE_Q4_K, 256, 320, 1, 2);   /* two tokens: composed */
}

/* attention_rope for two consecutive tokens before one sync (the second sees the first's
 * cache row): output within 1e-4 absolute and relative (scores of normed, rotated q and k;
 * f32 softmax in another order); the batch's cache rows: K as qk_norm_rope's tolerance
 * (angles in f32), V copied exactly; other rows untouched. */
static void check_att_rope(int n_head, int n_kv, int D, int64_t pos0, int window, int n_tok) {
    int64_t qd = (int64_t)n_head * D, kvd = (int64_t)n_kv * D, n_ctx = pos0 + 2 * n_tok + 5;
    float *q = random_f32(2 * qd * n_tok, 1.0f), *kv = random_f32(4 * kvd * n_tok, 1.0f);
    float *cache = random_f32(2 * kvd * n_ctx, 1.0f), *nw = random_f32(2 * D, 1.0f);
    for (int64_t r = pos0; r < n_ctx; r++) { /* rows from pos0 on: not written yet */
        memset(cache + r * kvd, 0, (size_t)kvd * 4);
        memset(cache + (n_ctx + r) * kvd, 0, (size_t)kvd * 4);
    }
    pool ps, pc, pn;
    pool_open(&ps, (size_t)(4 * qd + 8 * kvd) * (size_t)n_tok * 4 + 16384);
    pool_open(&pc, (size_t)(2 * kvd * n_ctx) * 4 + 4096);
    pool_open(&pn, (size_t)(2 * D) * 4 + 4096);
    pair tc = pool_put(&pc, UE_TYPE_F32, kvd, 2 * n_ctx, cache);
    pair tw = pool_put(&pn, UE_TYPE_F32, D, 2, nw);
    pair tq[2], tk[2], tv[2], to[2];
    for (int s = 0; s < 2; s++) {
        tq[s] = pool_put(&ps, UE_TYPE_F32, qd, n_tok, q + s * qd * n_tok);
        tk[s] = pool_put(&ps, UE_TYPE_F32, kvd, n_tok, kv + 2 * s * kvd * n_tok);
        tv[s] = pool_put(&ps, UE_TYPE_F32, kvd, n_tok, kv + (2 * s + 1) * kvd * n_tok);
        to[s] = pool_put(&ps, UE_TYPE_F32, qd, n_tok, NULL);
    }
    for (int s = 0; s < 2; s++)
        for (int side = 0; side < 2; side++) {
            ue_backend *be = side ? g_vk : g_cpu;
#define PICK(t) (side ? (t).g : (t).c)
            ue_tensor cache_t = PICK(tc), wt = PICK(tw);
            int64_t p0 = pos0 + s * n_tok;
            ue_tensor kc = ue_tensor_rows(&cache_t, 0, n_ctx), vc = ue_tensor_rows(&cache_t, n_ctx, n_ctx);
            ue_qk_rope_args r = {.q = PICK(tq[s]), .k = PICK(tk[s]), .v = PICK(tv[s]),
                                 .q_norm = ue_tensor_rows(&wt, 0, 1), .k_norm = ue_tensor_rows(&wt, 1, 1),
                                 .k_dst = ue_tensor_rows(&kc, p0, n_tok),
                                 .v_dst = ue_tensor_rows(&vc, p0, n_tok), .head_dim = D,
                                 .eps = 1e-6f, .pos0 = p0, .base = window ? 10000.0f : 1e6f,
                                 .freq_scale = window ? 1.0f : 0.125f};
            ue_attention_args a = {.q = PICK(tq[s]), .k_cache = kc, .v_cache = vc, .out = PICK(to[s]),
                                   .n_head = n_head, .n_head_kv = n_kv, .head_dim = D, .pos0 = p0,
                                   .window = window, .scale = 0.0625f, .bidir_begin = p0,
                                   .bidir_end = p0};
#undef PICK
            be->ops->attention_rope(be, &r, &a);
        }
    sync_both(g_cpu, g_vk);
    char what[128];
    snprintf(what, sizeof what, "attention_rope heads %d/%d dim %d pos %lld window %d tokens %d",
             n_head, n_kv, D, (long long)pos0, window, n_tok);
    for (int s = 0; s < 2; s++) compare(&ps, &to[s], what, 1e-4, 1e-4, NULL);
    double *mag = malloc((size_t)(2 * kvd * n_ctx) * sizeof *mag);
    assert_non_null(mag);
    for (int64_t i = 0; i < 2 * kvd * n_ctx; i++) mag[i] = 10.0;
    compare(&pc, &tc, what, 1e-5, 4e-4, mag);
    uint8_t *all = pool_read(&pc, what);
    const float *g = (const float *)(all + tc.g.offset), *c = cpu_f32(&tc.c);
    for (int64_t i = n_ctx * kvd; i < 2 * n_ctx * kvd; i++)
        if (g[i] != c[i]) fail_msg("%s: V cache element %lld differs", what, (long long)i);
    free(all);
    free(mag);
    free(q);
    free(kv);
    free(cache);
    free(nw);
    pool_close(&ps);
    pool_close(&pc);
    pool_close(&pn);
}

static void test_attention_rope(void **state) {
    (void)state;
    check_att_rope(4, 1, 256, 0, 0, 1);      /* first tokens */
    if (getenv("UE_VK_TEST_RANGE")) return; /* larger caches do not fit a 64 KiB window */
    check_att_rope(8, 4, 256, 61, 0, 1);     /* across the first split boundary */
    check_att_rope(4, 1, 256, 700, 0, 1);    /* 12 splits, merged by the last workgroup */
    check_att_rope(8, 4, 256, 2000, 512, 1); /* sliding window */
    check_att_rope(8, 4, 256, 4500, 0, 1);   /* 64 splits of 71 keys */
    check_att_rope(4, 2, 128, 100, 0, 1);    /* other head size: composed */
    check_att_rope(4, 1, 256, 30, 0, 3);     /* a batch: composed */
}

static int setup(void **state) {
    (void)state;
    vk_twin_backends_open(&g_cpu, &g_vk);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    vk_twin_backends_close(&g_cpu, &g_vk);
    return 0;
}

int main(void) {
    rnd_seed(0x9E3779B97F4A7C15ull);
    /* The fusions with f32 products, whose error (~1e-8 of sum |w||x|) these tolerances
     * carry through the norms; the 16-bit integer products (~1e-5 of it) are held to the
     * matmul tolerance in test_vulkan_ops and end to end in test_vulkan_variants. */
    setenv("UE_VK_Q16", "0", 1);
    /* Each setting: the environment the backend reads at creation. */
    static const char *settings[][2] = {
        {"composed (variants off)", ""},
        {"fused ops, default mul_mvs sizes", "UE_VK_QKV=1 UE_VK_MVNORM=1 UE_VK_ATTF=1"},
        {"fused ops, mul_mvs 128,2,32,1 for every mat-vec",
         "UE_VK_QKV=1 UE_VK_MVNORM=1 UE_VK_ATTF=1 UE_VK_MVS=100000,128,2,32,1"},
        {"fused ops, mul_mvs 256,4,64,2, 8 counters, 16-key attention splits",
         "UE_VK_QKV=1 UE_VK_MVNORM=1 UE_VK_ATTF=1 UE_VK_MVS=100000,256,4,64,2 UE_VK_SYNC_SLOTS=8 "
         "UE_VK_ATT_SPLIT=16"},
        {"fused ops, mul_mvs 128,1,4,3 (groups inside a subgroup)",
         "UE_VK_QKV=1 UE_VK_MVNORM=1 UE_VK_ATTF=1 UE_VK_MVS=100000,128,1,4,3"},
        {"fused ops, 64 KiB windows", "UE_VK_QKV=1 UE_VK_MVNORM=1 UE_VK_ATTF=1 UE_VK_TEST_RANGE=65536"},
    };
    static const char *vars[] = {"UE_VK_QKV", "UE_VK_MVNORM", "UE_VK_ATTF", "UE_VK_MVS",
                                 "UE_VK_SYNC_SLOTS", "UE_VK_TEST_RANGE", "UE_VK_ATT_SPLIT"};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_qkv),
        cmocka_unit_test(test_matmul_add_rms_norm),
        cmocka_unit_test(test_attention_rope),
    };
    int rc = 0;
    for (size_t s = 0; s < sizeof settings / sizeof settings[0] && !rc; s++) {
        for (size_t v = 0; v < sizeof vars / sizeof vars[0]; v++) unsetenv(vars[v]);
        char env[256];
        snprintf(env, sizeof env, "%s", settings[s][1]);
        for (char *tok = strtok(env, " "); tok; tok = strtok(NULL, " ")) {
            char *eq = strchr(tok, '=');
            *eq = '\0';
            setenv(tok, eq + 1, 1);
        }
        printf("setting: %s (%s)\n", settings[s][0], settings[s][1]);
        rc = cmocka_run_group_tests_name(settings[s][0], tests, setup, teardown);
    }
    return rc;
}

#else /* built without the Vulkan backend */
int main(void) { return vk_test_no_backend(); }
#endif
