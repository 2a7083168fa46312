/* Tokenizer rules on small crafted vocabularies (GGUFs built in memory), with ids worked
 * out by hand from SentencePiece's BPE: score order and leftmost ties, unused pieces split
 * back, user-defined vs control pieces, spaces and the dummy prefix, byte fallback; and
 * every validation error of ue_tokenizer_create. The real vocabulary: test_tokenizer.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"
#include "gguf_builder.h"
#include "model/tokenizer.h"
#include "test_util.h"

enum { N = 1, K = 2, C = 3, U = 4, X = 5, B = 6 }; /* token types */
#define MAX_TOK 300

typedef struct vocab {
    const char *str[MAX_TOK];
    float score[MAX_TOK];
    int32_t type[MAX_TOK];
    int n;
} vocab;

/* Ids of the pieces added by base_vocab after the 4 specials and 256 bytes. */
enum {
    ID_A = 260, ID_B, ID_C, ID_AB, ID_BC, ID_BA, ID_X, ID_Y, ID_Z, ID_XY, ID_XYZ, ID_P, ID_Q,
    ID_R, ID_PQ, ID_QR, ID_PQR, ID_SP, ID_SP_A, ID_UD, ID_CTL, ID_UD_SPACES, ID_LT2, ID_LT3,
    ID_END
};

static char g_byte_str[256][8];

static void add(vocab *v, const char *s, float score, int32_t type) {
    assert_true(v->n < MAX_TOK);
    v->str[v->n] = s;
    v->score[v->n] = score;
    v->type[v->n] = type;
    v->n++;
}

static void base_vocab(vocab *v) {
    memset(v, 0, sizeof *v);
    add(v, "<pad>", -1000, C);
    add(v, "<eos>", -1000, C);
    add(v, "<bos>", -1000, C);
    add(v, "<unk>", 0, K);
    for (int b = 0; b < 256; b++) {
        snprintf(g_byte_str[b], sizeof g_byte_str[b], "<0x%02X>", b);
        add(v, g_byte_str[b], 0, B);
    }
    add(v, "a", -1, N);
    add(v, "b", -2, N);
    add(v, "c", -3, N);
    add(v, "ab", -10, N);
    add(v, "bc", -5, N);
    add(v, "ba", -10, N); /* ties with "ab" */
    add(v, "x", -1, N);
    add(v, "y", -1, N);
    add(v, "z", -1, N);
    add(v, "xy", 10, X); /* unused: may be formed, never output */
    add(v, "xyz", 5, N);
    add(v, "p", -1, N);
    add(v, "q", -1, N);
    add(v, "r", -1, N);
    add(v, "pq", 3, N);
    add(v, "qr", 4, N);
    add(v, "pqr", 9, X);
    add(v, "\xe2\x96\x81", -1, N);
    add(v, "\xe2\x96\x81" "a", -2, N);
    add(v, "<u>", -1000, U);
    add(v, "<c>", -1000, C);
    add(v, "  ", -1000, U); /* as llama.cpp's converter stores "▁▁" */
    add(v, "<<", -1000, U);
    add(v, "<<<", -1000, U);
    assert_int_equal(v->n, ID_END);
}

typedef struct opts {
    const char *model;         /* NULL: key left out */
    int tokens;                /* 0 normal, 1 omitted, 2 a string, 3 an u32 array, 4 empty */
    int scores;                /* 0 normal, 1 omitted, 2 i32 elements, 3 one short */
    int types;                 /* 0 normal, 1 omitted, 2 u8 elements, 3 one short */
    int64_t bos, eos, unk, pad; /* -1: key left out; -2: written as a string */
    int space_prefix;          /* -1: left out, 2: written as a string */
} opts;

static opts default_opts(void) {
    return (opts){"llama", 0, 0, 0, 2, 1, 3, 0, 0};
}

static void add_id(gguf_builder *b, const char *key, int64_t v) {
    if (v == -1) return;
    if (v == -2)
        gguf_builder_add_str(b, key, "two");
    else
        gguf_builder_add_u32(b, key, (uint32_t)v);
}

