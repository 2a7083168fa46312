/* The Vulkan backend's vision encoder ops (layer_norm, add_bias, gelu, attention_full,
 * avg_pool) and the encoder's matmul shapes against the CPU scalar reference backend
 * (cpu-ref), as test_vulkan_ops.c does for the text ops: odd shapes, SigLIP's head_dim 72
 * and token counts that are no multiple of the workgroup tiles; every output between guard
 * regions that must come back untouched, poisoned with NaN first, and finite. A second
 * pass shrinks the storage-buffer range (UE_VK_TEST_RANGE) so activations larger than a
 * window go in pieces. Runs on any Vulkan device (lavapipe in CI); skips when there is
 * none. Tolerances are stated beside each check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rand_data.h"
#include "test_util.h"
#include "vk_twin.h"

#include "backend/backend.h"
#include "core/quantize.h"
#include "model/siglip.h"

#ifdef UE_HAVE_VULKAN_BACKEND
static ue_backend *g_cpu, *g_vk;
static int g_windowed; /* second pass: 64 KiB storage-buffer windows */

/* layer_norm: f32 mean and variance against the CPU's double: 1e-5 absolute + 2e-5
 * relative on outputs of size |w| * |x - mean| / std + |b| (a few units). Out of place
 * (weight and bias in their own buffers) and in place. */
static void test_layer_norm(void **state) {
    (void)state;
    int64_t shapes[][2] = {{1152, 37}, {67, 5}, {2000, 3}, {13, 1}, {48, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t n = shapes[s][0], rows = shapes[s][1];
        float *x = random_f32_about(n * rows, 3.0f, 0.5f), *w = random_f32_about(n, 0.2f, 1.0f);
        float *b = random_f32_about(n, 0.1f, 0.0f);
        twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, x);
        twin tw = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, 1, w);
        twin tb = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, 1, b);
        twin to = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, NULL);
        g_cpu->ops->layer_norm(g_cpu, &tx.c, &tw.c, &tb.c, 1e-6f, &to.c);
        g_vk->ops->layer_norm(g_vk, &tx.g, &tw.g, &tb.g, 1e-6f, &to.g);
        g_cpu->ops->layer_norm(g_cpu, &tx.c, &tw.c, &tb.c, 1e-6f, &tx.c); /* in place */
        g_vk->ops->layer_norm(g_vk, &tx.g, &tw.g, &tb.g, 1e-6f, &tx.g);
        sync_both(g_cpu, g_vk);
        char what[64];
        snprintf(what, sizeof what, "layer_norm %lld x %lld", (long long)n, (long long)rows);
        double d = compare_f32(&to, what, 1e-5, 2e-5, NULL);
        compare_f32(&tx, what, 1e-5, 2e-5, NULL);
        printf("%-32s max |diff| %.3g\n", what, d);
        free(x);
        free(w);
        free(b);
        twin_free(&tx);
        twin_free(&tw);
        twin_free(&tb);
        twin_free(&to);
    }
}

/* add_bias exact (one f32 addition on both sides); gelu within 1e-6 + 1e-5 relative
 * (exp against tanhf: a few ulp, and the CPU's 1 + tanh cancels for negative inputs). */
static void test_add_bias_gelu(void **state) {
    (void)state;
    int64_t shapes[][2] = {{1031, 3}, {4304, 5}, {72, 70}, {1, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t n = shapes[s][0], rows = shapes[s][1];
        float *x = random_f32_about(n * rows, 4.0f, 0.0f), *b = random_f32_about(n, 1.0f, 0.0f);
        twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, x);
        twin tg = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, x);
        twin tb = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, 1, b);
        g_cpu->ops->add_bias(g_cpu, &tx.c, &tb.c);
        g_vk->ops->add_bias(g_vk, &tx.g, &tb.g);
        g_cpu->ops->gelu(g_cpu, &tg.c);
        g_vk->ops->gelu(g_vk, &tg.g);
        sync_both(g_cpu, g_vk);
        char what[64];
        snprintf(what, sizeof what, "add_bias %lld x %lld", (long long)n, (long long)rows);
        compare_f32(&tx, what, 0.0, 0.0, NULL);
        snprintf(what, sizeof what, "gelu %lld x %lld", (long long)n, (long long)rows);
        compare_f32(&tg, what, 1e-6, 1e-5, NULL);
        free(x);
        free(b);
        twin_free(&tx);
        twin_free(&tg);
        twin_free(&tb);
    }
}

/* attention_full: outputs are convex combinations of v rows of size ~1: 2e-5 absolute +
 * 1e-5 relative (f32 softmax and sums in another order), as the text attention's check. */
