/* The Vulkan backend's one-dispatch decode layer (decode_layer.comp, vk_persist.c) against
 * the CPU scalar reference backend composing the same layer from the plain ops (as
 * gemma3_forward.c does without it): random weights of each type the kernel reads
 * (Q4_K, Q6_K, Q5_0, Q8_0, Q4_0), random residual stream and KV cache, first, sliding
 * and global positions. Checked: the new residual x, the next layer's normed input xn and
 * the whole KV cache (the rows at pos written, the rest untouched); every tensor sits
 * between guard bytes. Grid: UE_VK_PERSIST (default auto: multiprocessor-sized on GPUs
 * that report their count, else one workgroup); a grid too large to be resident must be
 * declined, not hang. Skips without a Vulkan device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rand_data.h"
#include "test_util.h"
#include "vk_twin.h"

#include "backend/backend.h"
#include "backend/vulkan/vk_backend.h"

#ifdef UE_HAVE_VULKAN_BACKEND
static ue_backend *g_cpu, *g_vk;

typedef struct shape {
    int64_t n_embd, n_ff, n_head, n_head_kv, head_dim, n_ctx;
    ue_type t[7]; /* q, k, v, o, gate, up, down */
} shape;

static twin weights(ue_type t, int64_t n_in, int64_t n_out) {
    uint8_t *w = malloc(ue_type_row_bytes(t, n_in) * (size_t)n_out);
    assert_non_null(w);
    random_rows(t, w, n_in, n_out);
    twin r = twin_new(g_cpu, g_vk, t, n_in, n_out, w);
    free(w);
    return r;
}

static twin f32_data(int64_t n0, int64_t n1, float scale, float center) {
    float *v = random_f32_about(n0 * n1, scale, center);
    twin r = twin_new(g_cpu, g_vk, UE_TYPE_F32, n0, n1, v);
    free(v);
    return r;
}

/* The layer's intermediates on the CPU side. */
typedef struct acts {
    ue_tensor q, k, v, attn, o, g, u, d;
} acts;

/* The layer from the plain ops on backend be (a, t: its views). */
static void cpu_layer_on(ue_backend *be, const ue_decode_layer_args *a, const acts *t) {
    const ue_backend_ops *op = be->ops;
    op->matmul(be, &a->wq, &a->xn, &t->q);
    op->matmul(be, &a->wk, &a->xn, &t->k);
    op->matmul(be, &a->wv, &a->xn, &t->v);
    ue_tensor qh = ue_tensor_reshape(&t->q, a->head_dim, a->n_head);
    ue_tensor kh = ue_tensor_reshape(&t->k, a->head_dim, a->n_head_kv);
    op->rms_norm(be, &qh, &a->q_norm, a->eps, &qh);
    op->rms_norm(be, &kh, &a->k_norm, a->eps, &kh);
    op->rope(be, &t->q, a->head_dim, a->head_dim, a->pos, a->base, a->freq_scale);
    op->rope(be, &t->k, a->head_dim, a->head_dim, a->pos, a->base, a->freq_scale);
    ue_tensor kc = ue_tensor_rows(&a->k_cache, a->pos, 1), vc = ue_tensor_rows(&a->v_cache, a->pos, 1);
    op->copy_rows(be, &t->k, &kc);
    op->copy_rows(be, &t->v, &vc);
    ue_attention_args at = {.q = t->q, .k_cache = a->k_cache, .v_cache = a->v_cache,
                            .out = t->attn, .n_head = a->n_head, .n_head_kv = a->n_head_kv,
                            .head_dim = a->head_dim, .pos0 = a->pos, .window = a->window,
                            .scale = a->scale, .bidir_begin = a->pos, .bidir_end = a->pos};
    op->attention(be, &at);
    op->matmul(be, &a->wo, &t->attn, &t->o);
    op->rms_norm(be, &t->o, &a->post_attn_norm, a->eps, &t->o);
    op->add(be, &a->x, &t->o);
    op->rms_norm(be, &a->x, &a->ffn_norm, a->eps, &a->xn);
    op->matmul(be, &a->w_gate, &a->xn, &t->g);
    op->matmul(be, &a->w_up, &a->xn, &t->u);
    op->gelu_mul(be, &t->g, &t->u);
    op->matmul(be, &a->w_down, &t->g, &t->d);
    op->rms_norm(be, &t->d, &a->post_ffw_norm, a->eps, &t->d);
    op->add(be, &a->x, &t->d);
    if (a->next_norm) op->rms_norm(be, &a->x, a->next_norm, a->eps, &a->xn);
}