static uint8_t *build(const vocab *v, const opts *o, size_t *size) {
    gguf_builder *b = gguf_builder_create();
    gguf_builder_add_str(b, "general.architecture", "gemma3");
    if (o->model) gguf_builder_add_str(b, "tokenizer.ggml.model", o->model);
    uint64_t n = (uint64_t)v->n;
    switch (o->tokens) {
    case 0: gguf_builder_add_arr_str(b, "tokenizer.ggml.tokens", v->str, n); break;
    case 2: gguf_builder_add_str(b, "tokenizer.ggml.tokens", "a"); break;
    case 3: gguf_builder_add_arr(b, "tokenizer.ggml.tokens", 4, v->type, n); break;
    case 4: gguf_builder_add_arr_str(b, "tokenizer.ggml.tokens", v->str, 0); break;
    }
    if (o->scores == 0 || o->scores == 3)
        gguf_builder_add_arr(b, "tokenizer.ggml.scores", 6, v->score, n - (o->scores == 3));
    if (o->scores == 2) gguf_builder_add_arr(b, "tokenizer.ggml.scores", 5, v->type, n);
    if (o->types == 0 || o->types == 3)
        gguf_builder_add_arr(b, "tokenizer.ggml.token_type", 5, v->type, n - (o->types == 3));
    if (o->types == 2) gguf_builder_add_arr(b, "tokenizer.ggml.token_type", 0, v->type, n);
    add_id(b, "tokenizer.ggml.bos_token_id", o->bos);
    add_id(b, "tokenizer.ggml.eos_token_id", o->eos);
    add_id(b, "tokenizer.ggml.unknown_token_id", o->unk);
    add_id(b, "tokenizer.ggml.padding_token_id", o->pad);
    gguf_builder_add_bool(b, "tokenizer.ggml.add_bos_token", 1);
    if (o->space_prefix == 2)
        gguf_builder_add_str(b, "tokenizer.ggml.add_space_prefix", "no");
    else if (o->space_prefix >= 0)
        gguf_builder_add_bool(b, "tokenizer.ggml.add_space_prefix", o->space_prefix);
    uint8_t *bytes;
    gguf_builder_finish(b, &bytes, size);
    gguf_builder_destroy(b);
    return bytes;
}

typedef struct loaded {
    uint8_t *bytes;
    ue_gguf *gguf;
    ue_tokenizer *tok;
} loaded;

static ue_status load(const vocab *v, const opts *o, loaded *l, ue_error *err) {
    size_t size;
    memset(l, 0, sizeof *l);
    l->bytes = build(v, o, &size);
    ue_error gerr = {0};
    if (ue_gguf_open_memory(l->bytes, size, &l->gguf, &gerr) != UE_OK)
        fail_msg("crafted GGUF does not open: %s", gerr.msg);
    return ue_tokenizer_create(l->gguf, &l->tok, err);
}

static void unload(loaded *l) {
    ue_tokenizer_destroy(l->tok);
    ue_gguf_close(l->gguf);
    free(l->bytes);
}

static void expect_ids(const ue_tokenizer *tok, const char *text, int parse_special,
                       const int32_t *want, size_t n_want) {
    int32_t got[64];
    size_t n;
    ue_error err = {0};
    if (ue_tokenizer_encode(tok, text, strlen(text), 0, parse_special, got, 64, &n, &err))
        fail_msg("encode \"%s\": %s", text, err.msg);
    int same = n == n_want && (n == 0 || !memcmp(got, want, n * sizeof *got));
    if (!same) {
        char buf[512];
        size_t k = 0;
        for (size_t i = 0; i < n && i < 64 && k < sizeof buf - 16; i++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, " %d", got[i]);
        buf[k] = '\0';
        fail_msg("encode \"%s\" (parse_special=%d): got%s", text, parse_special, buf);
    }
}

#define IDS(...) (const int32_t[]){__VA_ARGS__}, sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)
#define BYTE(b) (4 + (b))

