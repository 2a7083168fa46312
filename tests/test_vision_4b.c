/* Gemma 3 4B vision shapes end to end with random weights: an mmproj built in memory with
 * the real widths (896 px, patch 14 -> 4096 patches, 1152 wide, 16 heads of 72, FFN 4304,
 * 4x4 pool -> 256 tokens, projection to 2560; F16 matrices as in mmproj-model-f16.gguf),
 * loaded and run on the fast CPU kernels. CI runs 1 encoder layer; UE_VISION_4B_MMPROJ=FILE
 * (tools/make_random_vision_4b.py) runs the real 27 and prints the encode time used in
 * docs/PERFORMANCE.md (UE_VISION_4B_LAYERS=N builds N layers in memory);
 * UE_VISION_4B_DEVICE=vulkan:N runs the encoder on Vulkan device N instead. Checks the
 * shapes, that every output is finite, and that a second run gives identical output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_util.h"

#include "backend/cpu/cpu_backend.h"
#ifdef UE_HAVE_VULKAN_BACKEND
#include "backend/vulkan/vk_backend.h"
#endif
#include "core/gguf.h"
#include "gguf_builder.h"
#include "model/siglip.h"

enum { IMG = 896, PATCH = 14, D = 1152, FF = 4304, HEADS = 16, PROJ = 2560, TYPE_F32 = 0, TYPE_F16 = 1 };

static uint64_t g_rng = 0x243f6a8885a308d3ull;
static float rnd(void) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (float)((g_rng * 0x2545f4914f6cdd1dull) >> 40) / 16777216.0f * 2.0f - 1.0f;
}

/* A random tensor: uniform with the variance of 1/n_in (weights), or around `center`. */
static void add(gguf_builder *b, const char *name, int n_dims, const int64_t *ne, int f16,
                float scale, float center) {
    size_t n = 1;
    for (int i = 0; i < n_dims; i++) n *= (size_t)ne[i];
    size_t bytes = n * (f16 ? 2 : 4);
    uint8_t *data = malloc(bytes);
    for (size_t i = 0; i < n; i++) {
        float v = center + scale * rnd();
        if (f16) {
            uint16_t h = ue_f32_to_f16(v);
            memcpy(data + 2 * i, &h, 2);
        } else {
            memcpy(data + 4 * i, &v, 4);
        }
    }
    gguf_builder_add_tensor(b, name, f16 ? TYPE_F16 : TYPE_F32, (uint32_t)n_dims, ne, data, bytes);
    free(data);
}

