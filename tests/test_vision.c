/* Vision end to end on the tiny random Gemma 3 vision-language model checked by
 * transformers (tools/make_vision_fixtures.py): image features after the projector, the
 * logits of a prompt with two images and of a pan-and-scan prompt, on the reference and
 * the fast CPU kernels and on the Vulkan backend (lavapipe in CI; skipped without a
 * device); the three ways of shipping the weights (mmproj, mmproj with swapped FFN names,
 * Ollama's single file); and the errors for a missing or mismatched projector. Tolerances
 * (absolute; fp32 on both sides, measured ~1e-6 / ~5e-6): features 1e-4 for the PNG and
 * 1e-3 for the JPEG (another libjpeg build may round an IDCT level differently), logits
 * 1e-3; the Vulkan encoder's features within 1e-4 of the CPU encoder's (same decoded
 * pixels; f32 sums in another order, measured ~2e-6). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "api/engine_internal.h"
#include "test_util.h"
#include "unicorn.h"
#include "vision_fixture.h"

#define DIR "tests/fixtures/vision/"

static ue_engine *open_engine(const char *model, const char *mmproj, const char *device) {
    ue_engine_params p;
    ue_engine_params_init(&p);
    p.model_path = model;
    p.mmproj_path = mmproj;
    p.device = device;
    p.n_threads = 2;
    ue_engine *e = NULL;
    ue_error err = {0};
    if (ue_engine_create(&p, &e, &err) != UE_OK) fail_msg("engine: %s", err.msg);
    return e;
}

static ue_image *image(const char *name) {
    char path[256];
    snprintf(path, sizeof path, DIR "%s", name);
    ue_image *img = NULL;
    ue_error err = {0};
    if (ue_image_load_file(path, &img, &err) != UE_OK) fail_msg("%s", err.msg);
    return img;
}

/* The image's soft-token features (malloc'd, n_tokens x n_embd). */
static float *encode(ue_engine *e, const char *img_name) {
    size_t n = (size_t)ue_engine_image_tokens(e) * (size_t)ue_engine_model_info(e)->n_embd;
    float *out = malloc(n * sizeof(float));
    assert_non_null(out);
    ue_image *img = image(img_name);
    ue_error err = {0};
    if (ue_engine_encode_image(e, img, out, &err) != UE_OK) fail_msg("encode: %s", err.msg);
    ue_image_destroy(img);
    return out;
}

static double feature_diff(ue_engine *e, const char *img_name, const char *fixture) {
    uevf_array want = uevf_read(DIR, fixture);
    int n_tok = ue_engine_image_tokens(e), n_embd = ue_engine_model_info(e)->n_embd;
    assert_int_equal(want.dims[0], n_tok);
    assert_int_equal(want.dims[1], n_embd);
    float *out = encode(e, img_name);
    double worst = 0.0;
    for (size_t i = 0; i < want.count; i++) worst = fmax(worst, fabs(out[i] - want.f32[i]));
    free(out);
    uevf_free(&want);
    return worst;
}

static void check_features(const char *model, const char *mmproj, const char *device) {
    ue_engine *e = open_engine(model, mmproj, device);
    assert_true(ue_engine_has_vision(e));
    assert_int_equal(ue_engine_image_tokens(e), 16);
    double da = feature_diff(e, "img_a.png", "features_a.bin");
    double db = feature_diff(e, "img_b.jpg", "features_b.bin");
    printf("%s + %s on %s: max |feature diff| %.3g (png) %.3g (jpeg)\n", model,
           mmproj ? mmproj : "(own v.*)", device, da, db);
    assert_true(da < 1e-4);
    assert_true(db < 1e-3);
    ue_engine_destroy(e);
}

static void test_features_mmproj(void **state) {
    (void)state;
    check_features(DIR "tiny_vl.gguf", DIR "tiny_mmproj.gguf", "cpu-ref");
    check_features(DIR "tiny_vl.gguf", DIR "tiny_mmproj.gguf", "cpu");
}

static void test_features_swapped_and_single_file(void **state) {
    (void)state;
    check_features(DIR "tiny_vl.gguf", DIR "tiny_mmproj_swapped.gguf", "cpu");
    check_features(DIR "tiny_vl_ollama.gguf", NULL, "cpu");
}

/* The encoder on the Vulkan backend: placed on the engine's device (no CPU backend of
 * its own), features within the CPU bounds of the fixture and 1e-4 of the CPU encoder. */