static void test_merge_rules(void **state) {
    (void)state;
    vocab v;
    base_vocab(&v);
    opts o = default_opts();
    loaded l;
    ue_error err = {0};
    if (load(&v, &o, &l, &err)) fail_msg("%s", err.msg);
    const ue_tokenizer *t = l.tok;
    /* the best-scoring pair first: "bc" (-5) before "ab" (-10) */
    expect_ids(t, "abc", 0, IDS(ID_A, ID_BC));
    /* equal scores: the leftmost pair */
    expect_ids(t, "aba", 0, IDS(ID_AB, ID_A));
    expect_ids(t, "bab", 0, IDS(ID_BA, ID_B));
    /* an unused piece is split back into what formed it */
    expect_ids(t, "xy", 0, IDS(ID_X, ID_Y));
    /* ... but can still be a step towards a normal piece */
    expect_ids(t, "xyz", 0, IDS(ID_XYZ));
    expect_ids(t, "xyzxy", 0, IDS(ID_XYZ, ID_X, ID_Y));
    /* "qr" (4) forms first, then unused "pqr" from p + qr, split back the same way */
    expect_ids(t, "pqr", 0, IDS(ID_P, ID_QR));
    /* spaces are U+2581 pieces; no dummy prefix */
    expect_ids(t, "a b", 0, IDS(ID_A, ID_SP, ID_B));
    expect_ids(t, " a", 0, IDS(ID_SP_A));
    /* a user-defined run of spaces, matched on the U+2581 form, frozen */
    expect_ids(t, "a  a", 0, IDS(ID_A, ID_UD_SPACES, ID_A));
    expect_ids(t, "\xe2\x96\x81 a", 0, IDS(ID_UD_SPACES, ID_A));
    /* longest user-defined match, left to right; '<' alone is no piece -> byte */
    expect_ids(t, "<<<<", 0, IDS(ID_LT3, BYTE('<')));
    expect_ids(t, "<<<<<<", 0, IDS(ID_LT3, ID_LT3));
    /* control pieces only with parse_special; user-defined always */
    expect_ids(t, "<c><u>", 0, IDS(BYTE('<'), ID_C, BYTE('>'), ID_UD));
    expect_ids(t, "<c><u>", 1, IDS(ID_CTL, ID_UD));
    expect_ids(t, "a<bos>", 1, IDS(ID_A, 2));
    expect_ids(t, "<unk>", 1, IDS(3));
    /* user-defined pieces never merge with neighbours */
    expect_ids(t, "a<u>b", 0, IDS(ID_A, ID_UD, ID_B));
    /* byte fallback: unknown characters and invalid bytes */
    expect_ids(t, "\xc3\xa9", 0, IDS(BYTE(0xC3), BYTE(0xA9)));
    expect_ids(t, "a\xff" "b", 0, IDS(ID_A, BYTE(0xFF), ID_B));
    expect_ids(t, "\xe4\xb8" "a", 0, IDS(BYTE(0xE4), BYTE(0xB8), ID_A));
    expect_ids(t, "", 0, NULL, 0);

    size_t len;
    assert_int_equal(ue_tokenizer_find(t, "  ", 2), ID_UD_SPACES);
    assert_memory_equal(ue_tokenizer_piece(t, ID_UD_SPACES, 0, &len), "  ", 2);
    assert_int_equal(len, 2);
    assert_memory_equal(ue_tokenizer_piece(t, ID_SP_A, 0, &len), " a", 2);
    assert_int_equal(len, 2);
    ue_tokenizer_piece(t, 3, 0, &len); /* unknown: hidden like control */
    assert_int_equal(len, 0);
    ue_tokenizer_piece(t, ID_XY, 0, &len); /* unused: hidden too */
    assert_int_equal(len, 0);
    assert_memory_equal(ue_tokenizer_piece(t, ID_CTL, 1, &len), "<c>", 3);
    assert_int_equal(ue_tokenizer_kind(t, ID_XY), UE_TOKEN_UNUSED);
    assert_int_equal(ue_tokenizer_kind(t, 3), UE_TOKEN_UNKNOWN);
    assert_false(ue_tokenizer_is_eog(t, 106)); /* no <end_of_turn> here */
    assert_true(ue_tokenizer_is_eog(t, 1));
    unload(&l);
}