/* expect_taken 0: the op must decline, and the plain ops compose the layer instead. */
static void check_layer(const shape *s, int64_t pos, int window, int has_next, int expect_taken) {
    int64_t E = s->n_embd, D = s->head_dim, HD = s->n_head * D, KVD = s->n_head_kv * D;
    enum { NW = 7, NN = 6 };
    twin w[NW] = {weights(s->t[0], E, HD), weights(s->t[1], E, KVD), weights(s->t[2], E, KVD),
                  weights(s->t[3], HD, E), weights(s->t[4], E, s->n_ff),
                  weights(s->t[5], E, s->n_ff), weights(s->t[6], s->n_ff, E)};
    twin nrm[NN] = {f32_data(D, 1, 0.5f, 1.0f), f32_data(D, 1, 0.5f, 1.0f),
                    f32_data(E, 1, 0.5f, 1.0f), f32_data(E, 1, 0.5f, 1.0f),
                    f32_data(E, 1, 0.5f, 1.0f), f32_data(E, 1, 0.5f, 1.0f)};
    twin x = f32_data(E, 1, 2.0f, 0.0f);
    /* xn as the previous block end leaves it: rms_norm(x) * attn_norm */
    twin xn = twin_new(g_cpu, g_vk, UE_TYPE_F32, E, 1, NULL), an = f32_data(E, 1, 0.5f, 1.0f);
    g_cpu->ops->rms_norm(g_cpu, &x.c, &an.c, 1e-6f, &xn.c);
    g_vk->ops->rms_norm(g_vk, &x.g, &an.g, 1e-6f, &xn.g);
    twin kc = f32_data(KVD, s->n_ctx, 1.0f, 0.0f), vc = f32_data(KVD, s->n_ctx, 1.0f, 0.0f);
    twin q = twin_new(g_cpu, g_vk, UE_TYPE_F32, HD, 1, NULL);
    twin k = twin_new(g_cpu, g_vk, UE_TYPE_F32, KVD, 1, NULL);
    twin v = twin_new(g_cpu, g_vk, UE_TYPE_F32, KVD, 1, NULL);
    twin attn = twin_new(g_cpu, g_vk, UE_TYPE_F32, HD, 1, NULL);
    twin o = twin_new(g_cpu, g_vk, UE_TYPE_F32, E, 1, NULL);
    twin g = twin_new(g_cpu, g_vk, UE_TYPE_F32, s->n_ff, 1, NULL);
    twin u = twin_new(g_cpu, g_vk, UE_TYPE_F32, s->n_ff, 1, NULL);
    twin d = twin_new(g_cpu, g_vk, UE_TYPE_F32, E, 1, NULL);
    sync_both(g_cpu, g_vk);

    ue_decode_layer_args a[2];
    for (int side = 0; side < 2; side++) {
#define VIEW(t) (side ? (t).g : (t).c)
        ue_decode_layer_args r = {
            .wq = VIEW(w[0]), .wk = VIEW(w[1]), .wv = VIEW(w[2]), .wo = VIEW(w[3]),
            .w_gate = VIEW(w[4]), .w_up = VIEW(w[5]), .w_down = VIEW(w[6]),
            .q_norm = VIEW(nrm[0]), .k_norm = VIEW(nrm[1]), .post_attn_norm = VIEW(nrm[2]),
            .ffn_norm = VIEW(nrm[3]), .post_ffw_norm = VIEW(nrm[4]),
            .x = VIEW(x), .xn = VIEW(xn), .k_cache = VIEW(kc), .v_cache = VIEW(vc), .n_head = (int)s->n_head, .n_head_kv = (int)s->n_head_kv,
            .head_dim = (int)D, .pos = pos, .window = window, .eps = 1e-6f,
            .scale = 1.0f / 16.0f, .base = window ? 10000.0f : 1000000.0f,
            .freq_scale = window ? 1.0f : 0.125f};
#undef VIEW
        a[side] = r;
    }
    a[0].next_norm = has_next ? &nrm[5].c : NULL;
    a[1].next_norm = has_next ? &nrm[5].g : NULL;
    acts t = {q.c, k.c, v.c, attn.c, o.c, g.c, u.c, d.c};
    cpu_layer_on(g_cpu, &a[0], &t);
    if (g_vk->ops->decode_layer(g_vk, &a[1]) != expect_taken)
        fail_msg("decode_layer %s", expect_taken ? "declined" : "ran with a grid too large");
    if (!expect_taken) {
        acts tg = {q.g, k.g, v.g, attn.g, o.g, g.g, u.g, d.g};
        cpu_layer_on(g_vk, &a[1], &tg);
    }
    sync_both(g_cpu, g_vk);

    /* f32 sums in another order through a whole layer: the outputs are O(1) after the
     * norms, the residual O(2); 2e-3 covers the reordering through two norms (observed
     * ~1e-5) and stays far below any error of substance */
    struct { const twin *t; const char *name; } outs[] = {
        {&x, "residual"}, {&kc, "K cache"}, {&vc, "V cache"}, {&xn, "next normed input"}};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0] - !has_next; i++) {
        char what[200];
        snprintf(what, sizeof what, "%s/%s/%s/%s/%s E=%lld F=%lld heads %lld/%lld D=%lld pos %lld "
                 "window %d: %s", ue_type_get(s->t[0])->name, ue_type_get(s->t[2])->name,
                 ue_type_get(s->t[3])->name, ue_type_get(s->t[4])->name,
                 ue_type_get(s->t[6])->name, (long long)E,
                 (long long)s->n_ff, (long long)s->n_head, (long long)s->n_head_kv, (long long)D,
                 (long long)pos, window, outs[i].name);
        compare_f32(outs[i].t, what, 2e-3, 2e-3, NULL);
    }
    twin *all[] = {&x, &xn, &an, &kc, &vc, &q, &k, &v, &attn, &o, &g, &u, &d};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) twin_free(all[i]);
    for (int i = 0; i < NW; i++) twin_free(&w[i]);
    for (int i = 0; i < NN; i++) twin_free(&nrm[i]);
}

