/* Random Gemma 3 models (src/model/gemma3_random.h): the per-tensor type plan follows
 * llama.cpp's Q4_K_M rules (gemma3.md 5.1 counts for 270M, 1B, 4B; the real 270M file
 * tensor by tensor when present) and the other file types; tiny models written in every
 * file type, with a synthetic and a copied vocabulary, read back exactly, load in the
 * engine and give finite, non-degenerate logits; the output does not depend on the thread
 * count; the synthetic vocabulary round-trips text through the tokenizer. */
#include "test_util.h"

#include "core/gguf.h"
#include "model/gemma3_random.h"
#include "unicorn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REAL_MODEL "models/gemma-3-270m-q4_k_m.gguf"

static char g_dir[] = "/tmp/ue_random_model_XXXXXX";

static int setup(void **state) {
    (void)state;
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return rmdir(g_dir);
}

typedef struct counts {
    int f32, q4_k, q6_k, q5_0, q8_0, other;
} counts;

static counts count_types(const ue_gemma3_shape *s, ue_gemma3_ftype ft) {
    counts c = {0};
    for (int i = 0; i < ue_gemma3_n_tensors(s); i++) {
        ue_gemma3_tensor_spec t;
        ue_gemma3_tensor_spec_at(s, ft, i, &t);
        switch (t.type) {
        case UE_TYPE_F32: c.f32++; break;
        case UE_TYPE_Q4_K: c.q4_k++; break;
        case UE_TYPE_Q6_K: c.q6_k++; break;
        case UE_TYPE_Q5_0: c.q5_0++; break;
        case UE_TYPE_Q8_0: c.q8_0++; break;
        default: c.other++; break;
        }
    }
    return c;
}

static ue_type type_of(const ue_gemma3_shape *s, ue_gemma3_ftype ft, const char *name) {
    for (int i = 0; i < ue_gemma3_n_tensors(s); i++) {
        ue_gemma3_tensor_spec t;
        ue_gemma3_tensor_spec_at(s, ft, i, &t);
        if (!strcmp(t.name, name)) return t.type;
    }
    fail_msg("no tensor %s", name);
    return UE_TYPE_COUNT;
}

