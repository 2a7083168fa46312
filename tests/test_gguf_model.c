/* GGUF reader on the real Gemma 3 270M Q4_K_M file (skipped when the model is absent):
 * counts, a few known keys and tensors (shared/docs/gemma3.md 4.2, 4.3, 5.1). */
#include <math.h>
#include <string.h>

#include "core/gguf.h"
#include "test_util.h"

static void assert_str_eq(ue_gguf_str s, const char *want) {
    assert_int_equal(s.len, strlen(want));
    if (s.len) assert_memory_equal(s.ptr, want, s.len);
}

static const char *path;

static void test_real_model(void **state) {
    (void)state;
    ue_gguf *g = NULL;
    ue_error err = {0};
    ue_status st = ue_gguf_open(path, &g, &err);
    if (st) fail_msg("%s: %s", path, err.msg);
    assert_int_equal(ue_gguf_version(g), 3);
    assert_int_equal(ue_gguf_n_tensors(g), 236);
    assert_true(ue_gguf_n_kv(g) >= 33);
    char arch[32];
    assert_int_equal(ue_gguf_get_str(g, "general.architecture", 1, arch, sizeof arch, &err), UE_OK);
    assert_string_equal(arch, "gemma3");
    uint32_t n_layer = 0, n_embd = 0;
    assert_int_equal(ue_gguf_get_u32(g, "gemma3.block_count", 1, &n_layer, &err), UE_OK);
    assert_int_equal(n_layer, 18);
    assert_int_equal(ue_gguf_get_u32(g, "gemma3.embedding_length", 1, &n_embd, &err), UE_OK);
    assert_int_equal(n_embd, 640);
    float eps = 0;
    assert_int_equal(ue_gguf_get_f32(g, "gemma3.attention.layer_norm_rms_epsilon", 1, &eps, &err),
                     UE_OK);
    assert_true(fabsf(eps - 1e-6f) < 1e-12f);
    int64_t ti = ue_gguf_find_key(g, "tokenizer.ggml.tokens");
    assert_true(ti >= 0);
    assert_int_equal(ue_gguf_arr_type(g, (uint64_t)ti), UE_GGUF_STRING);
    assert_int_equal(ue_gguf_arr_len(g, (uint64_t)ti), 262144);
    assert_str_eq(ue_gguf_arr_str(g, (uint64_t)ti, 2), "<bos>");
    assert_str_eq(ue_gguf_arr_str(g, (uint64_t)ti, 106), "<end_of_turn>");
    const ue_gguf_tensor *emb = ue_gguf_find_tensor(g, "token_embd.weight");
    assert_non_null(emb);
    assert_int_equal(emb->type, UE_TYPE_Q8_0);
    assert_true(emb->ne[0] == 640 && emb->ne[1] == 262144);
    assert_int_equal(emb->n_bytes, 640 / 32 * 34 * 262144ull);
    assert_non_null(ue_gguf_find_tensor(g, "blk.17.post_ffw_norm.weight"));
    uint64_t total = 0;
    for (uint64_t i = 0; i < ue_gguf_n_tensors(g); i++) total += ue_gguf_tensor_at(g, i)->n_bytes;
    assert_true(ue_gguf_data_offset(g) + total <= ue_gguf_file_size(g));
    ue_gguf_close(g);
}

int main(void) {
    path = ue_test_model_path();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
