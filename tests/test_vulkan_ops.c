/* Every op of the Vulkan backend against the CPU scalar reference backend (cpu-ref):
 * random shapes with odd sizes, every weight type, decode and prefill paths, attention
 * with windows, image spans and the flash-decoding split. Every output lies between guard
 * regions that must come back untouched, starts poisoned with NaN, and must be finite.
 * A second pass shrinks the storage-buffer range (UE_VK_TEST_RANGE) so weights are read
 * through windows and in row pieces. Runs on any Vulkan device (lavapipe in CI); skips
 * when there is none. Tolerances are stated beside each check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rand_data.h"
#include "test_util.h"
#include "vk_twin.h"

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#ifdef UE_HAVE_VULKAN_BACKEND
#include "backend/vulkan/vk_backend.h"
#endif

#ifdef UE_HAVE_VULKAN_BACKEND
static ue_backend *g_cpu, *g_vk;
static int g_windowed; /* second pass: 64 KiB storage-buffer windows */

static const ue_type k_types[] = {UE_TYPE_F32,  UE_TYPE_F16,  UE_TYPE_BF16, UE_TYPE_Q4_0,
                                  UE_TYPE_Q4_1, UE_TYPE_Q5_0, UE_TYPE_Q5_1, UE_TYPE_Q8_0,
                                  UE_TYPE_Q4_K, UE_TYPE_Q5_K, UE_TYPE_Q6_K};
enum { N_TYPES = sizeof k_types / sizeof k_types[0] };

/* Matmul tolerance: f32 sums in another order, relative 2e-5 of sum |w||x| (K <= 2k).
 * Batches past the mat-vec sizes may run on matrix units with f16 weights and
 * activations (each rounded by up to 2^-11 relative): 1e-3 of sum |w||x| there. */
static void check_matmul(ue_type type, int64_t k, int64_t rows, int64_t n_tok) {
    uint8_t *w = malloc(ue_type_row_bytes(type, k) * (size_t)rows);
    assert_non_null(w);
    random_rows(type, w, k, rows);
    float *x = random_f32(k * n_tok, 1.0f);
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
    compare_f32(&to, what, 1e-6, n_tok > 4 ? 1e-3 : 2e-5, mag);
    free(mag);
    free(w);
    free(x);
    twin_free(&tw);
    twin_free(&tx);
    twin_free(&to);
}

static void test_matmul_every_type(void **state) {
    (void)state;
    for (int i = 0; i < N_TYPES; i++) {
        ue_type type = k_types[i];
        int64_t qk = ue_type_get(type)->block_size;
        int64_t k = qk == 1 ? 67 : qk * (qk == 256 ? 3 : 5); /* odd block counts */
        int64_t tokens[] = {1, 3, 5, 70};                     /* mat-vec and tiled paths */
        /* with tiny windows, activations of 70 tokens would not fit one */
        for (size_t j = 0; j < (g_windowed ? 3 : sizeof tokens / sizeof tokens[0]); j++)
            check_matmul(type, k, 37, tokens[j]);
        check_matmul(type, qk == 1 ? 1024 : 1024, 129, 1);    /* longer rows */
    }
}

/* Prefill tiles: several row and token tiles with partial ones, many k slices. */
static void test_matmat_tiles(void **state) {
    (void)state;
    ue_type types[] = {UE_TYPE_Q4_K, UE_TYPE_Q6_K, UE_TYPE_Q8_0, UE_TYPE_Q5_0, UE_TYPE_F16};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        check_matmul(types[i], 1280, 130, 100);
    /* whole 128 x 128 tiles (stored straight to the output) beside partial ones */
    check_matmul(UE_TYPE_Q4_K, 512, 272, 160);
    check_matmul(UE_TYPE_Q6_K, 512, 272, 160);
    /* split-K with a shorter last slice (5 slices: 4 x 576 + 512) */
    check_matmul(UE_TYPE_Q4_K, 2816, 40, 70);
    check_matmul(UE_TYPE_Q6_K, 2816, 40, 70);
}

/* Two matrices over one x, then x changed by an op and both again: the tiles that take x
 * as a converted f16 copy reuse it for the second matrix and must not after the change. */