/* The compositions of gemma3.md 5.1 (1B checked there against a real file). */
static void test_q4_k_m_plan(void **state) {
    (void)state;
    const ue_gemma3_shape *s270 = ue_gemma3_shape_find("270m"), *s1 = ue_gemma3_shape_find("1B"),
                          *s4 = ue_gemma3_shape_find("4b");
    assert_non_null(s270);
    assert_non_null(s1);
    assert_non_null(s4);
    counts c = count_types(s270, UE_GEMMA3_Q4_K_M);
    assert_int_equal(ue_gemma3_n_tensors(s270), 236);
    assert_int_equal(c.f32, 109);
    assert_int_equal(c.q4_k, 27);
    assert_int_equal(c.q6_k, 9);
    assert_int_equal(c.q5_0, 81);
    assert_int_equal(c.q8_0, 10);
    assert_int_equal(c.other, 0);
    c = count_types(s1, UE_GEMMA3_Q4_K_M);
    assert_int_equal(ue_gemma3_n_tensors(s1), 340);
    assert_true(c.f32 == 157 && c.q4_k == 39 && c.q6_k == 13 && c.q5_0 == 117 && c.q8_0 == 14);
    c = count_types(s4, UE_GEMMA3_Q4_K_M);
    assert_int_equal(ue_gemma3_n_tensors(s4), 444);
    assert_true(c.f32 == 205 && c.q4_k == 204 && c.q6_k == 35 && c.q5_0 == 0 && c.q8_0 == 0);

    /* use_more_bits on 34 layers: 0-3, 6, 9, ..., 27, 29-33 */
    assert_int_equal(type_of(s4, UE_GEMMA3_Q4_K_M, "token_embd.weight"), UE_TYPE_Q6_K);
    assert_int_equal(type_of(s4, UE_GEMMA3_Q4_K_M, "blk.3.attn_v.weight"), UE_TYPE_Q6_K);
    assert_int_equal(type_of(s4, UE_GEMMA3_Q4_K_M, "blk.4.attn_v.weight"), UE_TYPE_Q4_K);
    assert_int_equal(type_of(s4, UE_GEMMA3_Q4_K_M, "blk.6.ffn_down.weight"), UE_TYPE_Q6_K);
    assert_int_equal(type_of(s4, UE_GEMMA3_Q4_K_M, "blk.28.ffn_down.weight"), UE_TYPE_Q4_K);
    assert_int_equal(type_of(s4, UE_GEMMA3_Q4_K_M, "blk.29.ffn_down.weight"), UE_TYPE_Q6_K);
    assert_int_equal(type_of(s4, UE_GEMMA3_Q4_K_M, "blk.5.attn_q_norm.weight"), UE_TYPE_F32);
    /* 270M rows of 640: K-quants fall back */
    assert_int_equal(type_of(s270, UE_GEMMA3_Q4_K_M, "token_embd.weight"), UE_TYPE_Q8_0);
    assert_int_equal(type_of(s270, UE_GEMMA3_Q4_K_M, "blk.0.attn_v.weight"), UE_TYPE_Q8_0);
    assert_int_equal(type_of(s270, UE_GEMMA3_Q4_K_M, "blk.2.attn_v.weight"), UE_TYPE_Q5_0);
    assert_int_equal(type_of(s270, UE_GEMMA3_Q4_K_M, "blk.2.attn_output.weight"), UE_TYPE_Q4_K);

    /* 12B and 27B: rows are multiples of 256, Q6_K = 2 x more-bits layers + token_embd */
    const char *big[] = {"12b", "27b"};
    for (int b = 0; b < 2; b++) {
        const ue_gemma3_shape *s = ue_gemma3_shape_find(big[b]);
        assert_non_null(s);
        int more = 0;
        for (int i = 0; i < s->n_layer; i++)
            more += i < s->n_layer / 8 || i >= 7 * s->n_layer / 8 || (i - s->n_layer / 8) % 3 == 2;
        c = count_types(s, UE_GEMMA3_Q4_K_M);
        assert_int_equal(c.q6_k, 2 * more + 1);
        assert_int_equal(c.q4_k, 7 * s->n_layer - 2 * more);
        assert_int_equal(c.f32, 6 * s->n_layer + 1);
        assert_int_equal(c.q5_0 + c.q8_0 + c.other, 0);
    }
}

static void test_other_file_types(void **state) {
    (void)state;
    const ue_gemma3_shape *s270 = ue_gemma3_shape_find("270m"), *s4 = ue_gemma3_shape_find("4b");
    const struct { ue_gemma3_ftype ft; ue_type base; } fts[] = {
        {UE_GEMMA3_Q4_0, UE_TYPE_Q4_0}, {UE_GEMMA3_Q8_0, UE_TYPE_Q8_0},
        {UE_GEMMA3_F16, UE_TYPE_F16}, {UE_GEMMA3_BF16, UE_TYPE_BF16}};
    for (size_t f = 0; f < sizeof fts / sizeof fts[0]; f++)
        for (int i = 0; i < ue_gemma3_n_tensors(s270); i++) {
            ue_gemma3_tensor_spec t;
            ue_gemma3_tensor_spec_at(s270, fts[f].ft, i, &t);
            ue_type want = t.n_dims == 1 ? UE_TYPE_F32 : fts[f].base;
            /* llama-quantize Q4_0 quantizes the tied embedding as output: Q6_K, or Q8_0
             * on rows of 640 */
            if (fts[f].ft == UE_GEMMA3_Q4_0 && !strcmp(t.name, "token_embd.weight"))
                want = UE_TYPE_Q8_0;
            assert_int_equal(t.type, want);
        }
    assert_int_equal(type_of(s4, UE_GEMMA3_Q4_0, "token_embd.weight"), UE_TYPE_Q6_K);
    assert_int_equal(ue_gemma3_ftype_parse("Q4_K_M"), UE_GEMMA3_Q4_K_M);
    assert_int_equal(ue_gemma3_ftype_parse("bf16"), UE_GEMMA3_BF16);
    assert_int_equal(ue_gemma3_ftype_parse("q4_k_s"), -1);
    assert_null(ue_gemma3_shape_find("2b"));
    assert_int_equal(ue_gemma3_ftype_file_type(UE_GEMMA3_Q4_K_M), 15);
    assert_int_equal(ue_gemma3_ftype_file_type(UE_GEMMA3_BF16), 32);
}