static void check_attention_full(int n_head, int head_dim, int n_tok) {
    int64_t width = (int64_t)n_head * head_dim;
    float *q = random_f32_about(width * n_tok, 1.0f, 0.0f), *k = random_f32_about(width * n_tok, 1.0f, 0.0f);
    float *v = random_f32_about(width * n_tok, 1.0f, 0.0f);
    twin tq = twin_new(g_cpu, g_vk, UE_TYPE_F32, width, n_tok, q);
    twin tk = twin_new(g_cpu, g_vk, UE_TYPE_F32, width, n_tok, k);
    twin tv = twin_new(g_cpu, g_vk, UE_TYPE_F32, width, n_tok, v);
    twin to = twin_new(g_cpu, g_vk, UE_TYPE_F32, width, n_tok, NULL);
    float scale = 1.0f / sqrtf((float)head_dim);
    g_cpu->ops->attention_full(g_cpu, &tq.c, &tk.c, &tv.c, &to.c, n_head, head_dim, scale);
    g_vk->ops->attention_full(g_vk, &tq.g, &tk.g, &tv.g, &to.g, n_head, head_dim, scale);
    sync_both(g_cpu, g_vk);
    char what[96];
    snprintf(what, sizeof what, "attention_full %d heads of %d, %d tokens", n_head, head_dim, n_tok);
    double d = compare_f32(&to, what, 2e-5, 1e-5, NULL);
    printf("%-40s max |diff| %.3g\n", what, d);
    free(q);
    free(k);
    free(v);
    twin_free(&tq);
    twin_free(&tk);
    twin_free(&tv);
    twin_free(&to);
}

static void test_attention_full(void **state) {
    (void)state;
    check_attention_full(2, 72, 33);  /* SigLIP's head dim; one query past a block */
    check_attention_full(3, 16, 64);  /* the tiny fixture's encoder */
    check_attention_full(1, 7, 5);    /* odd head dim, a partial key block */
    if (g_windowed) return;           /* larger ones exceed a 64 KiB window */
    check_attention_full(16, 72, 77); /* SigLIP's heads; 77 tokens: partial blocks */
    check_attention_full(1, 72, 1000);/* many key blocks */
    check_attention_full(2, 96, 40);  /* the kernel's largest head dim */
    check_attention_full(2, 128, 19); /* past it: the text attention kernels */
}

/* avg_pool: the same f32 sums in the same order, then one product: 1e-6 relative. */
static void test_avg_pool(void **state) {
    (void)state;
    struct { int side, k, c; } cases[] = {{8, 4, 37}, {12, 3, 300}, {64, 4, 5}, {8, 2, 48}, {5, 5, 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int side = cases[i].side, k = cases[i].k, c = cases[i].c, os = side / k;
        if (g_windowed && (size_t)k * side * c * 4 > 16384) continue; /* a band past a window */
        float *x = random_f32_about((int64_t)side * side * c, 2.0f, 0.0f);
        twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, c, (int64_t)side * side, x);
        twin to = twin_new(g_cpu, g_vk, UE_TYPE_F32, c, (int64_t)os * os, NULL);
        g_cpu->ops->avg_pool(g_cpu, &tx.c, side, k, &to.c);
        g_vk->ops->avg_pool(g_vk, &tx.g, side, k, &to.g);
        sync_both(g_cpu, g_vk);
        char what[64];
        snprintf(what, sizeof what, "avg_pool %dx%d by %d, %d channels", side, side, k, c);
        compare_f32(&to, what, 1e-7, 1e-6, NULL);
        free(x);
        twin_free(&tx);
        twin_free(&to);
    }
}

/* The encoder's matmuls: its weight types (F16 as mmproj-model-f16.gguf, F32 for the
 * patch embedding and converted projection, BF16, Q8_0), row lengths that are no multiple
 * of 32 (patch 588, FFN 4304) and 4096-token batches (one image's patches). Tolerance as
 * test_vulkan_ops.c: 1e-3 of sum |w||x| (batches may run on matrix units in f16). */
static void check_matmul(ue_type type, int64_t k, int64_t rows, int64_t n_tok) {
    size_t wbytes = ue_type_row_bytes(type, k) * (size_t)rows;
    uint8_t *w = malloc(wbytes);
    float *wf = malloc((size_t)(k * rows) * sizeof *wf);
    assert_true(w && wf);
    for (int64_t i = 0; i < k * rows; i++) wf[i] = rnd_f(-1.0f, 1.0f) * sqrtf(3.0f / (float)k);
    ue_error err = {0};
    for (int64_t r = 0; r < rows; r++)
        assert_int_equal(ue_quantize_row(type, wf + r * k, w + (size_t)r * ue_type_row_bytes(type, k),
                                          k, &err), UE_OK);
    float *x = random_f32_about(k * n_tok, 1.0f, 0.0f);
    twin tw = twin_new(g_cpu, g_vk, type, k, rows, w);
    twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, k, n_tok, x);
    twin to = twin_new(g_cpu, g_vk, UE_TYPE_F32, rows, n_tok, NULL);
    g_cpu->ops->matmul(g_cpu, &tw.c, &tx.c, &to.c);
    g_vk->ops->matmul(g_vk, &tw.g, &tx.g, &to.g);
    sync_both(g_cpu, g_vk);
    double *mag = matmul_mag(type, w, x, k, rows, n_tok);
    char what[96];
    snprintf(what, sizeof what, "matmul %s k=%lld rows=%lld tokens=%lld", ue_type_get(type)->name,
             (long long)k, (long long)rows, (long long)n_tok);
    compare_f32(&to, what, 1e-6, 1e-3, mag);
    free(mag);
    free(w);
    free(wf);
    free(x);
    twin_free(&tw);
    twin_free(&tx);
    twin_free(&to);
}