static void test_matmat_x_rewritten(void **state) {
    (void)state;
    const int64_t k = 1280, rows = 130, n_tok = 100;
    uint8_t *w[2];
    float *x = random_f32(k * n_tok, 1.0f), *y = random_f32(k * n_tok, 1.0f);
    twin tw[2], to[4];
    for (int i = 0; i < 2; i++) {
        w[i] = malloc(ue_type_row_bytes(UE_TYPE_Q4_K, k) * (size_t)rows);
        assert_non_null(w[i]);
        random_rows(UE_TYPE_Q4_K, w[i], k, rows);
        tw[i] = twin_new(g_cpu, g_vk, UE_TYPE_Q4_K, k, rows, w[i]);
    }
    for (int i = 0; i < 4; i++) to[i] = twin_new(g_cpu, g_vk, UE_TYPE_F32, rows, n_tok, NULL);
    twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, k, n_tok, x);
    twin ty = twin_new(g_cpu, g_vk, UE_TYPE_F32, k, n_tok, y);
    for (int g = 0; g < 2; g++) {
        ue_backend *be = g ? g_vk : g_cpu;
#define V(t) (g ? &(t).g : &(t).c)
        be->ops->matmul(be, V(tw[0]), V(tx), V(to[0]));
        be->ops->matmul(be, V(tw[1]), V(tx), V(to[1]));
        be->ops->add(be, V(tx), V(ty));
        be->ops->matmul(be, V(tw[0]), V(tx), V(to[2]));
        be->ops->matmul(be, V(tw[1]), V(tx), V(to[3]));
#undef V
    }
    sync_both(g_cpu, g_vk);
    float *x2 = malloc((size_t)(k * n_tok) * sizeof *x2);
    assert_non_null(x2);
    for (int64_t j = 0; j < k * n_tok; j++) x2[j] = x[j] + y[j];
    for (int i = 0; i < 4; i++) {
        double *mag = matmul_mag(UE_TYPE_Q4_K, w[i % 2], i < 2 ? x : x2, k, rows, n_tok);
        char what[80];
        snprintf(what, sizeof what, "matmul %d of one x (%s the x changed)", i, i < 2 ? "before" : "after");
        compare_f32(&to[i], what, 1e-6, 1e-3, mag);
        free(mag);
        twin_free(&to[i]);
    }
    for (int i = 0; i < 2; i++) {
        twin_free(&tw[i]);
        free(w[i]);
    }
    twin_free(&tx);
    twin_free(&ty);
    free(x);
    free(y);
    free(x2);
}

/* get_rows dequantizes exactly as the CPU does; only the scale product may round. */
static void test_get_rows_every_type(void **state) {
    (void)state;
    for (int i = 0; i < N_TYPES; i++) {
        ue_type type = k_types[i];
        int64_t qk = ue_type_get(type)->block_size, k = qk == 1 ? 67 : qk * 3, rows = 401;
        uint8_t *w = malloc(ue_type_row_bytes(type, k) * (size_t)rows);
        assert_non_null(w);
        random_rows(type, w, k, rows);
        int32_t ids[7] = {0, 400, 3, 3, 217, -1, 401}; /* the last two are outside: zeros */
        twin tw = twin_new(g_cpu, g_vk, type, k, rows, w);
        twin ti = twin_new(g_cpu, g_vk, UE_TYPE_I32, 7, 1, ids);
        twin to = twin_new(g_cpu, g_vk, UE_TYPE_F32, k, 7, NULL);
        g_cpu->ops->get_rows(g_cpu, &tw.c, &ti.c, 1.5f, &to.c);
        g_vk->ops->get_rows(g_vk, &tw.g, &ti.g, 1.5f, &to.g);
        sync_both(g_cpu, g_vk);
        char what[64];
        snprintf(what, sizeof what, "get_rows %s", ue_type_get(type)->name);
        compare_f32(&to, what, 0.0, 1e-6, NULL);
        free(w);
        twin_free(&tw);
        twin_free(&ti);
        twin_free(&to);
    }
}

/* rms_norm: 1e-5 relative (f32 sum of squares vs the CPU's double). In place too. */
static void test_rms_norm(void **state) {
    (void)state;
    int64_t shapes[][2] = {{640, 3}, {256, 33}, {67, 5}, {2560, 1}};
    for (size_t s = 0; s < 4; s++) {
        int64_t n = shapes[s][0], rows = shapes[s][1];
        float *x = random_f32(n * rows, 3.0f), *w = random_f32(n, 1.0f);
        twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, x);
        twin tw = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, 1, w);
        twin to = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, NULL);
        g_cpu->ops->rms_norm(g_cpu, &tx.c, &tw.c, 1e-6f, &to.c);
        g_vk->ops->rms_norm(g_vk, &tx.g, &tw.g, 1e-6f, &to.g);
        g_cpu->ops->rms_norm(g_cpu, &tx.c, &tw.c, 1e-6f, &tx.c); /* in place */
        g_vk->ops->rms_norm(g_vk, &tx.g, &tw.g, 1e-6f, &tx.g);
        sync_both(g_cpu, g_vk);
        compare_f32(&to, "rms_norm", 1e-6, 1e-5, NULL);
        compare_f32(&tx, "rms_norm in place", 1e-6, 1e-5, NULL);
        free(x);
        free(w);
        twin_free(&tx);
        twin_free(&tw);
        twin_free(&to);
    }
}

/* rope: the GPU forms angles in f32 (base^(-2i/n) rounds to ~1e-7 relative), so at
 * positions up to ~5k the angle may be off by ~1e-3 rad: 2e-3 of the pair's magnitude. */