static void build(int layers, uint8_t **bytes, size_t *size) {
    gguf_builder *b = gguf_builder_create();
    gguf_builder_add_str(b, "general.architecture", "clip");
    gguf_builder_add_str(b, "clip.projector_type", "gemma3");
    gguf_builder_add_bool(b, "clip.has_vision_encoder", 1);
    gguf_builder_add_u32(b, "clip.vision.image_size", IMG);
    gguf_builder_add_u32(b, "clip.vision.patch_size", PATCH);
    gguf_builder_add_u32(b, "clip.vision.embedding_length", D);
    gguf_builder_add_u32(b, "clip.vision.feed_forward_length", FF);
    gguf_builder_add_u32(b, "clip.vision.block_count", (uint32_t)layers);
    gguf_builder_add_u32(b, "clip.vision.attention.head_count", HEADS);
    gguf_builder_add_f32(b, "clip.vision.attention.layer_norm_epsilon", 1e-6f);
    gguf_builder_add_u32(b, "clip.vision.projection_dim", PROJ);
    const float half[3] = {0.5f, 0.5f, 0.5f};
    gguf_builder_add_arr(b, "clip.vision.image_mean", 6, half, 3);
    gguf_builder_add_arr(b, "clip.vision.image_std", 6, half, 3);
    int64_t pe[4] = {PATCH, PATCH, 3, D}, vec[1] = {D}, pos[2] = {D, 4096};
    int64_t dd[2] = {D, D}, up[2] = {D, FF}, down[2] = {FF, D}, ffv[1] = {FF}, proj[2] = {PROJ, D};
    add(b, "v.patch_embd.weight", 4, pe, 1, sqrtf(3.0f / (3 * PATCH * PATCH)), 0);
    add(b, "v.patch_embd.bias", 1, vec, 0, 0.1f, 0);
    add(b, "v.position_embd.weight", 2, pos, 0, 0.5f, 0);
    char name[64];
    for (int l = 0; l < layers; l++) {
        const char *mats[] = {"attn_q", "attn_k", "attn_v", "attn_out"};
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "v.blk.%d.%s.weight", l, mats[i]);
            add(b, name, 2, dd, 1, sqrtf(3.0f / D), 0);
            snprintf(name, sizeof name, "v.blk.%d.%s.bias", l, mats[i]);
            add(b, name, 1, vec, 0, 0.1f, 0);
        }
        for (int i = 1; i <= 2; i++) {
            snprintf(name, sizeof name, "v.blk.%d.ln%d.weight", l, i);
            add(b, name, 1, vec, 0, 0.2f, 1.0f);
            snprintf(name, sizeof name, "v.blk.%d.ln%d.bias", l, i);
            add(b, name, 1, vec, 0, 0.1f, 0);
        }
        snprintf(name, sizeof name, "v.blk.%d.ffn_up.weight", l);
        add(b, name, 2, up, 1, sqrtf(3.0f / D), 0);
        snprintf(name, sizeof name, "v.blk.%d.ffn_up.bias", l);
        add(b, name, 1, ffv, 0, 0.1f, 0);
        snprintf(name, sizeof name, "v.blk.%d.ffn_down.weight", l);
        add(b, name, 2, down, 1, sqrtf(3.0f / FF), 0);
        snprintf(name, sizeof name, "v.blk.%d.ffn_down.bias", l);
        add(b, name, 1, vec, 0, 0.1f, 0);
    }
    add(b, "v.post_ln.weight", 1, vec, 0, 0.2f, 1.0f);
    add(b, "v.post_ln.bias", 1, vec, 0, 0.1f, 0);
    add(b, "mm.soft_emb_norm.weight", 1, vec, 0, 0.2f, 1.0f);
    add(b, "mm.input_projection.weight", 2, proj, 1, sqrtf(3.0f / D), 0);
    gguf_builder_finish(b, bytes, size);
    gguf_builder_destroy(b);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_4b_shapes(void **state) {
    (void)state;
    const char *env = getenv("UE_VISION_4B_LAYERS"), *file = getenv("UE_VISION_4B_MMPROJ");
    int layers = env && atoi(env) > 0 ? atoi(env) : 1;
    uint8_t *bytes = NULL;
    size_t size;
    ue_error err = {0};
    ue_gguf *g = NULL;
    if (file && *file) { /* e.g. from tools/make_random_vision_4b.py: all 27 layers */
        if (ue_gguf_open(file, &g, &err) != UE_OK) fail_msg("%s", err.msg);
    } else {
        build(layers, &bytes, &size);
        if (ue_gguf_open_memory(bytes, size, &g, &err) != UE_OK) fail_msg("%s", err.msg);
    }
    layers = 0;
    ue_backend *be = NULL;
    const char *dev = getenv("UE_VISION_4B_DEVICE");
    if (dev && !strncmp(dev, "vulkan", 6)) {
#ifdef UE_HAVE_VULKAN_BACKEND
        if (ue_vk_backend_create(atoi(dev + 6 + (dev[6] == ':')), &be, &err) != UE_OK)
            fail_msg("%s: %s", dev, err.msg);
#else
        fail_msg("%s: this build has no Vulkan backend", dev);
#endif
    } else {
        assert_int_equal(ue_cpu_backend_create(0, UE_CPU_KERNELS_FAST, &be, &err), UE_OK);
    }
    ue_siglip *m = NULL;
    if (ue_siglip_load(g, be, PROJ, &m, &err) != UE_OK) fail_msg("load: %s", err.msg);
    assert_int_equal(m->hp.n_patches, 4096);
    assert_int_equal(m->hp.head_dim, 72);
    assert_int_equal(m->hp.pool, 4);
    assert_int_equal(m->hp.n_tokens, 256);
    layers = m->hp.n_layer;

    size_t n_px = 3 * (size_t)IMG * IMG, n_out = 256 * (size_t)PROJ;
    float *px = malloc(n_px * sizeof(float)), *out = malloc(n_out * sizeof(float));
    float *out2 = malloc(n_out * sizeof(float));
    for (size_t i = 0; i < n_px; i++) px[i] = rnd();
    double t0 = now();
    if (ue_siglip_encode(m, px, out, &err) != UE_OK) fail_msg("encode: %s", err.msg);
    double secs = now() - t0;
    double sum2 = 0.0;
    for (size_t i = 0; i < n_out; i++) {
        if (!isfinite(out[i])) fail_msg("output %zu is %g", i, out[i]);
        sum2 += (double)out[i] * out[i];
    }
    assert_true(sum2 > 0.0);
    printf("4B vision shapes, %d layer(s): encode %.2f s on %s; output rms %.3g\n", layers, secs,
           be->description, sqrt(sum2 / (double)n_out));
    if (!getenv("UE_SANITIZER")) { /* a second encode costs minutes under ASan */
        t0 = now();
        if (ue_siglip_encode(m, px, out2, &err) != UE_OK) fail_msg("encode: %s", err.msg);
        printf("second encode %.3f s\n", now() - t0);
        assert_memory_equal(out, out2, n_out * sizeof(float));
    }
    free(px);
    free(out);
    free(out2);
    ue_siglip_destroy(m);
    be->ops->destroy(be);
    ue_gguf_close(g);
    free(bytes);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_4b_shapes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
