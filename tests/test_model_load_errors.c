/* Model-level validation: well-formed GGUF files whose content does not make a Gemma 3
 * model (missing or misshapen tensors, bad hyper-parameters, vocabulary that disagrees
 * with the embedding, token ids out of range) must fail engine creation with one clear
 * line naming the field, expected vs actual. Each case edits a copy of the tiny model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/gguf.h"
#include "gguf_builder.h"
#include "test_util.h"
#include "unicorn.h"

#define TINY "tests/fixtures/tiny/tiny_f32.gguf"

/* How a case changes the copy: keys or tensors to drop, a tensor to reshape or retype,
 * and extra keys added by `extra`. */
typedef struct edit {
    const char *drop_key;
    const char *drop_tensor;
    const char *reshape_tensor;
    int64_t new_ne[2];
    const char *retype_tensor;
    uint32_t new_type;
    void (*extra)(gguf_builder *b);
    const char *expect; /* substring of the error message */
} edit;

static size_t scalar_size(ue_gguf_vtype t) {
    static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return sizes[t];
}

static char *dup_str(ue_gguf_str s) {
    char *c = malloc(s.len + 1);
    assert_non_null(c);
    memcpy(c, s.ptr, s.len);
    c[s.len] = '\0';
    return c;
}

static void copy_kv(gguf_builder *b, const ue_gguf *g, uint64_t i, const char *key) {
    ue_gguf_vtype t = ue_gguf_kv_type(g, i);
    if (t == UE_GGUF_STRING) {
        char *s = dup_str(ue_gguf_kv_str(g, i));
        gguf_builder_add_str(b, key, s);
        free(s);
    } else if (t == UE_GGUF_ARRAY) {
        ue_gguf_vtype et = ue_gguf_arr_type(g, i);
        uint64_t n = ue_gguf_arr_len(g, i);
        if (et == UE_GGUF_STRING) {
            char **strs = calloc(n ? n : 1, sizeof *strs);
            for (uint64_t j = 0; j < n; j++) strs[j] = dup_str(ue_gguf_arr_str(g, i, j));
            gguf_builder_add_arr_str(b, key, (const char *const *)strs, n);
            for (uint64_t j = 0; j < n; j++) free(strs[j]);
            free(strs);
        } else {
            gguf_builder_add_arr(b, key, et, ue_gguf_arr_data(g, i), n);
        }
    } else {
        gguf_builder_add_raw(b, key, t, ue_gguf_kv_data(g, i), scalar_size(t));
    }
}