static void test_rope(void **state) {
    (void)state;
    struct { int head_dim, n_heads, n_tok; int64_t pos0; float base, scale; } cases[] = {
        {256, 4, 3, 0, 10000.0f, 1.0f}, {256, 1, 1, 4999, 1e6f, 0.125f}, {64, 3, 17, 100, 10000.0f, 1.0f}};
    for (size_t c = 0; c < 3; c++) {
        int64_t n = (int64_t)cases[c].head_dim * cases[c].n_heads;
        float *x = random_f32(n * cases[c].n_tok, 1.0f);
        twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, cases[c].n_tok, x);
        g_cpu->ops->rope(g_cpu, &tx.c, cases[c].head_dim, cases[c].head_dim, cases[c].pos0,
                         cases[c].base, cases[c].scale);
        g_vk->ops->rope(g_vk, &tx.g, cases[c].head_dim, cases[c].head_dim, cases[c].pos0,
                        cases[c].base, cases[c].scale);
        sync_both(g_cpu, g_vk);
        double *mag = malloc((size_t)(n * cases[c].n_tok) * sizeof *mag);
        assert_non_null(mag);
        for (int64_t i = 0; i < n * cases[c].n_tok; i++) mag[i] = 10.0; /* |x| <= 8 per pair half */
        compare_f32(&tx, "rope", 1e-5, 2e-3 / 10.0 * 2.0, mag);
        free(mag);
        free(x);
        twin_free(&tx);
    }
}

/* add is exact; gelu_mul within 1e-5 relative (tanh and pow differ by a few ulp); copies
 * exact, f32 -> f16 rounds to nearest even on both sides. */
static void test_eltwise(void **state) {
    (void)state;
    int64_t n = 1031, rows = 3;
    float *a = random_f32(n * rows, 4.0f), *b = random_f32(n * rows, 4.0f);
    twin ta = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, a);
    twin tb = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, b);
    twin tg = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, a);
    twin c32 = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, NULL);
    twin c16 = twin_new(g_cpu, g_vk, UE_TYPE_F16, n, rows, NULL);
    g_cpu->ops->add(g_cpu, &ta.c, &tb.c);
    g_vk->ops->add(g_vk, &ta.g, &tb.g);
    g_cpu->ops->gelu_mul(g_cpu, &tg.c, &tb.c);
    g_vk->ops->gelu_mul(g_vk, &tg.g, &tb.g);
    g_cpu->ops->copy_rows(g_cpu, &ta.c, &c32.c);
    g_vk->ops->copy_rows(g_vk, &ta.g, &c32.g);
    g_cpu->ops->copy_rows(g_cpu, &tb.c, &c16.c);
    g_vk->ops->copy_rows(g_vk, &tb.g, &c16.g);
    sync_both(g_cpu, g_vk);
    compare_f32(&ta, "add", 0.0, 0.0, NULL);
    compare_f32(&tg, "gelu_mul", 1e-6, 1e-5, NULL);
    compare_f32(&c32, "copy_rows f32", 0.0, 0.0, NULL);
    uint8_t *all = twin_read_checked(&c16, "copy_rows f16");
    const uint16_t *g = (const uint16_t *)(all + TWIN_GUARD);
    const uint16_t *c = (const uint16_t *)((const uint8_t *)c16.cb->host + TWIN_GUARD);
    for (int64_t i = 0; i < n * rows; i++)
        if (g[i] != c[i]) fail_msg("copy_rows f16: element %lld: 0x%04x vs 0x%04x", (long long)i, g[i], c[i]);
    free(all);
    free(a);
    free(b);
    twin_free(&ta);
    twin_free(&tb);
    twin_free(&tg);
    twin_free(&c32);
    twin_free(&c16);
}

/* attention: 2e-5 absolute on outputs of size ~1 (f32 softmax in another order). */
static void check_attention(int n_head, int n_head_kv, int head_dim, int n_tok, int64_t pos0,
                            int window, int64_t bidir_begin, int64_t bidir_end) {
    int64_t n_ctx = pos0 + n_tok + 8, kvd = (int64_t)n_head_kv * head_dim, qd = (int64_t)n_head * head_dim;
    float *q = random_f32(qd * n_tok, 1.0f), *k = random_f32(kvd * n_ctx, 1.0f);
    float *v = random_f32(kvd * n_ctx, 1.0f);
    twin tq = twin_new(g_cpu, g_vk, UE_TYPE_F32, qd, n_tok, q);
    twin tk = twin_new(g_cpu, g_vk, UE_TYPE_F32, kvd, n_ctx, k);
    twin tv = twin_new(g_cpu, g_vk, UE_TYPE_F32, kvd, n_ctx, v);
    twin to = twin_new(g_cpu, g_vk, UE_TYPE_F32, qd, n_tok, NULL);
    ue_attention_args a = {.n_head = n_head, .n_head_kv = n_head_kv, .head_dim = head_dim,
                           .pos0 = pos0, .window = window, .scale = 1.0f / sqrtf((float)head_dim),
                           .bidir_begin = bidir_begin, .bidir_end = bidir_end};
    a.q = tq.c, a.k_cache = tk.c, a.v_cache = tv.c, a.out = to.c;
    g_cpu->ops->attention(g_cpu, &a);
    a.q = tq.g, a.k_cache = tk.g, a.v_cache = tv.g, a.out = to.g;
    g_vk->ops->attention(g_vk, &a);
    sync_both(g_cpu, g_vk);
    char what[128];
    snprintf(what, sizeof what, "attention heads %d/%d dim %d tokens %d pos0 %lld window %d span %lld..%lld",
             n_head, n_head_kv, head_dim, n_tok, (long long)pos0, window, (long long)bidir_begin,
             (long long)bidir_end);
    compare_f32(&to, what, 2e-5, 1e-5, NULL);
    free(q);
    free(k);
    free(v);
    twin_free(&tq);
    twin_free(&tk);
    twin_free(&tv);
    twin_free(&to);
}