/* Our 270M plan against the real llama.cpp Q4_K_M file: same names, order, shapes, types
 * and hyper-parameters. */
static void test_plan_matches_real_270m(void **state) {
    (void)state;
    if (access(REAL_MODEL, R_OK) != 0) skip();
    ue_gguf *g;
    ue_error err;
    assert_int_equal(ue_gguf_open(REAL_MODEL, &g, &err), UE_OK);
    const ue_gemma3_shape *s = ue_gemma3_shape_find("270m");
    assert_int_equal(ue_gguf_n_tensors(g), ue_gemma3_n_tensors(s));
    for (int i = 0; i < ue_gemma3_n_tensors(s); i++) {
        ue_gemma3_tensor_spec t;
        ue_gemma3_tensor_spec_at(s, UE_GEMMA3_Q4_K_M, i, &t);
        const ue_gguf_tensor *r = ue_gguf_tensor_at(g, (uint64_t)i);
        assert_string_equal(t.name, r->name);
        assert_int_equal(t.type, r->type);
        assert_int_equal(t.n_dims, r->n_dims);
        assert_int_equal(t.ne[0], r->ne[0]);
        assert_int_equal(t.ne[1], r->ne[1]);
    }
    ue_gemma3_random_params p = {.shape = s, .ftype = UE_GEMMA3_Q4_K_M, .vocab_path = REAL_MODEL};
    ue_gguf_writer *w;
    assert_int_equal(ue_gemma3_random_declare(&p, &w, &err), UE_OK);
    /* within the few bytes of metadata the files differ by (general.* strings) */
    int64_t diff = (int64_t)ue_gguf_writer_file_size(w) - (int64_t)ue_gguf_file_size(g);
    assert_true(diff > -4096 && diff < 4096);
    ue_gguf_writer_destroy(w);
    ue_gguf_close(g);
}

static double now_logits_check(const float *logits, int n) {
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        assert_true(isfinite(logits[i]));
        sum += logits[i];
        sq += (double)logits[i] * logits[i];
    }
    double mean = sum / n;
    return sqrt(sq / n - mean * mean);
}

/* Loads path, evaluates a 6-token prompt and 4 single tokens, checks logits. */
static void run_model(const char *path, const char *device) {
    ue_engine_params ep;
    ue_engine_params_init(&ep);
    ep.model_path = path;
    ep.n_threads = 2;
    ep.device = device;
    ue_engine *e;
    ue_error err;
    ue_status st = ue_engine_create(&ep, &e, &err);
    if (st != UE_OK) fail_msg("%s", err.msg);
    const ue_model_info *info = ue_engine_model_info(e);
    assert_int_equal(info->n_layer, 6);
    assert_int_equal(info->n_vocab, 262144);
    ue_session *s;
    ue_session_params sp;
    ue_session_params_init(&sp);
    sp.n_ctx = 64;
    assert_int_equal(ue_session_create(e, &sp, &s, &err), UE_OK);
    int32_t prompt[6] = {2, 105, 2364, 107, 9259, 236764};
    assert_int_equal(ue_session_eval(s, prompt, 6, NULL, &err), UE_OK);
    double sd = now_logits_check(ue_session_logits(s), info->n_vocab);
    assert_true(sd > 0.05 && sd < 50.0); /* weights sd 0.02 over 64 inputs: ~0.2 */
    for (int i = 0; i < 4; i++) {
        int32_t tok = 1000 + 7919 * i;
        assert_int_equal(ue_session_eval(s, &tok, 1, NULL, &err), UE_OK);
        sd = now_logits_check(ue_session_logits(s), info->n_vocab);
        assert_true(sd > 0.05 && sd < 50.0);
    }
    ue_session_destroy(s);
    ue_engine_destroy(e);
}

