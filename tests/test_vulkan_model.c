/* The real Gemma 3 270M Q4_K_M on the Vulkan backend against the numpy reference
 * fixtures (and so against the CPU backend, which matches them): prompt logits within
 * the bound, the same argmax wherever the reference margin exceeds 0.05, and the same
 * greedy tokens. On lavapipe (CI) a token takes about a second, so the check is short:
 * one prompt, 12 greedy tokens; UE_VK_FULL=1 runs every prompt with 64 tokens (GPUs).
 * Skips when the build or the machine has no Vulkan device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_check.h"
#include "test_util.h"
#include "vk_twin.h"

/* Same bound as the CPU fast kernels' check (test_model_logits.c): the GPU sums in f32
 * in another order; observed differences are far below it. */
#define TOL_LOGIT 1.0

static void check_prompt(ue_engine *e, const char *name, int n_gen) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/logits/%s.uelg", name);
    uelg f;
    uelg_load(path, &f);
    int n_ctx = (int)(f.n_prompt + f.n_gen + 8);
    model_check_stats st = {0};
    model_check_prompt(e, &f, n_ctx, &st);
    printf("%-24s vulkan %5u tokens: max|dlogit| %.4f over %d logits; argmax %d/%d; near-tie swaps %d",
           name, f.n_prompt, st.max_abs_diff, st.n_compared, st.argmax_checked - st.argmax_mismatch,
           st.argmax_checked, st.near_tie_swaps);
    assert_int_equal(st.argmax_mismatch, 0);
    assert_true(st.max_abs_diff <= TOL_LOGIT);
    double last = model_check_last_logits(e, &f, n_ctx);
    printf("; last position alone %.4f", last);
    assert_true(last <= TOL_LOGIT);
    int matched = model_check_greedy_n(e, &f, n_ctx, n_gen);
    printf("; greedy %d/%d identical\n", matched, n_gen);
    fflush(stdout);
    assert_true(matched == n_gen || f.gen_margin[matched] <= MODEL_CHECK_MARGIN);
    uelg_free(&f);
}

static void test_vulkan_matches_reference(void **state) {
    (void)state;
    const char *model = ue_test_model_path();
    ue_engine_params p;
    ue_engine_params_init(&p);
    p.model_path = model;
    p.device = getenv("UE_VK_TEST_DEVICE") ? getenv("UE_VK_TEST_DEVICE") : "vulkan";
    ue_engine *e = NULL;
    ue_error err = {0};
    if (ue_engine_create(&p, &e, &err) != UE_OK) {
        printf("SKIP: no usable Vulkan device: %s\n", err.msg);
        exit(UE_TEST_SKIP_CODE);
    }
    printf("%s\n", ue_engine_device_name(e));
    if (getenv("UE_VK_FULL")) {
        static const char *all[] = {"short_question", "factual_photosynthesis", "long_gpl3",
                                    "chat_multiturn", "french", "japanese", "russian", "code_python"};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) check_prompt(e, all[i], 64);
    } else {
        /* under the sanitizers, fewer tokens keep the run short */
        check_prompt(e, "short_question", getenv("UE_SANITIZER") ? 4 : 12);
    }
    ue_engine_destroy(e);
}

int main(void) {
    vk_test_require_backend(); /* SKIP in a build without it */
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_vulkan_matches_reference)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