/* add_space_prefix: one U+2581 in front of the text, as SentencePiece's add_dummy_prefix;
 * also the default when the key is missing (llama.cpp's default for these files). */
static void test_space_prefix(void **state) {
    (void)state;
    vocab v;
    base_vocab(&v);
    for (int mode = 1; mode >= -1; mode -= 2) {
        opts o = default_opts();
        o.space_prefix = mode;
        loaded l;
        ue_error err = {0};
        if (load(&v, &o, &l, &err)) fail_msg("%s", err.msg);
        expect_ids(l.tok, "a", 0, IDS(ID_SP_A));
        expect_ids(l.tok, "a a", 0, IDS(ID_SP_A, ID_SP_A));
        expect_ids(l.tok, " a", 0, IDS(ID_UD_SPACES, ID_A));
        expect_ids(l.tok, "<c>", 1, IDS(ID_SP, ID_CTL));
        expect_ids(l.tok, "", 0, NULL, 0);
        unload(&l);
    }
}

/* Without unused pieces that merges could form, runs between frozen symbols are merged
 * separately (a faster path): same results. */
static void test_runs_between_specials(void **state) {
    (void)state;
    vocab v;
    base_vocab(&v);
    v.type[ID_XY] = C;
    v.type[ID_PQR] = C;
    opts o = default_opts();
    o.space_prefix = 0;
    loaded l;
    ue_error err = {0};
    if (load(&v, &o, &l, &err)) fail_msg("%s", err.msg);
    expect_ids(l.tok, "abc<u>aba<u><u>bab", 0,
               IDS(ID_A, ID_BC, ID_UD, ID_AB, ID_A, ID_UD, ID_UD, ID_BA, ID_B));
    expect_ids(l.tok, "xyz", 0, IDS(ID_X, ID_Y, ID_Z)); /* "xy" is no longer mergeable */
    expect_ids(l.tok, "pqr<u>pqr", 0, IDS(ID_P, ID_QR, ID_UD, ID_P, ID_QR));
    expect_ids(l.tok, "pqr<c>", 1, IDS(ID_PQR, ID_CTL)); /* now control pieces */
    expect_ids(l.tok, "xy", 1, IDS(ID_XY));
    unload(&l);
}

typedef void (*mutate_fn)(vocab *v, opts *o);

static void expect_error(mutate_fn mutate, ue_status code, const char *needle) {
    vocab v;
    base_vocab(&v);
    opts o = default_opts();
    mutate(&v, &o);
    loaded l;
    ue_error err = {0};
    ue_status st = load(&v, &o, &l, &err);
    if (st == UE_OK) fail_msg("expected an error containing \"%s\", got success", needle);
    assert_null(l.tok);
    assert_int_equal(st, code);
    if (!strstr(err.msg, needle))
        fail_msg("error \"%s\" does not contain \"%s\"", err.msg, needle);
    unload(&l);
}