static void test_attention(void **state) {
    (void)state;
    check_attention(4, 1, 256, 1, 0, 0, 0, 0);       /* first token */
    check_attention(4, 1, 256, 1, 700, 0, 700, 700); /* decode, split over the keys */
    check_attention(8, 4, 64, 1, 1500, 512, 0, 0);   /* decode, sliding window, split */
    check_attention(4, 2, 64, 37, 0, 0, 0, 0);       /* prefill, causal */
    check_attention(4, 2, 64, 40, 90, 16, 0, 0);     /* prefill after a prefix, window */
    check_attention(2, 1, 80, 21, 10, 0, 10, 31);    /* image span: bidirectional */
    check_attention(2, 2, 48, 9, 30, 8, 33, 37);     /* span under a window */
    /* head dims across lanes (attention_dec.comp) where the subgroup size allows */
    check_attention(2, 1, 128, 6, 10, 0, 10, 16);    /* image span, dims across lanes */
    check_attention(8, 4, 64, 1, 3000, 0, 0, 0);     /* long decode, 47 splits */
    /* blocks of queries sharing key rows (attention_qb.comp): 256+ query rows */
    check_attention(8, 2, 64, 40, 90, 16, 0, 0);     /* window, partial query block */
    check_attention(4, 4, 80, 70, 0, 0, 20, 50);     /* image span */
    check_attention(8, 4, 256, 33, 150, 0, 0, 0);    /* causal after a prefix, 2 key blocks */
}

/* The fast mat-vec (mul_mvf.comp) at model-like row lengths: many items per lane, row
 * counts that leave partial workgroups, two tokens; and an activation row that starts
 * off a 16-byte boundary, which must take the in-place kernel. Tolerance as matmul. */
static void test_matvec_long_rows(void **state) {
    (void)state;
    for (int i = 0; i < N_TYPES; i++) {
        ue_type type = k_types[i];
        int64_t qk = ue_type_get(type)->block_size, k = qk == 256 ? 2560 : 1280, rows = 45;
        for (int shifted = 0; shifted < 2; shifted++) {
            int64_t n_tok = shifted ? 1 : 2;
            uint8_t *w = malloc(ue_type_row_bytes(type, k) * (size_t)rows);
            assert_non_null(w);
            random_rows(type, w, k, rows);
            float *x = random_f32(k * n_tok + 1, 1.0f);
            twin tw = twin_new(g_cpu, g_vk, type, k, rows, w);
            twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, k * n_tok + 1, 1, x);
            twin to = twin_new(g_cpu, g_vk, UE_TYPE_F32, rows, n_tok, NULL);
            /* x as n_tok rows of k, from float `shifted` of the buffer */
            ue_tensor xc = tx.c, xg = tx.g;
            xc.offset += (size_t)shifted * 4, xg.offset += (size_t)shifted * 4;
            xc.ne[0] = xg.ne[0] = k;
            xc.ne[1] = xg.ne[1] = n_tok;
            g_cpu->ops->matmul(g_cpu, &tw.c, &xc, &to.c);
            g_vk->ops->matmul(g_vk, &tw.g, &xg, &to.g);
            sync_both(g_cpu, g_vk);
            double *mag = matmul_mag(type, w, x + shifted, k, rows, n_tok);
            char what[96];
            snprintf(what, sizeof what, "mat-vec %s k=%lld x at float %d", ue_type_get(type)->name,
                     (long long)k, shifted);
            compare_f32(&to, what, 1e-6, 2e-5, mag);
            free(mag);
            free(w);
            free(x);
            twin_free(&tw);
            twin_free(&tx);
            twin_free(&to);
        }
    }
}

/* add_rms_norm's xn read by a mat-vec (through the 16-bit integer copy the norm writes
 * beside it, where the device has integer dot products), then changed by another op and
 * read again: the second mat-vec must see the new values, not the stale copy. */