static void test_features_vulkan(void **state) {
    (void)state;
    ue_engine_params p;
    ue_engine_params_init(&p);
    p.model_path = DIR "tiny_vl.gguf";
    p.mmproj_path = DIR "tiny_mmproj.gguf";
    p.device = getenv("UE_VK_TEST_DEVICE") ? getenv("UE_VK_TEST_DEVICE") : "vulkan";
    ue_engine *e = NULL;
    ue_error err = {0};
    if (ue_engine_create(&p, &e, &err) != UE_OK) {
        printf("no Vulkan device (%s): skipped\n", err.msg);
        skip();
    }
    assert_true(e->vision_be == e->be);
    assert_string_equal(e->vision->be->name, "vulkan");
    ue_engine_destroy(e);
    check_features(DIR "tiny_vl.gguf", DIR "tiny_mmproj.gguf", p.device);
    ue_engine *cpu = open_engine(DIR "tiny_vl.gguf", DIR "tiny_mmproj.gguf", "cpu");
    e = open_engine(DIR "tiny_vl.gguf", DIR "tiny_mmproj.gguf", p.device);
    const char *imgs[] = {"img_a.png", "img_b.jpg", "img_wide.jpg"};
    for (size_t i = 0; i < 3; i++) {
        float *want = encode(cpu, imgs[i]), *got = encode(e, imgs[i]);
        size_t n = (size_t)ue_engine_image_tokens(e) * (size_t)ue_engine_model_info(e)->n_embd;
        double worst = 0.0;
        for (size_t j = 0; j < n; j++) {
            if (!isfinite(got[j])) fail_msg("%s: feature %zu is %g", imgs[i], j, got[j]);
            worst = fmax(worst, fabs(got[j] - want[j]));
        }
        printf("%s: vulkan vs cpu encoder, max |feature diff| %.3g\n", imgs[i], worst);
        assert_true(worst < 1e-4);
        free(want);
        free(got);
    }
    ue_engine_destroy(e);
    ue_engine_destroy(cpu);
}

typedef struct logit_check {
    const uevf_array *want;
    size_t first;  /* position of the fixture's first row */
    int n_vocab;
    double worst;
    size_t rows;
} logit_check;

static void on_logits(void *user, size_t pos, const float *logits, int n_vocab) {
    logit_check *c = user;
    if (pos < c->first) return;
    const float *w = c->want->f32 + (pos - c->first) * (size_t)c->want->dims[1];
    assert_int_equal((int)c->want->dims[1], n_vocab);
    for (int i = 0; i < n_vocab; i++)
        if (isfinite(logits[i])) c->worst = fmax(c->worst, fabs(logits[i] - w[i]));
    c->rows++;
}

static double prompt_diff(const char *device, const char *name, const char *text,
                          const char **imgs, size_t n_imgs, int pan_scan) {
    ue_engine *e = open_engine(DIR "tiny_vl.gguf", DIR "tiny_mmproj.gguf", device);
    char f_ids[64], f_logits[64];
    snprintf(f_ids, sizeof f_ids, "prompt_%s_ids.bin", name);
    snprintf(f_logits, sizeof f_logits, "prompt_%s_logits.bin", name);
    uevf_array ids = uevf_read(DIR, f_ids), want = uevf_read(DIR, f_logits);
    ue_session *s = NULL;
    ue_error err = {0};
    ue_session_params sp;
    ue_session_params_init(&sp);
    sp.n_ctx = 512;
    assert_int_equal(ue_session_create(e, &sp, &s, &err), UE_OK);
    const ue_image *images[4];
    for (size_t i = 0; i < n_imgs; i++) images[i] = image(imgs[i]);
    logit_check c = {.want = &want, .first = ids.count - want.dims[0]};
    ue_eval_options opt = {.all_logits = on_logits, .user = &c};
    if (ue_session_eval_prompt(s, text, strlen(text), 1, images, n_imgs, pan_scan, &opt, &err))
        fail_msg("eval_prompt: %s", err.msg);
    /* the same tokens as transformers got, -1 where an image's soft tokens are */
    assert_int_equal(ue_session_n_past(s), ids.count);
    const int32_t *toks = ue_session_tokens(s);
    for (size_t i = 0; i < ids.count; i++)
        if (toks[i] != ids.i32[i]) fail_msg("token %zu is %d, expected %d", i, toks[i], ids.i32[i]);
    assert_int_equal(c.rows, want.dims[0]);
    for (size_t i = 0; i < n_imgs; i++) ue_image_destroy((ue_image *)images[i]);
    ue_session_destroy(s);
    ue_engine_destroy(e);
    uevf_free(&ids);
    uevf_free(&want);
    printf("prompt %s on %s: max |logit diff| %.3g over %zu positions\n", name, device, c.worst,
           c.rows);
    return c.worst;
}

static const char TWO[] =
    "<start_of_turn>user\n<start_of_image><start_of_image>Describe these two.<end_of_turn>\n"
    "<start_of_turn>model\n";
static const char PAN[] =
    "<start_of_turn>user\n<start_of_image>What is in it?<end_of_turn>\n<start_of_turn>model\n";

static void test_two_images_logits(void **state) {
    (void)state;
    const char *imgs[] = {"img_a.png", "img_b.jpg"};
    assert_true(prompt_diff("cpu-ref", "two", TWO, imgs, 2, 0) < 1e-3);
    assert_true(prompt_diff("cpu", "two", TWO, imgs, 2, 0) < 1e-3);
}