/* The file read back: metadata values and tensor table as declared, size as predicted. */
static void check_file(const char *path, const ue_gemma3_random_params *p) {
    ue_gguf *g;
    ue_error err;
    assert_int_equal(ue_gguf_open(path, &g, &err), UE_OK);
    ue_gguf_writer *w;
    assert_int_equal(ue_gemma3_random_declare(p, &w, &err), UE_OK);
    assert_true(ue_gguf_file_size(g) == ue_gguf_writer_file_size(w));
    ue_gguf_writer_destroy(w);
    uint32_t v = 0;
    assert_int_equal(ue_gguf_get_u32(g, "gemma3.block_count", 1, &v, &err), UE_OK);
    assert_int_equal(v, 6);
    assert_int_equal(ue_gguf_get_u32(g, "general.file_type", 1, &v, &err), UE_OK);
    assert_int_equal(v, ue_gemma3_ftype_file_type(p->ftype));
    float f = 0;
    assert_int_equal(ue_gguf_get_f32(g, "gemma3.rope.scaling.factor", 1, &f, &err), UE_OK);
    assert_true(f == 8.0f);
    int64_t k = ue_gguf_find_key(g, "tokenizer.ggml.tokens");
    assert_true(k >= 0 && ue_gguf_arr_len(g, (uint64_t)k) == 262144);
    for (int i = 0; i < ue_gemma3_n_tensors(p->shape); i++) {
        ue_gemma3_tensor_spec t;
        ue_gemma3_tensor_spec_at(p->shape, p->ftype, i, &t);
        const ue_gguf_tensor *r = ue_gguf_find_tensor(g, t.name);
        assert_non_null(r);
        assert_int_equal(r->type, t.type);
        if (t.n_dims == 1) { /* norms near 1 */
            float x0;
            memcpy(&x0, r->data, sizeof x0);
            assert_true(x0 > 0.8f && x0 < 1.2f);
        }
    }
    ue_gguf_close(g);
}

static void test_tiny_models_load_and_run(void **state) {
    (void)state;
    const ue_gemma3_shape *tiny = ue_gemma3_shape_find("tiny");
    int have_real = access(REAL_MODEL, R_OK) == 0;
    for (int ft = 0; ft < UE_GEMMA3_FTYPE_COUNT; ft++) {
        char path[128];
        snprintf(path, sizeof path, "%s/tiny-%s.gguf", g_dir, ue_gemma3_ftype_name(ft));
        /* alternate vocabularies: synthetic for odd types, the real one when present */
        ue_gemma3_random_params p = {.shape = tiny, .ftype = (ue_gemma3_ftype)ft, .seed = 7,
                                     .n_threads = 2,
                                     .vocab_path = (ft % 2 == 0 && have_real) ? REAL_MODEL : NULL};
        ue_error err;
        ue_status st = ue_gemma3_random_write(&p, path, &err);
        if (st != UE_OK) fail_msg("%s", err.msg);
        check_file(path, &p);
        run_model(path, "cpu");
        if (ft == UE_GEMMA3_Q4_K_M) run_model(path, "cpu-ref");
        printf("tiny %s (%s vocabulary): loads, logits finite\n", ue_gemma3_ftype_name(ft),
               p.vocab_path ? "real" : "synthetic");
        unlink(path);
    }
}

static void *read_all(const char *path, size_t *size) { return ue_test_read_file(path, size); }

/* Same seed, 1 vs 3 threads: identical bytes; another seed: different weights. */
static void test_deterministic(void **state) {
    (void)state;
    const ue_gemma3_shape *tiny = ue_gemma3_shape_find("tiny");
    char a[128], b[128], c[128];
    snprintf(a, sizeof a, "%s/a.gguf", g_dir);
    snprintf(b, sizeof b, "%s/b.gguf", g_dir);
    snprintf(c, sizeof c, "%s/c.gguf", g_dir);
    ue_gemma3_random_params p = {.shape = tiny, .ftype = UE_GEMMA3_Q4_0, .seed = 11, .n_threads = 1};
    ue_error err;
    assert_int_equal(ue_gemma3_random_write(&p, a, &err), UE_OK);
    p.n_threads = 3;
    assert_int_equal(ue_gemma3_random_write(&p, b, &err), UE_OK);
    p.seed = 12;
    assert_int_equal(ue_gemma3_random_write(&p, c, &err), UE_OK);
    size_t na, nb, nc;
    uint8_t *da = read_all(a, &na), *db = read_all(b, &nb), *dc = read_all(c, &nc);
    assert_true(na == nb && na == nc);
    assert_memory_equal(da, db, na);
    assert_true(memcmp(da, dc, na) != 0);
    free(da);
    free(db);
    free(dc);
    unlink(a);
    unlink(b);
    unlink(c);
}