static void test_norm_then_matvec(void **state) {
    (void)state;
    ue_type types[] = {UE_TYPE_Q4_K, UE_TYPE_Q6_K};
    int64_t widths[] = {2560, 5376}, rows = 37; /* the 4B's rows, the 27B's (wide kernel) */
    for (size_t i = 0; i < 2; i++)
        for (size_t s = 0; s < 2; s++) {
            ue_type type = types[i];
            int64_t n = widths[s];
            uint8_t *w = malloc(ue_type_row_bytes(type, n) * (size_t)rows);
            assert_non_null(w);
            random_rows(type, w, n, rows);
            float *o = random_f32(n, 3.0f), *x = random_f32(n, 3.0f);
            float *nw = random_f32(2 * n, 1.0f), *y = random_f32(n, 1.0f);
            twin tw = twin_new(g_cpu, g_vk, type, n, rows, w);
            twin to = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, 1, o);
            twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, 1, x);
            twin tn = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, 1, NULL);
            twin tnw = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, 2, nw);
            twin ty = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, 1, y);
            twin out1 = twin_new(g_cpu, g_vk, UE_TYPE_F32, rows, 1, NULL);
            twin out2 = twin_new(g_cpu, g_vk, UE_TYPE_F32, rows, 1, NULL);
            for (int g = 0; g < 2; g++) {
                ue_backend *be = g ? g_vk : g_cpu;
#define V(t) (g ? &(t).g : &(t).c)
                ue_tensor wp = ue_tensor_rows(V(tnw), 0, 1), wn = ue_tensor_rows(V(tnw), 1, 1);
                be->ops->add_rms_norm(be, V(to), &wp, V(tx), &wn, 1e-6f, V(tn));
                be->ops->matmul(be, V(tw), V(tn), V(out1));
                be->ops->add(be, V(tn), V(ty));
                be->ops->matmul(be, V(tw), V(tn), V(out2));
#undef V
            }
            sync_both(g_cpu, g_vk);
            float *xn2 = malloc((size_t)n * sizeof *xn2), *xn1 = malloc((size_t)n * sizeof *xn1);
            assert_true(xn1 && xn2);
            memcpy(xn2, (const uint8_t *)tn.cb->host + TWIN_GUARD, (size_t)n * sizeof *xn2);
            for (int64_t j = 0; j < n; j++) xn1[j] = xn2[j] - y[j];
            double *m1 = matmul_mag(type, w, xn1, n, rows, 1), *m2 = matmul_mag(type, w, xn2, n, rows, 1);
            char what[96];
            snprintf(what, sizeof what, "%s mat-vec of add_rms_norm's xn, n=%lld",
                     ue_type_get(type)->name, (long long)n);
            compare_f32(&out1, what, 1e-6, 2e-5, m1);
            snprintf(what, sizeof what, "%s mat-vec of xn changed after the norm, n=%lld",
                     ue_type_get(type)->name, (long long)n);
            compare_f32(&out2, what, 1e-6, 2e-5, m2);
            free(m1);
            free(m2);
            free(xn1);
            free(xn2);
            free(w);
            free(o);
            free(x);
            free(nw);
            free(y);
            twin *all[] = {&tw, &to, &tx, &tn, &tnw, &ty, &out1, &out2};
            for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) twin_free(all[k]);
        }
}

/* Weights rewritten after a mat-vec used them: the backend's repacked copy (Q6_K, Q8_0)
 * must follow the new contents. */
static void test_matvec_rewritten_weights(void **state) {
    (void)state;
    ue_type types[] = {UE_TYPE_Q6_K, UE_TYPE_Q8_0, UE_TYPE_Q4_K};
    for (size_t i = 0; i < 3; i++) {
        int64_t k = 512, rows = 19;
        size_t bytes = ue_type_row_bytes(types[i], k) * (size_t)rows;
        uint8_t *w = malloc(bytes);
        assert_non_null(w);
        random_rows(types[i], w, k, rows);
        float *x = random_f32(k, 1.0f);
        twin tw = twin_new(g_cpu, g_vk, types[i], k, rows, w);
        twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, k, 1, x);
        twin to = twin_new(g_cpu, g_vk, UE_TYPE_F32, rows, 1, NULL);
        g_vk->ops->matmul(g_vk, &tw.g, &tx.g, &to.g);
        sync_both(g_cpu, g_vk);
        random_rows(types[i], w, k, rows);
        ue_error err = {0};
        assert_int_equal(g_cpu->ops->write(g_cpu, tw.cb, TWIN_GUARD, w, bytes, &err), UE_OK);
        assert_int_equal(g_vk->ops->write(g_vk, tw.gb, TWIN_GUARD, w, bytes, &err), UE_OK);
        g_cpu->ops->matmul(g_cpu, &tw.c, &tx.c, &to.c);
        g_vk->ops->matmul(g_vk, &tw.g, &tx.g, &to.g);
        sync_both(g_cpu, g_vk);
        double *mag = matmul_mag(types[i], w, x, k, rows, 1);
        compare_f32(&to, "mat-vec after the weights were rewritten", 1e-6, 2e-5, mag);
        free(mag);
        free(w);
        free(x);
        twin_free(&tw);
        twin_free(&tx);
        twin_free(&to);
    }
}