/* Writes the edited copy of the tiny model to a temporary file; returns its path. */
static char *write_edited(const edit *e) {
    ue_gguf *g = NULL;
    ue_error err = {0};
    if (ue_gguf_open(TINY, &g, &err) != UE_OK) fail_msg("%s", err.msg);
    gguf_builder *b = gguf_builder_create();
    for (uint64_t i = 0; i < ue_gguf_n_kv(g); i++) {
        char *key = dup_str(ue_gguf_key(g, i));
        int replaced = 0;
        if (e->extra) { /* a key the extra function writes itself is not copied */
            gguf_builder *probe = gguf_builder_create();
            e->extra(probe);
            uint8_t *bytes;
            size_t size;
            gguf_builder_finish(probe, &bytes, &size);
            ue_gguf *pg = NULL;
            if (ue_gguf_open_memory(bytes, size, &pg, NULL) == UE_OK) {
                replaced = ue_gguf_find_key(pg, key) >= 0;
                ue_gguf_close(pg);
            }
            free(bytes);
            gguf_builder_destroy(probe);
        }
        if (!replaced && !(e->drop_key && !strcmp(key, e->drop_key))) copy_kv(b, g, i, key);
        free(key);
    }
    if (e->extra) e->extra(b);
    for (uint64_t i = 0; i < ue_gguf_n_tensors(g); i++) {
        const ue_gguf_tensor *t = ue_gguf_tensor_at(g, i);
        if (e->drop_tensor && !strcmp(t->name, e->drop_tensor)) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        uint32_t type = (uint32_t)t->type;
        size_t bytes = (size_t)t->n_bytes;
        if (e->reshape_tensor && !strcmp(t->name, e->reshape_tensor)) {
            ne[0] = e->new_ne[0];
            ne[1] = e->new_ne[1];
            bytes = (size_t)(ne[0] * (ne[1] ? ne[1] : 1)) * 4;
        }
        if (e->retype_tensor && !strcmp(t->name, e->retype_tensor)) {
            type = e->new_type;
            bytes = (size_t)t->n_elements * 2; /* F16 and BF16 only */
        }
        void *data = calloc(1, bytes);
        memcpy(data, t->data, bytes < t->n_bytes ? bytes : (size_t)t->n_bytes);
        uint32_t n_dims = (e->reshape_tensor && !strcmp(t->name, e->reshape_tensor) && !ne[1]) ? 1 : t->n_dims;
        gguf_builder_add_tensor(b, t->name, type, n_dims, ne, data, bytes);
        free(data);
    }
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    gguf_builder_destroy(b);
    ue_gguf_close(g);
    char *path = strdup("/tmp/ue_model_load_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, size), (ssize_t)size);
    close(fd);
    free(bytes);
    return path;
}

static ue_status try_engine(const char *path, ue_error *err) {
    ue_engine_params p;
    ue_engine_params_init(&p);
    p.model_path = path;
    p.device = "cpu";
    ue_engine *e = NULL;
    ue_status st = ue_engine_create(&p, &e, err);
    ue_engine_destroy(e);
    return st;
}

static void expect_failure(const edit *e) {
    char *path = write_edited(e);
    ue_error err = {0};
    ue_status st = try_engine(path, &err);
    unlink(path);
    free(path);
    printf("  -> %s\n", err.msg);
    if (st == UE_OK) fail_msg("engine accepted a file that should fail with '%s'", e->expect);
    if (!strstr(err.msg, e->expect)) fail_msg("error '%s' lacks '%s'", err.msg, e->expect);
    assert_null(strchr(err.msg, '\n'));
}

static void add_arch_llama(gguf_builder *b) { gguf_builder_add_str(b, "general.architecture", "llama"); }
static void add_blocks_0(gguf_builder *b) { gguf_builder_add_u32(b, "gemma3.block_count", 0); }
static void add_blocks_9(gguf_builder *b) { gguf_builder_add_u32(b, "gemma3.block_count", 9); }
static void add_kv_3(gguf_builder *b) { gguf_builder_add_u32(b, "gemma3.attention.head_count_kv", 3); }
static void add_keylen_odd(gguf_builder *b) {
    gguf_builder_add_u32(b, "gemma3.attention.key_length", 33);
    gguf_builder_add_u32(b, "gemma3.attention.value_length", 33);
}
static void add_vlen(gguf_builder *b) { gguf_builder_add_u32(b, "gemma3.attention.value_length", 64); }
static void add_eps_0(gguf_builder *b) { gguf_builder_add_f32(b, "gemma3.attention.layer_norm_rms_epsilon", 0.0f); }
static void add_eps_str(gguf_builder *b) { gguf_builder_add_str(b, "gemma3.attention.layer_norm_rms_epsilon", "tiny"); }
static void add_yarn(gguf_builder *b) { gguf_builder_add_str(b, "gemma3.rope.scaling.type", "yarn"); }
static void add_ctx_0(gguf_builder *b) { gguf_builder_add_u32(b, "gemma3.context_length", 0); }
static void add_embd_64(gguf_builder *b) { gguf_builder_add_u32(b, "gemma3.embedding_length", 64); }
static void add_bos_big(gguf_builder *b) { gguf_builder_add_u32(b, "tokenizer.ggml.bos_token_id", 100000); }
static void add_neg_base(gguf_builder *b) { gguf_builder_add_f32(b, "gemma3.rope.freq_base", -1.0f); }
static void add_heads_neg(gguf_builder *b) { gguf_builder_add_i32(b, "gemma3.attention.head_count", -4); }
/* 600 tokens while the embedding has 512 rows. */
static void add_big_vocab(gguf_builder *b) {
    static char bufs[600][16];
    const char *toks[600];
    float scores[600];
    int32_t types[600];
    for (int i = 0; i < 600; i++) {
        if (i >= 238 && i < 494) snprintf(bufs[i], sizeof bufs[i], "<0x%02X>", i - 238);
        else snprintf(bufs[i], sizeof bufs[i], "tok%d", i);
        toks[i] = bufs[i];
        scores[i] = -(float)i;
        types[i] = (i >= 238 && i < 494) ? 6 : (i < 5 ? 3 : 1);
    }
    gguf_builder_add_arr_str(b, "tokenizer.ggml.tokens", toks, 600);
    gguf_builder_add_arr(b, "tokenizer.ggml.scores", UE_GGUF_F32, scores, 600);
    gguf_builder_add_arr(b, "tokenizer.ggml.token_type", UE_GGUF_I32, types, 600);
}

static void test_model_content_errors(void **state) {
    (void)state;
    const edit cases[] = {
        {.drop_tensor = "blk.3.ffn_up.weight", .expect = "tensor 'blk.3.ffn_up.weight' is missing"},
        {.drop_tensor = "token_embd.weight", .expect = "token_embd.weight' is missing"},
        {.drop_tensor = "output_norm.weight", .expect = "output_norm.weight' is missing"},
        {.drop_tensor = "blk.0.attn_q_norm.weight", .expect = "attn_q_norm.weight' is missing"},
        {.reshape_tensor = "blk.2.attn_q.weight", .new_ne = {64, 48}, .expect = "blk.2.attn_q.weight' has shape [64, 48], expected [48, 64]"},
        {.reshape_tensor = "blk.1.ffn_norm.weight", .new_ne = {40, 0}, .expect = "blk.1.ffn_norm.weight' has shape [40], expected [48]"},
        {.reshape_tensor = "blk.0.attn_k_norm.weight", .new_ne = {16, 0}, .expect = "attn_k_norm.weight' has shape [16], expected [32]"},
        {.retype_tensor = "blk.0.attn_norm.weight", .new_type = 1, .expect = "blk.0.attn_norm.weight': type F16, expected F32"},
        {.drop_key = "gemma3.block_count", .expect = "gemma3.block_count"},
        {.drop_key = "gemma3.embedding_length", .expect = "gemma3.embedding_length"},
        {.drop_key = "gemma3.attention.layer_norm_rms_epsilon", .expect = "layer_norm_rms_epsilon"},
        {.drop_key = "general.architecture", .expect = "general.architecture"},
        {.drop_key = "tokenizer.ggml.tokens", .expect = "tokenizer.ggml.tokens"},
        {.extra = add_arch_llama, .expect = "general.architecture is 'llama', expected 'gemma3'"},
        {.extra = add_blocks_0, .expect = "gemma3.block_count is 0"},
        {.extra = add_blocks_9, .expect = "tensor 'blk.7.attn_norm.weight' is missing"},
        {.extra = add_kv_3, .expect = "head_count_kv is 3, expected a divisor of head_count 2"},
        {.extra = add_keylen_odd, .expect = "key_length is 33"},
        {.extra = add_vlen, .expect = "key_length 32 differs from value_length 64"},
        {.extra = add_eps_0, .expect = "layer_norm_rms_epsilon is 0"},
        {.extra = add_eps_str, .expect = "layer_norm_rms_epsilon"},
        {.extra = add_yarn, .expect = "scaling.type is 'yarn'"},
        {.extra = add_ctx_0, .expect = "context_length is 0"},
        {.extra = add_embd_64, .expect = "expected [64"},
        {.extra = add_bos_big, .expect = "100000"},
        {.extra = add_neg_base, .expect = "freq_base"},
        {.extra = add_heads_neg, .expect = "head_count"},
        {.extra = add_big_vocab, .expect = "the tokenizer has 600 tokens but token_embd.weight only 512 rows"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        printf("case %zu: expect '%s'\n", i, cases[i].expect);
        expect_failure(&cases[i]);
    }
}

/* The unedited copy loads: the harness itself does not break files. */
static void test_unedited_copy_loads(void **state) {
    (void)state;
    edit none = {0};
    char *path = write_edited(&none);
    ue_error err = {0};
    ue_status st = try_engine(path, &err);
    unlink(path);
    free(path);
    if (st != UE_OK) fail_msg("unedited copy failed: %s", err.msg);
}

/* Runtime input errors: ids outside the vocabulary, a prompt past the context. */
static void test_eval_input_errors(void **state) {
    (void)state;
    ue_engine_params p;
    ue_engine_params_init(&p);
    p.model_path = TINY;
    p.device = "cpu";
    ue_engine *e = NULL;
    ue_error err = {0};
    assert_int_equal(ue_engine_create(&p, &e, &err), UE_OK);
    ue_session_params sp;
    ue_session_params_init(&sp);
    sp.n_ctx = 8;
    ue_session *s = NULL;
    assert_int_equal(ue_session_create(e, &sp, &s, &err), UE_OK);
    int32_t bad[2] = {2, 512};
    assert_int_equal(ue_session_eval(s, bad, 2, NULL, &err), UE_ERR_ARGUMENT);
    assert_non_null(strstr(err.msg, "token id 512 at index 1 is outside 0..511"));
    bad[1] = -5;
    assert_int_equal(ue_session_eval(s, bad, 2, NULL, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_session_n_past(s), 0);
    int32_t many[9] = {2, 3, 4, 5, 6, 7, 8, 9, 10};
    assert_int_equal(ue_session_eval(s, many, 9, NULL, &err), UE_ERR_CONTEXT_FULL);
    assert_non_null(strstr(err.msg, "9 positions do not fit"));
    assert_int_equal(ue_session_eval(s, many, 8, NULL, &err), UE_OK);
    assert_int_equal(ue_session_eval(s, many, 1, NULL, &err), UE_ERR_CONTEXT_FULL);
    assert_int_equal(ue_session_rewind(s, 9, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_session_rewind(s, 4, &err), UE_OK);
    assert_int_equal(ue_session_n_past(s), 4);
    sp.n_ctx = 1 << 20; /* beyond the model's trained context */
    ue_session *s2 = NULL;
    assert_int_equal(ue_session_create(e, &sp, &s2, &err), UE_ERR_ARGUMENT);
    assert_non_null(strstr(err.msg, "larger than the model's trained context"));
    ue_session_destroy(s);
    ue_engine_destroy(e);

    p.device = "tpu9";
    assert_int_not_equal(ue_engine_create(&p, &e, &err), UE_OK);
    assert_non_null(strstr(err.msg, "tpu9"));
    p.device = "cpu";
    p.model_path = "/nonexistent/model.gguf";
    assert_int_equal(ue_engine_create(&p, &e, &err), UE_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/model.gguf"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unedited_copy_loads),
        cmocka_unit_test(test_model_content_errors),
        cmocka_unit_test(test_eval_input_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