/* A shape with the multimodal 262208 rows: the vocabulary is padded as in the 4B file;
 * the synthetic vocabulary tokenizes and detokenizes text exactly. */
static void test_vocabulary(void **state) {
    (void)state;
    ue_gemma3_shape shape = *ue_gemma3_shape_find("tiny");
    shape.n_vocab = 262208;
    char path[128];
    snprintf(path, sizeof path, "%s/mm.gguf", g_dir);
    ue_gemma3_random_params p = {.shape = &shape, .ftype = UE_GEMMA3_Q8_0, .n_threads = 2};
    ue_error err;
    assert_int_equal(ue_gemma3_random_write(&p, path, &err), UE_OK);
    ue_engine_params ep;
    ue_engine_params_init(&ep);
    ep.model_path = path;
    ep.n_threads = 1;
    ue_engine *e;
    ue_status st = ue_engine_create(&ep, &e, &err);
    if (st != UE_OK) fail_msg("%s", err.msg);
    assert_int_equal(ue_token_lookup(e, "<end_of_turn>"), 106);
    assert_int_equal(ue_token_lookup(e, "<0x0A>"), 248);
    assert_int_equal(ue_token_lookup(e, "<start_of_image>"), 255999);
    assert_int_equal(ue_token_lookup(e, "<image_soft_token>"), 262144);
    assert_int_equal(ue_token_lookup(e, "[PAD262207]"), 262207);
    assert_int_equal(ue_engine_model_info(e)->n_vocab, 262208);

    const char *text = "Hello world, the zebra jumps.\n\tNaïve café 日本 <end_of_turn> done";
    int32_t toks[256];
    size_t n = 0;
    assert_int_equal(ue_tokenize(e, text, strlen(text), 1, 1, toks, 256, &n, &err), UE_OK);
    assert_true(n > 3 && n < 256);
    assert_int_equal(toks[0], 2);
    int saw_eot = 0;
    char out[512] = "";
    size_t at = 0;
    ue_detok *d = ue_detok_create(e, 1);
    for (size_t i = 1; i < n; i++) {
        saw_eot |= toks[i] == 106;
        size_t len;
        const char *piece = ue_detok_push(d, toks[i], &len);
        assert_true(at + len < sizeof out);
        memcpy(out + at, piece, len);
        at += len;
    }
    size_t len;
    const char *tail = ue_detok_flush(d, &len);
    memcpy(out + at, tail, len);
    at += len;
    out[at] = '\0';
    ue_detok_destroy(d);
    assert_true(saw_eot);
    assert_string_equal(out, text);
    ue_engine_destroy(e);
    unlink(path);
}

static void test_errors(void **state) {
    (void)state;
    ue_error err;
    ue_gemma3_random_params p = {.shape = ue_gemma3_shape_find("tiny"), .ftype = UE_GEMMA3_Q8_0};
    assert_int_equal(ue_gemma3_random_write(&p, "/nonexistent-dir/x.gguf", &err), UE_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.gguf"));
    char path[128];
    snprintf(path, sizeof path, "%s/v.gguf", g_dir);
    p.vocab_path = "/nonexistent.gguf";
    assert_int_equal(ue_gemma3_random_write(&p, path, &err), UE_ERR_IO);
    assert_non_null(strstr(err.msg, "vocabulary source"));
    assert_int_equal(access(path, F_OK), -1); /* nothing left behind */
    p.vocab_path = NULL;
    p.shape = NULL;
    assert_int_equal(ue_gemma3_random_write(&p, path, &err), UE_ERR_ARGUMENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_k_m_plan),
        cmocka_unit_test(test_other_file_types),
        cmocka_unit_test(test_plan_matches_real_270m),
        cmocka_unit_test(test_tiny_models_load_and_run),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_vocabulary),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