/* add_rms_norm against rms_norm + add + rms_norm on cpu-ref: 2e-5 relative (two f32
 * norms in a row), with the next norm and without, with both weights in one buffer (one
 * dispatch) and in two (the sum's norm as a second dispatch). */
static void test_add_rms_norm(void **state) {
    (void)state;
    int64_t shapes[][2] = {{640, 1}, {2560, 3}, {67, 2}, {5376, 2}, {8300, 2}}; /* last: past registers */
    for (size_t s = 0; s < 5; s++)
        for (int mode = 0; mode < 3; mode++) { /* 0: one weight buffer, 1: two, 2: no next */
            int64_t n = shapes[s][0], rows = shapes[s][1];
            float *o = random_f32(n * rows, 3.0f), *x = random_f32(n * rows, 3.0f);
            float *w = random_f32(2 * n, 1.0f);
            twin to = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, o);
            twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, x);
            twin tn = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, rows, NULL);
            twin tw = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, 2, w);
            twin tw2 = twin_new(g_cpu, g_vk, UE_TYPE_F32, n, 1, w + n);
            ue_tensor wp_c = ue_tensor_rows(&tw.c, 0, 1), wp_g = ue_tensor_rows(&tw.g, 0, 1);
            ue_tensor wn_c = mode == 1 ? tw2.c : ue_tensor_rows(&tw.c, 1, 1);
            ue_tensor wn_g = mode == 1 ? tw2.g : ue_tensor_rows(&tw.g, 1, 1);
            g_cpu->ops->add_rms_norm(g_cpu, &to.c, &wp_c, &tx.c, mode == 2 ? NULL : &wn_c, 1e-6f, &tn.c);
            g_vk->ops->add_rms_norm(g_vk, &to.g, &wp_g, &tx.g, mode == 2 ? NULL : &wn_g, 1e-6f, &tn.g);
            sync_both(g_cpu, g_vk);
            compare_f32(&tx, "add_rms_norm sum", 1e-5, 2e-5, NULL);
            if (mode != 2) compare_f32(&tn, "add_rms_norm next norm", 1e-5, 2e-5, NULL);
            free(o);
            free(x);
            free(w);
            twin_free(&to);
            twin_free(&tx);
            twin_free(&tn);
            twin_free(&tw);
            twin_free(&tw2);
        }
}

/* qk_norm_rope against rms_norm, rope and copy_rows on cpu-ref: q in place and the cache
 * rows. k and v are rows of one buffer (one dispatch) or of two (the composed path).
 * Tolerance: rope's (angles in f32) on normed values of size ~ |w| * 8. */
static void check_qk_norm_rope(int head_dim, int n_head, int n_kv, int n_tok, int64_t pos0,
                               int apart) {
    int64_t qd = (int64_t)n_head * head_dim, kvd = (int64_t)n_kv * head_dim;
    int64_t n_ctx = pos0 + n_tok + 3;
    float *q = random_f32(qd * n_tok, 1.0f), *kv = random_f32(2 * kvd * n_tok, 1.0f);
    float *nw = random_f32(2 * head_dim, 1.0f), *v2 = random_f32(kvd * n_tok, 1.0f);
    twin tq = twin_new(g_cpu, g_vk, UE_TYPE_F32, qd, n_tok, q);
    twin tkv = twin_new(g_cpu, g_vk, UE_TYPE_F32, kvd, 2 * n_tok, kv);
    twin tn = twin_new(g_cpu, g_vk, UE_TYPE_F32, head_dim, 2, nw);
    twin tv = twin_new(g_cpu, g_vk, UE_TYPE_F32, kvd, n_tok, v2);
    float *zeros = calloc((size_t)(2 * n_ctx * kvd), sizeof *zeros);
    assert_non_null(zeros);
    twin tc = twin_new(g_cpu, g_vk, UE_TYPE_F32, kvd, 2 * n_ctx, zeros);
    free(zeros);
    for (int side = 0; side < 2; side++) {
        ue_backend *be = side ? g_vk : g_cpu;
        ue_qk_rope_args a = {.head_dim = head_dim, .eps = 1e-6f, .pos0 = pos0,
                             .base = 10000.0f, .freq_scale = 1.0f};
        a.q = side ? tq.g : tq.c;
        a.k = ue_tensor_rows(side ? &tkv.g : &tkv.c, 0, n_tok);
        a.v = apart ? (side ? tv.g : tv.c) : ue_tensor_rows(side ? &tkv.g : &tkv.c, n_tok, n_tok);
        a.q_norm = ue_tensor_rows(side ? &tn.g : &tn.c, 0, 1);
        a.k_norm = ue_tensor_rows(side ? &tn.g : &tn.c, 1, 1);
        a.k_dst = ue_tensor_rows(side ? &tc.g : &tc.c, pos0, n_tok);
        a.v_dst = ue_tensor_rows(side ? &tc.g : &tc.c, n_ctx + pos0, n_tok);
        be->ops->qk_norm_rope(be, &a);
    }
    sync_both(g_cpu, g_vk);
    int64_t n_mag = qd * n_tok > 2 * n_ctx * kvd ? qd * n_tok : 2 * n_ctx * kvd;
    double *mag = malloc((size_t)n_mag * sizeof *mag);
    assert_non_null(mag);
    for (int64_t i = 0; i < n_mag; i++) mag[i] = 10.0;
    char what[96];
    snprintf(what, sizeof what, "qk_norm_rope dim %d heads %d/%d tokens %d pos %lld%s", head_dim,
             n_head, n_kv, n_tok, (long long)pos0, apart ? " (v apart)" : "");
    compare_f32(&tq, what, 1e-5, 4e-4, mag);
    /* cache rows outside the batch stay zero on both sides */
    compare_f32(&tc, what, 1e-5, 4e-4, mag);
    free(mag);
    free(q);
    free(kv);
    free(nw);
    free(v2);
    twin_free(&tq);
    twin_free(&tkv);
    twin_free(&tn);
    twin_free(&tv);
    twin_free(&tc);
}