static void test_decode_layer(void **state) {
    (void)state;
    const ue_type K4 = UE_TYPE_Q4_K, K6 = UE_TYPE_Q6_K, Q5 = UE_TYPE_Q5_0, Q8 = UE_TYPE_Q8_0;
    /* Gemma 3 4B's types (Q4_K_M: Q6_K on v and down in some layers), heads of 256, four
     * query heads per KV head as the 1B's */
    shape k4 = {256, 512, 4, 1, 256, 160, {K4, K4, K6, K4, K4, K4, K6}};
    /* the real 270M's first layer (640-wide rows: Q5_0 / Q8_0, Q4_K / Q6_K where the
     * rows are 1024 or 2048 long) */
    shape k0 = {640, 2048, 4, 1, 256, 160, {Q5, Q5, Q8, K4, Q5, Q5, K6}};
    /* Q4_0 and Q8_0 files, heads of 128, two query heads per KV head */
    shape kq = {512, 512, 4, 2, 128, 160,
                {UE_TYPE_Q4_0, UE_TYPE_Q4_0, Q8, UE_TYPE_Q4_0, Q8, Q8, UE_TYPE_Q4_0}};
    /* rows wider than one block-end chunk of 256 x 16 (the 27B's 5376) */
    shape kw = {4352, 512, 2, 1, 128, 160, {K4, K4, K6, K4, K4, K4, K6}};
    const shape *shapes[] = {&k4, &k0, &kq, &kw};
    for (size_t i = 0; i < 4; i++) {
        check_layer(shapes[i], 0, 0, 1, 1);
        check_layer(shapes[i], 37, 16, 1, 1);
        check_layer(shapes[i], 150, 0, 0, 1);
    }
}

/* A grid that cannot be resident (more workgroups than a GPU keeps at once) is found out
 * by the first call's check: the op declines (the plain ops then serve) instead of
 * hanging, and the backend stays usable. Not on CPU devices: lavapipe interleaves its
 * workgroups, so any grid passes the barriers there (slowly). */
static void test_grid_too_large(void **state) {
    (void)state;
    if (strstr(g_vk->description, "(CPU")) {
        printf("SKIP: a CPU Vulkan device runs any grid\n");
        return;
    }
    setenv("UE_VK_PERSIST", "60000", 1);
    ue_backend *vk = NULL;
    ue_error err = {0};
    const char *idx = getenv("UE_VK_DEVICE");
    assert_int_equal(ue_vk_backend_create(idx ? atoi(idx) : 0, &vk, &err), UE_OK);
    ue_backend *keep = g_vk;
    g_vk = vk;
    shape k4 = {256, 512, 4, 1, 256, 16,
                {UE_TYPE_Q4_K, UE_TYPE_Q4_K, UE_TYPE_Q6_K, UE_TYPE_Q4_K, UE_TYPE_Q4_K,
                 UE_TYPE_Q4_K, UE_TYPE_Q6_K}};
    check_layer(&k4, 3, 0, 1, 0);
    g_vk = keep;
    vk->ops->destroy(vk);
}
#endif

int main(void) {
#ifdef UE_HAVE_VULKAN_BACKEND
    rnd_seed(0xdec0de1a7e5ull);
    if (!getenv("UE_VK_PERSIST")) setenv("UE_VK_PERSIST", "auto", 1);
    vk_twin_backends_open(&g_cpu, &g_vk);
    if (!g_vk->ops->decode_layer) {
        printf("SKIP: the Vulkan backend has no decode_layer\n");
        return UE_TEST_SKIP_CODE;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_decode_layer),
                                       cmocka_unit_test(test_grid_too_large)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    vk_twin_backends_close(&g_cpu, &g_vk);
    return rc;
#else
    return vk_test_no_backend();
#endif
}