static void m_model_gpt2(vocab *v, opts *o) { (void)v; o->model = "gpt2"; }
static void m_model_missing(vocab *v, opts *o) { (void)v; o->model = NULL; }
static void m_tokens_missing(vocab *v, opts *o) { (void)v; o->tokens = 1; }
static void m_tokens_string(vocab *v, opts *o) { (void)v; o->tokens = 2; }
static void m_tokens_u32(vocab *v, opts *o) { (void)v; o->tokens = 3; }
static void m_tokens_empty(vocab *v, opts *o) { (void)v; o->tokens = 4; }
static void m_scores_missing(vocab *v, opts *o) { (void)v; o->scores = 1; }
static void m_scores_i32(vocab *v, opts *o) { (void)v; o->scores = 2; }
static void m_scores_short(vocab *v, opts *o) { (void)v; o->scores = 3; }
static void m_types_missing(vocab *v, opts *o) { (void)v; o->types = 1; }
static void m_types_u8(vocab *v, opts *o) { (void)v; o->types = 2; }
static void m_types_short(vocab *v, opts *o) { (void)v; o->types = 3; }
static void m_type_7(vocab *v, opts *o) { (void)o; v->type[ID_B] = 7; }
static void m_type_0(vocab *v, opts *o) { (void)o; v->type[ID_B] = 0; }
static void m_score_nan(vocab *v, opts *o) { (void)o; v->score[ID_C] = NAN; }
static void m_piece_empty(vocab *v, opts *o) { (void)o; v->str[ID_C] = ""; }
static void m_piece_long(vocab *v, opts *o) {
    (void)o;
    static char big[5000];
    memset(big, 'a', sizeof big - 1);
    v->str[ID_C] = big;
}
static void m_byte_missing(vocab *v, opts *o) { (void)o; v->str[BYTE(0x41)] = "Q"; v->type[BYTE(0x41)] = N; }
static void m_byte_bad_text(vocab *v, opts *o) { (void)o; v->str[BYTE(0x41)] = "<0x4g>"; }
static void m_byte_lower_hex(vocab *v, opts *o) { (void)o; v->str[BYTE(0xAB)] = "<0xab>"; }
static void m_bos_missing(vocab *v, opts *o) { (void)v; o->bos = -1; }
static void m_bos_range(vocab *v, opts *o) { (void)v; o->bos = ID_END; }
static void m_eos_string(vocab *v, opts *o) { (void)v; o->eos = -2; }
static void m_unk_range(vocab *v, opts *o) { (void)v; o->unk = 1u << 30; }
static void m_pad_range(vocab *v, opts *o) { (void)v; o->pad = 4000000000u; }
static void m_prefix_string(vocab *v, opts *o) { (void)v; o->space_prefix = 2; }

static void test_validation_errors(void **state) {
    (void)state;
    expect_error(m_model_gpt2, UE_ERR_UNSUPPORTED, "tokenizer.ggml.model: expected \"llama\"");
    expect_error(m_model_missing, UE_ERR_FORMAT, "tokenizer.ggml.model");
    expect_error(m_tokens_missing, UE_ERR_FORMAT, "missing key 'tokenizer.ggml.tokens'");
    expect_error(m_tokens_string, UE_ERR_FORMAT, "tokenizer.ggml.tokens: expected an array");
    expect_error(m_tokens_u32, UE_ERR_FORMAT, "expected elements of type string, got u32");
    expect_error(m_tokens_empty, UE_ERR_FORMAT, "tokenizer.ggml.tokens: expected 1..");
    expect_error(m_scores_missing, UE_ERR_FORMAT, "missing key 'tokenizer.ggml.scores'");
    expect_error(m_scores_i32, UE_ERR_FORMAT, "tokenizer.ggml.scores: expected elements of type f32");
    expect_error(m_scores_short, UE_ERR_FORMAT, "tokenizer.ggml.scores: expected 284 elements");
    expect_error(m_types_missing, UE_ERR_FORMAT, "missing key 'tokenizer.ggml.token_type'");
    expect_error(m_types_u8, UE_ERR_FORMAT, "token_type: expected elements of type i32, got u8");
    expect_error(m_types_short, UE_ERR_FORMAT, "token_type: expected 284 elements");
    expect_error(m_type_7, UE_ERR_FORMAT, "token_type[261]: expected 1..6, got 7");
    expect_error(m_type_0, UE_ERR_FORMAT, "token_type[261]: expected 1..6, got 0");
    expect_error(m_score_nan, UE_ERR_FORMAT, "tokenizer.ggml.scores[262] is NaN");
    expect_error(m_piece_empty, UE_ERR_FORMAT, "tokenizer.ggml.tokens[262] is empty");
    expect_error(m_piece_long, UE_ERR_FORMAT, "tokenizer.ggml.tokens[262]: 4999 bytes");
    expect_error(m_byte_missing, UE_ERR_FORMAT, "no byte token <0x41>");
    expect_error(m_byte_bad_text, UE_ERR_FORMAT, "tokens[69]: a byte token (type 6) must read");
    expect_error(m_byte_lower_hex, UE_ERR_FORMAT, "got \"<0xab>\"");
    expect_error(m_bos_missing, UE_ERR_FORMAT, "missing key 'tokenizer.ggml.bos_token_id'");
    expect_error(m_bos_range, UE_ERR_FORMAT, "bos_token_id: expected an id below n_vocab 284, got 284");
    expect_error(m_eos_string, UE_ERR_FORMAT, "tokenizer.ggml.eos_token_id");
    expect_error(m_unk_range, UE_ERR_FORMAT, "unknown_token_id: expected an id below");
    expect_error(m_pad_range, UE_ERR_FORMAT, "padding_token_id: expected an id below");
    expect_error(m_prefix_string, UE_ERR_FORMAT, "tokenizer.ggml.add_space_prefix");
}