static void test_qk_norm_rope(void **state) {
    (void)state;
    check_qk_norm_rope(256, 4, 1, 1, 0, 0);
    check_qk_norm_rope(256, 8, 4, 1, 4999, 0);
    check_qk_norm_rope(64, 3, 1, 5, 100, 0);
    check_qk_norm_rope(80, 2, 2, 2, 7, 1);
}

/* matmul_gelu against matmul, matmul, gelu_mul on cpu-ref: the products' tolerance
 * carried through gelu (slope <= 1.13) and the product with the other factor. */
static void test_matmul_gelu(void **state) {
    (void)state;
    ue_type types[] = {UE_TYPE_Q4_K, UE_TYPE_Q5_0, UE_TYPE_Q6_K, UE_TYPE_F16};
    for (size_t i = 0; i < 4; i++)
        for (int64_t n_tok = 1; n_tok <= 5; n_tok += 4) {
            ue_type type = types[i];
            int64_t k = ue_type_get(type)->block_size == 256 ? 768 : 320, rows = 41;
            size_t bytes = ue_type_row_bytes(type, k) * (size_t)rows;
            uint8_t *wg = malloc(bytes), *wu = malloc(bytes);
            assert_true(wg && wu);
            random_rows(type, wg, k, rows);
            random_rows(type, wu, k, rows);
            float *x = random_f32(k * n_tok, 1.0f);
            twin tg = twin_new(g_cpu, g_vk, type, k, rows, wg);
            twin tu = twin_new(g_cpu, g_vk, type, k, rows, wu);
            twin tx = twin_new(g_cpu, g_vk, UE_TYPE_F32, k, n_tok, x);
            twin og = twin_new(g_cpu, g_vk, UE_TYPE_F32, rows, n_tok, NULL);
            twin ou = twin_new(g_cpu, g_vk, UE_TYPE_F32, rows, n_tok, NULL);
            g_cpu->ops->matmul_gelu(g_cpu, &tg.c, &tu.c, &tx.c, &og.c, &ou.c);
            g_vk->ops->matmul_gelu(g_vk, &tg.g, &tu.g, &tx.g, &og.g, &ou.g);
            sync_both(g_cpu, g_vk);
            double *mg = matmul_mag(type, wg, x, k, rows, n_tok), *mu = matmul_mag(type, wu, x, k, rows, n_tok);
            double *scale = malloc((size_t)(rows * n_tok) * sizeof *scale);
            float *u = malloc((size_t)(rows * n_tok) * sizeof *u);
            assert_true(scale && u);
            /* the CPU's u holds w_up x (composed); |gelu(g)| <= |g| <= mg */
            memcpy(u, (const uint8_t *)ou.cb->host + TWIN_GUARD, (size_t)(rows * n_tok) * sizeof *u);
            for (int64_t j = 0; j < rows * n_tok; j++) scale[j] = 1.2 * (mg[j] * fabs(u[j]) + mg[j] * mu[j]);
            char what[64];
            snprintf(what, sizeof what, "matmul_gelu %s tokens %lld", ue_type_get(type)->name,
                     (long long)n_tok);
            compare_f32(&og, what, 1e-6, 2e-5, scale);
            free(mg);
            free(mu);
            free(scale);
            free(u);
            free(wg);
            free(wu);
            free(x);
            twin_free(&tg);
            twin_free(&tu);
            twin_free(&tx);
            twin_free(&og);
            twin_free(&ou);
        }
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

/* The description of the test device's backend (what it offers: matrix units, integer
 * dot products), "" when none can be made. */
static const char *vk_description(void) {
    static char desc[sizeof ((ue_backend *)0)->description];
    ue_error err = {0};
    const char *idx = getenv("UE_VK_DEVICE");
    ue_backend *vk = NULL;
    desc[0] = '\0';
    if (ue_vk_backend_create(idx ? atoi(idx) : 0, &vk, &err) != UE_OK) return desc;
    snprintf(desc, sizeof desc, "%s", vk->description);
    vk->ops->destroy(vk);
    return desc;
}

/* Whether the default device runs the matrix-unit kernels (its description says so). */
static int has_matrix_units(void) { return strstr(vk_description(), "matrix units") != NULL; }

int main(void) {
    rnd_seed(0x2545f4914f6cdd1dull);
    setenv("UE_VK_MMC_MIN", "0", 1); /* the matrix-unit kernel for every test size */
    /* split-K wherever a size allows it (below 48 workgroups by default) */
    if (!getenv("UE_VK_MMC_SPLIT")) setenv("UE_VK_MMC_SPLIT", "100000", 1);
    if (!getenv("UE_VK_ATTQB")) setenv("UE_VK_ATTQB", "4", 1); /* query blocks tested too */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_every_type), cmocka_unit_test(test_get_rows_every_type),
        cmocka_unit_test(test_rms_norm),          cmocka_unit_test(test_rope),
        cmocka_unit_test(test_eltwise),           cmocka_unit_test(test_attention),
        cmocka_unit_test(test_matvec_long_rows),  cmocka_unit_test(test_matvec_rewritten_weights),
        cmocka_unit_test(test_add_rms_norm),      cmocka_unit_test(test_qk_norm_rope),
        cmocka_unit_test(test_matmul_gelu),       cmocka_unit_test(test_matmat_tiles),
        cmocka_unit_test(test_norm_then_matvec),  cmocka_unit_test(test_matmat_x_rewritten),
    };
    int rc = cmocka_run_group_tests_name("vulkan ops", tests, setup_backends, teardown_backends);
    if (rc) return rc;
    /* Every mat-vec on mul_mvf / mul_mvg (mul_mvs serves few rows by default): Q4_K and
     * Q6_K there take x as 16-bit integers with integer dot products where the device has
     * them (the description says so), then with f32 x. */
    const struct CMUnitTest mvf[] = {
        cmocka_unit_test(test_matmul_every_type), cmocka_unit_test(test_matvec_long_rows),
        cmocka_unit_test(test_matmul_gelu),       cmocka_unit_test(test_norm_then_matvec),
    };
    setenv("UE_VK_MVS", "0", 1);
    printf("mat-vecs on mul_mvf: %s\n", vk_description());
    if ((rc = cmocka_run_group_tests_name("vulkan ops, mul_mvf (16-bit x where offered)", mvf,
                                          setup_backends, teardown_backends)))
        return rc;
    setenv("UE_VK_Q16", "0", 1);
    rc = cmocka_run_group_tests_name("vulkan ops, mul_mvf with f32 x", mvf, setup_backends,
                                     teardown_backends);
    unsetenv("UE_VK_Q16");
    unsetenv("UE_VK_MVS");
    if (rc) return rc;
    /* Again with a 64 KiB storage-buffer range: weights through windows and row pieces. */
    setenv("UE_VK_TEST_RANGE", "65536", 1);
    g_windowed = 1;
    const struct CMUnitTest windowed[] = {
        cmocka_unit_test(test_matmul_every_type), cmocka_unit_test(test_get_rows_every_type),
    };
    rc = cmocka_run_group_tests_name("vulkan ops, 64 KiB windows", windowed, setup_backends,
                                     teardown_backends);
    unsetenv("UE_VK_TEST_RANGE");
    g_windowed = 0;
    if (rc || !has_matrix_units()) return rc;
    /* Matrix-unit variants: 128 x 128 tiles for every size; the f32 dequantization; tiles
     * without split-K. */
    const struct CMUnitTest tiles[] = {
        cmocka_unit_test(test_matmul_every_type), cmocka_unit_test(test_matmat_tiles),
        cmocka_unit_test(test_matmat_x_rewritten),
    };
    setenv("UE_VK_MMCB", "0", 1);
    if ((rc = cmocka_run_group_tests_name("vulkan ops, 128 x 128 tiles", tiles, setup_backends,
                                          teardown_backends)))
        return rc;
    setenv("UE_VK_MMCB", "1000000000", 1);
    setenv("UE_VK_HDQ", "0", 1);
    if ((rc = cmocka_run_group_tests_name("vulkan ops, f32 dequantization", tiles,
                                          setup_backends, teardown_backends)))
        return rc;
    /* mul_mmc without split-K */
    unsetenv("UE_VK_HDQ");
    setenv("UE_VK_MMC_SPLIT", "0", 1);
    return cmocka_run_group_tests_name("vulkan ops, no split-K", tiles, setup_backends,
                                       teardown_backends);
}

#else /* built without the Vulkan backend */
int main(void) { return vk_test_no_backend(); }
#endif