static void test_matmul_encoder_shapes(void **state) {
    (void)state;
    if (g_windowed) { /* activations and outputs past a window: token pieces */
        check_matmul(UE_TYPE_F16, 1152, 16, 70);
        check_matmul(UE_TYPE_F32, 48, 300, 77);
        return;
    }
    check_matmul(UE_TYPE_F32, 588, 17, 4096);  /* patch embedding */
    check_matmul(UE_TYPE_F16, 1152, 9, 4096);  /* attention / fc1 rows */
    check_matmul(UE_TYPE_F16, 4304, 7, 300);   /* fc2 */
    check_matmul(UE_TYPE_BF16, 1152, 5, 257);
    check_matmul(UE_TYPE_Q8_0, 1152, 6, 130);   /* (4304 is no multiple of its blocks) */
}

/* Shapes an op cannot take fail at the next sync with a message, not a crash. */
static void test_bad_shapes(void **state) {
    (void)state;
    float *x = random_f32_about(64 * 4, 1.0f, 0.0f);
    twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, 64, 4, x);
    twin tw = twin_new(g_cpu, g_vk, UE_TYPE_F32, 32, 1, x);
    twin to = twin_new(g_cpu, g_vk, UE_TYPE_F32, 64, 3, NULL);
    ue_error err = {0};
    g_vk->ops->layer_norm(g_vk, &tx.g, &tw.g, &tw.g, 1e-6f, &tx.g); /* weights too short */
    assert_int_equal(g_vk->ops->sync(g_vk, &err), UE_ERR_ARGUMENT);
    assert_non_null(strstr(err.msg, "layer_norm"));
    g_vk->ops->avg_pool(g_vk, &tx.g, 2, 2, &to.g); /* 2 x 2 grid: 4 rows, pooled into 3 */
    assert_int_equal(g_vk->ops->sync(g_vk, &err), UE_ERR_ARGUMENT);
    assert_non_null(strstr(err.msg, "avg_pool"));
    g_vk->ops->attention_full(g_vk, &tx.g, &tx.g, &to.g, &tx.g, 2, 32, 1.0f); /* v: 3 rows */
    assert_int_equal(g_vk->ops->sync(g_vk, &err), UE_ERR_ARGUMENT);
    assert_non_null(strstr(err.msg, "attention_full"));
    assert_int_equal(g_vk->ops->sync(g_vk, &err), UE_OK); /* reported once */
    free(x);
    twin_free(&tx);
    twin_free(&tw);
    twin_free(&to);
}

/* The encoder goes on this backend (api/vision.c asks ue_siglip_backend_ok). */
static void test_encoder_placement(void **state) {
    (void)state;
    assert_true(ue_siglip_backend_ok(g_vk));
    assert_true(ue_siglip_backend_ok(g_cpu));
}

static int setup_backends(void **state) {
    (void)state;
    vk_twin_backends_open(&g_cpu, &g_vk);
    printf("%s\n", g_vk->description);
    return 0;
}

static int teardown_backends(void **state) {
    (void)state;
    vk_twin_backends_close(&g_cpu, &g_vk);
    return 0;
}

int main(void) {
    rnd_seed(0x9e3779b97f4a7c15ull);
    setenv("UE_VK_MMC_MIN", "0", 1); /* the matrix-unit kernel wherever the device has it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_norm),        cmocka_unit_test(test_add_bias_gelu),
        cmocka_unit_test(test_attention_full),    cmocka_unit_test(test_avg_pool),
        cmocka_unit_test(test_matmul_encoder_shapes), cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_encoder_placement),
    };
    int rc = cmocka_run_group_tests_name("vulkan vision ops", tests, setup_backends,
                                         teardown_backends);
    if (rc) return rc;
    /* Again with a 64 KiB storage-buffer range: rows, pooling bands and token pieces. */
    setenv("UE_VK_TEST_RANGE", "65536", 1);
    g_windowed = 1;
    const struct CMUnitTest windowed[] = {
        cmocka_unit_test(test_layer_norm),     cmocka_unit_test(test_add_bias_gelu),
        cmocka_unit_test(test_attention_full), cmocka_unit_test(test_avg_pool),
        cmocka_unit_test(test_matmul_encoder_shapes),
    };
    return cmocka_run_group_tests_name("vulkan vision ops, 64 KiB windows", windowed,
                                       setup_backends, teardown_backends);
}

#else /* built without the Vulkan backend */
int main(void) { return vk_test_no_backend(); }
#endif