/* The whole prompt on Vulkan (lavapipe in CI), text model and encoder; skipped where no
 * Vulkan device exists. */
static void test_two_images_vulkan(void **state) {
    (void)state;
    ue_engine_params p;
    ue_engine_params_init(&p);
    p.model_path = DIR "tiny_vl.gguf";
    p.device = "vulkan";
    ue_engine *e = NULL;
    ue_error err = {0};
    if (ue_engine_create(&p, &e, &err) != UE_OK) {
        printf("no Vulkan device (%s): skipped\n", err.msg);
        skip();
    }
    ue_engine_destroy(e);
    const char *imgs[] = {"img_a.png", "img_b.jpg"};
    assert_true(prompt_diff("vulkan", "two", TWO, imgs, 2, 0) < 1e-3);
}

static void test_pan_scan_logits(void **state) {
    (void)state;
    const char *imgs[] = {"img_wide.jpg"};
    assert_true(prompt_diff("cpu-ref", "panscan", PAN, imgs, 1, 1) < 1e-3);
    assert_true(prompt_diff("cpu", "panscan", PAN, imgs, 1, 1) < 1e-3);
}

static void test_missing_or_mismatched_projector(void **state) {
    (void)state;
    /* text-only model: the error names the projector file to give */
    ue_engine *e = open_engine(DIR "tiny_vl.gguf", NULL, "cpu");
    assert_false(ue_engine_has_vision(e));
    ue_image *img = image("img_a.png");
    float out[16];
    ue_error err = {0};
    assert_int_not_equal(ue_engine_encode_image(e, img, out, &err), UE_OK);
    assert_non_null(strstr(err.msg, "mmproj"));
    ue_session *s = NULL;
    assert_int_equal(ue_session_create(e, NULL, &s, &err), UE_OK);
    const ue_image *imgs[] = {img};
    assert_int_not_equal(ue_session_eval_prompt(s, PAN, strlen(PAN), 1, imgs, 1, 0, NULL, &err), UE_OK);
    assert_non_null(strstr(err.msg, "--mmproj"));
    ue_session_destroy(s);
    ue_engine_destroy(e);

    /* a projector for another width: refused at load, naming the file */
    ue_engine_params p;
    ue_engine_params_init(&p);
    p.model_path = "tests/fixtures/tiny/tiny_f32.gguf";
    p.mmproj_path = DIR "tiny_mmproj.gguf";
    e = NULL;
    assert_int_not_equal(ue_engine_create(&p, &e, &err), UE_OK);
    assert_null(e);
    assert_non_null(strstr(err.msg, "tiny_mmproj.gguf"));
    assert_non_null(strstr(err.msg, "another model"));

    /* the text model given as the projector */
    p.model_path = DIR "tiny_vl.gguf";
    p.mmproj_path = DIR "tiny_vl.gguf";
    assert_int_not_equal(ue_engine_create(&p, &e, &err), UE_OK);
    assert_non_null(strstr(err.msg, "no vision weights"));

    /* marker count must match the images */
    e = open_engine(DIR "tiny_vl.gguf", DIR "tiny_mmproj.gguf", "cpu");
    assert_int_equal(ue_session_create(e, NULL, &s, &err), UE_OK);
    assert_int_not_equal(ue_session_eval_prompt(s, TWO, strlen(TWO), 1, imgs, 1, 0, NULL, &err), UE_OK);
    assert_non_null(strstr(err.msg, "marker"));
    ue_session_destroy(s);
    ue_engine_destroy(e);
    ue_image_destroy(img);
}

/* `unicorn run --image`: answers with a projector, names --mmproj without one. */
static int run_cli(const char *args, char *out, size_t cap) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s run -m " DIR "tiny_vl.gguf %s -n 4 --temp 0 -p hi 2>&1",
             ue_test_unicorn_path(), args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    int rc = pclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli_images(void **state) {
    (void)state;
    char out[8192];
    int rc = run_cli("--mmproj " DIR "tiny_mmproj.gguf --image " DIR "img_a.png --image " DIR
                     "img_wide.jpg --pan-scan", out, sizeof out);
    if (rc != 0) fail_msg("exit %d: %s", rc, out);
    assert_non_null(strstr(out, "prompt: "));
    rc = run_cli("--image " DIR "img_a.png", out, sizeof out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "--mmproj"));
    rc = run_cli("--mmproj " DIR "tiny_mmproj.gguf --image " DIR "tiny_vl.gguf", out, sizeof out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "not a PNG, JPEG, GIF, WebP or BMP"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features_mmproj),
        cmocka_unit_test(test_features_swapped_and_single_file),
        cmocka_unit_test(test_two_images_logits),
        cmocka_unit_test(test_pan_scan_logits),
        cmocka_unit_test(test_two_images_vulkan),
        cmocka_unit_test(test_features_vulkan),
        cmocka_unit_test(test_missing_or_mismatched_projector),
        cmocka_unit_test(test_cli_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