/* Optional keys may be left out: no unknown/padding id, prefix default. */
static void test_optional_keys(void **state) {
    (void)state;
    vocab v;
    base_vocab(&v);
    opts o = default_opts();
    o.unk = -1;
    o.pad = -1;
    o.space_prefix = 0;
    loaded l;
    ue_error err = {0};
    if (load(&v, &o, &l, &err)) fail_msg("%s", err.msg);
    expect_ids(l.tok, "abc", 0, IDS(ID_A, ID_BC));
    assert_int_equal(ue_tokenizer_n_vocab(l.tok), ID_END);
    assert_int_equal(ue_tokenizer_bos(l.tok), 2);
    unload(&l);
}

/* The tokenizer keeps one decoded copy of the pieces and matches lookups against the GGUF
 * spelling: U+2581 of normal pieces, "<0xXX>" of byte pieces, and a normal piece holding
 * a literal ' ' (kept aside) each found by its own spelling only. */
static void test_spelled_lookups(void **state) {
    (void)state;
    vocab v;
    base_vocab(&v);
    add(&v, "a b", -50, N);
    add(&v, "\xe2\x96\x81" "b c", -51, N);
    opts o = default_opts();
    loaded l;
    ue_error err = {0};
    if (load(&v, &o, &l, &err)) fail_msg("%s", err.msg);
    const ue_tokenizer *t = l.tok;
    assert_int_equal(ue_tokenizer_find(t, "a b", 3), ID_END);
    assert_int_equal(ue_tokenizer_find(t, "\xe2\x96\x81" "b c", 6), ID_END + 1);
    assert_int_equal(ue_tokenizer_find(t, " b c", 4), -1);
    assert_int_equal(ue_tokenizer_find(t, "\xe2\x96\x81" "b\xe2\x96\x81" "c", 8), -1);
    assert_int_equal(ue_tokenizer_find(t, "\xe2\x96\x81" "a", 4), ID_SP_A);
    assert_int_equal(ue_tokenizer_find(t, " a", 2), -1);
    assert_int_equal(ue_tokenizer_find(t, "<0x41>", 6), BYTE(0x41));
    assert_int_equal(ue_tokenizer_find(t, "A", 1), -1);
    assert_int_equal(ue_tokenizer_find(t, "  ", 2), ID_UD_SPACES);
    size_t n;
    const char *p = ue_tokenizer_piece(t, ID_SP_A, 0, &n);
    assert_int_equal(n, 2);
    assert_memory_equal(p, " a", 2);
    p = ue_tokenizer_piece(t, ID_END, 0, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "a b", 3);
    p = ue_tokenizer_piece(t, ID_END + 1, 0, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(p, " b c", 4);
    p = ue_tokenizer_piece(t, BYTE(0x41), 0, &n);
    assert_int_equal(n, 1);
    assert_memory_equal(p, "A", 1);
    expect_ids(t, " a", 0, IDS(ID_SP_A));
    expect_ids(t, "A", 0, IDS(BYTE(0x41)));
    unload(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_rules),
        cmocka_unit_test(test_space_prefix),
        cmocka_unit_test(test_runs_between_specials),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_optional_keys),
        cmocka_unit_test(test_spelled_lookups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
