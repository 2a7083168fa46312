/* Whole-model check of the Vulkan decode variants (vk_decode.c): the same token sequence
 * through a model on the Vulkan backend with the variants off and under each setting
 * (fused q/k/v, mat-vec + block end, fused attention, mul_mvs sizes), one token per
 * evaluation after a batch, past the first 64-key attention split. Every decode
 * step's logits must stay within TOL_LOGIT of the variants-off run (f32 sums in another
 * order; observed ~1e-4) with the same argmax wherever that run's margin exceeds 0.05.
 * Model: $UE_VK_CHECK_MODEL (e.g. a random 4B file on a GPU) or the real 270M; on lavapipe
 * two settings, with UE_VK_FULL=1 every one. Skips without a Vulkan device or model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "vk_twin.h"
#include "unicorn.h"

#define TOL_LOGIT 0.02
enum { N_MAX = 96 };
/* a batch, then one-token steps from position 58 to past the first 64-key split (more on
 * GPUs) */
static int g_batch = 58, g_decode = 12;

static const char *k_vars[] = {"UE_VK_QKV", "UE_VK_MVNORM", "UE_VK_ATTF", "UE_VK_MVS",
                               "UE_VK_PERSIST", "UE_VK_Q16"};

/* Applies "NAME=value NAME=value" after clearing every variant variable. */
static void apply(const char *setting) {
    for (size_t v = 0; v < sizeof k_vars / sizeof k_vars[0]; v++) unsetenv(k_vars[v]);
    char env[256];
    snprintf(env, sizeof env, "%s", setting);
    for (char *tok = strtok(env, " "); tok; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        setenv(tok, eq + 1, 1);
    }
}

/* Logits of the g_decode one-token steps after a g_batch batch: [g_decode][n_vocab]. */
static float *run(const char *model, const char *setting, int *n_vocab) {
    apply(setting);
    ue_engine_params p;
    ue_engine_params_init(&p);
    p.model_path = model;
    p.device = "vulkan";
    ue_engine *e = NULL;
    ue_error err = {0};
    if (ue_engine_create(&p, &e, &err) != UE_OK) {
        printf("SKIP: no usable Vulkan device: %s\n", err.msg);
        exit(UE_TEST_SKIP_CODE);
    }
    ue_session_params sp;
    ue_session_params_init(&sp);
    sp.n_ctx = g_batch + g_decode + 8;
    ue_session *s = NULL;
    if (ue_session_create(e, &sp, &s, &err) != UE_OK) fail_msg("session: %s", err.msg);
    int32_t toks[N_MAX];
    for (int i = 0; i < g_batch + g_decode; i++) toks[i] = 2 + (int32_t)((i * 7919u) % 20000u);
    if (ue_session_eval(s, toks, (size_t)g_batch, NULL, &err) != UE_OK) fail_msg("batch: %s", err.msg);
    float *out = NULL;
    for (int i = 0; i < g_decode; i++) {
        if (ue_session_eval(s, toks + g_batch + i, 1, NULL, &err) != UE_OK)
            fail_msg("%s: decode step %d: %s", setting, i, err.msg);
        const float *l = ue_session_logits(s);
        if (!out) {
            *n_vocab = ue_engine_model_info(e)->n_vocab;
            out = malloc((size_t)g_decode * (size_t)*n_vocab * sizeof *out);
            assert_non_null(out);
        }
        memcpy(out + (size_t)i * (size_t)*n_vocab, l, (size_t)*n_vocab * sizeof *out);
    }
    ue_session_destroy(s);
    ue_engine_destroy(e);
    return out;
}

static void test_variants_match(void **state) {
    (void)state;
    const char *model = getenv("UE_VK_CHECK_MODEL");
    if (!model) model = ue_test_model_path();
    static const char *all[] = {
        "UE_VK_PERSIST=auto",
        "UE_VK_QKV=1 UE_VK_MVNORM=1 UE_VK_ATTF=1 UE_VK_MVS=4096",
        "UE_VK_MVS=0",             /* every mat-vec on mul_mvf: 16-bit x for Q4_K / Q6_K */
        "UE_VK_MVS=0 UE_VK_Q16=0", /* the same with f32 x */
        "UE_VK_QKV=1",
        "UE_VK_MVNORM=1",
        "UE_VK_ATTF=1",
        "UE_VK_MVS=1000000000,128,2,64,1",
        "UE_VK_QKV=1 UE_VK_MVNORM=1 UE_VK_ATTF=1 UE_VK_MVS=1000000000,256,2,256,1",
    };
    size_t n_settings = 4;
    if (getenv("UE_VK_FULL")) n_settings = sizeof all / sizeof all[0], g_batch = 30, g_decode = 60;
    int n_vocab = 0, nv = 0;
    float *ref = run(model, "UE_VK_PERSIST=0", &n_vocab);
    for (size_t k = 0; k < n_settings; k++) {
        float *got = run(model, all[k], &nv);
        assert_int_equal(nv, n_vocab);
        double worst = 0.0;
        int checked = 0;
        for (int i = 0; i < g_decode; i++) {
            const float *r = ref + (size_t)i * (size_t)n_vocab, *g = got + (size_t)i * (size_t)n_vocab;
            int best = 0, best_g = 0;
            for (int j = 0; j < n_vocab; j++) {
                double d = fabs((double)g[j] - r[j]);
                if (!(d <= worst)) worst = d; /* NaN fails below */
                if (r[j] > r[best]) best = j;
                if (g[j] > g[best_g]) best_g = j;
            }
            double second = -INFINITY;
            for (int j = 0; j < n_vocab; j++)
                if (j != best && r[j] > second) second = r[j];
            if (r[best] - second > 0.05) {
                checked++;
                if (best_g != best) fail_msg("%s: step %d argmax %d, reference %d", all[k], i, best_g, best);
            }
        }
        printf("%-72s max|dlogit| %.5f over %d steps; argmax checked %d\n", all[k], worst, g_decode,
               checked);
        fflush(stdout);
        assert_true(worst <= TOL_LOGIT);
        free(got);
    }
    free(ref);
}

int main(void) {
    vk_test_require_backend(); /* SKIP in a build without it */
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_variants_match)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
