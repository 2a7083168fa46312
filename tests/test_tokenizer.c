/* Tokenizer on the real Gemma 3 vocabulary: ids match SentencePiece exactly for every case
 * in fixtures/tokenizer/cases.txt (tools/make_tokenizer_fixtures.py) with parse_special off
 * and on; decode(encode(s)) gives s back; the streaming detokenizer hands out only valid
 * UTF-8 whose concatenation is the whole decode. Rules on crafted vocabularies and the
 * validation errors: test_tokenizer_vocab.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"
#include "model/tokenizer.h"
#include "test_util.h"

#define CASES "tests/fixtures/tokenizer/cases.txt"

typedef struct tcase {
    char name[32];
    uint8_t *text;
    size_t len;
    int32_t *ids[2]; /* parse_special off, on */
    size_t n_ids[2];
    uint8_t *repl; /* decode with U+FFFD, for invalid UTF-8 only */
    size_t n_repl;
} tcase;

static ue_gguf *g_gguf;
static ue_tokenizer *g_tok;
static tcase *g_cases;
static size_t g_n_cases;

static uint8_t *hex_decode(const char *s, size_t *len) {
    size_t n = strcspn(s, "\n") / 2;
    uint8_t *out = malloc(n + 1);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) fail_msg("bad hex in " CASES);
        out[i] = (uint8_t)v;
    }
    *len = n;
    return out;
}

static int32_t *parse_ids(const char *s, size_t *n) {
    size_t cap = 16, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    assert_non_null(ids);
    char *end;
    for (;;) {
        long v = strtol(s, &end, 10);
        if (end == s) break;
        if (k == cap) {
            cap *= 2;
            ids = realloc(ids, cap * sizeof *ids);
            assert_non_null(ids);
        }
        ids[k++] = (int32_t)v;
        s = end;
    }
    *n = k;
    return ids;
}

static void load_cases(void) {
    size_t size;
    char *file = ue_test_read_file(CASES, &size);
    size_t cap = 1024;
    g_cases = calloc(cap, sizeof *g_cases);
    assert_non_null(g_cases);
    tcase *c = NULL;
    for (char *line = file; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (!strncmp(line, "case ", 5)) {
            if (g_n_cases == cap) fail_msg("more than %zu cases", cap);
            c = &g_cases[g_n_cases++];
            sscanf(line + 5, "%31s", c->name);
        } else if (!c || line[0] == '#') {
            continue;
        } else if (!strncmp(line, "text ", 5)) {
            c->text = hex_decode(line + 5, &c->len);
        } else if (!strncmp(line, "off ", 4)) {
            c->ids[0] = parse_ids(line + 4, &c->n_ids[0]);
        } else if (!strncmp(line, "on ", 3)) {
            if (line[3] == '=') {
                c->n_ids[1] = c->n_ids[0];
                c->ids[1] = malloc((c->n_ids[0] + 1) * sizeof(int32_t));
                assert_non_null(c->ids[1]);
                memcpy(c->ids[1], c->ids[0], c->n_ids[0] * sizeof(int32_t));
            } else {
                c->ids[1] = parse_ids(line + 3, &c->n_ids[1]);
            }
        } else if (!strncmp(line, "repl ", 5)) {
            c->repl = hex_decode(line + 5, &c->n_repl);
        }
    }
    free(file);
    if (g_n_cases < 500) fail_msg("%s has %zu cases, expected at least 500", CASES, g_n_cases);
}

static int setup(void **state) {
    (void)state;
    const char *path = ue_test_model_path();
    ue_error err = {0};
    if (ue_gguf_open(path, &g_gguf, &err) != UE_OK) fail_msg("open %s: %s", path, err.msg);
    if (ue_tokenizer_create(g_gguf, &g_tok, &err) != UE_OK) fail_msg("tokenizer: %s", err.msg);
    load_cases();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (size_t i = 0; i < g_n_cases; i++) {
        free(g_cases[i].text);
        free(g_cases[i].ids[0]);
        free(g_cases[i].ids[1]);
        free(g_cases[i].repl);
    }
    free(g_cases);
    ue_tokenizer_destroy(g_tok);
    ue_gguf_close(g_gguf);
    return 0;
}

static int32_t *encode(const uint8_t *text, size_t len, int add_bos, int parse_special,
                       size_t *n) {
    ue_error err = {0};
    size_t cap = len + 2;
    int32_t *ids = malloc(cap * sizeof *ids);
    assert_non_null(ids);
    if (ue_tokenizer_encode(g_tok, (const char *)text, len, add_bos, parse_special, ids, cap, n,
                            &err) != UE_OK)
        fail_msg("encode: %s", err.msg);
    assert_true(*n <= cap); /* never more ids than bytes (+ bos) */
    return ids;
}

static int utf8_valid(const uint8_t *s, size_t n) {
    /* Independent of the code under test: Unicode Table 3-7 ranges. */
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return 0;
        }
        if (i + k >= n) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t j = 2; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

static void test_fixture_ids(void **state) {
    (void)state;
    size_t n_checked = 0;
    for (size_t i = 0; i < g_n_cases; i++) {
        const tcase *c = &g_cases[i];
        for (int ps = 0; ps < 2; ps++) {
            size_t n;
            int32_t *ids = encode(c->text, c->len, 0, ps, &n);
            if (n != c->n_ids[ps] || memcmp(ids, c->ids[ps], n * sizeof *ids)) {
                size_t k = 0;
                while (k < n && k < c->n_ids[ps] && ids[k] == c->ids[ps][k]) k++;
                fail_msg("case %zu (%s, parse_special=%d, %zu bytes): %zu ids, expected %zu; "
                         "first difference at %zu: %d, expected %d", i, c->name, ps, c->len, n,
                         c->n_ids[ps], k, k < n ? ids[k] : -1,
                         k < c->n_ids[ps] ? c->ids[ps][k] : -1);
            }
            free(ids);
            n_checked++;
        }
    }
    printf("%zu cases x 2 modes match SentencePiece\n", g_n_cases);
    assert_int_equal(n_checked, 2 * g_n_cases);
}

/* add_bos prepends <bos> once; a short cap writes a prefix and reports the full count. */
static void test_bos_and_cap(void **state) {
    (void)state;
    const tcase *c = NULL;
    for (size_t i = 0; i < g_n_cases && !c; i++)
        if (g_cases[i].n_ids[1] >= 10) c = &g_cases[i];
    assert_non_null(c);
    size_t n;
    int32_t *ids = encode(c->text, c->len, 1, 1, &n);
    assert_int_equal(n, c->n_ids[1] + 1);
    assert_int_equal(ids[0], ue_tokenizer_bos(g_tok));
    assert_int_equal(ids[0], 2);
    assert_memory_equal(ids + 1, c->ids[1], c->n_ids[1] * sizeof *ids);

    int32_t small[5] = {-7, -7, -7, -7, -7};
    size_t n2 = 0;
    ue_error err = {0};
    assert_int_equal(ue_tokenizer_encode(g_tok, (const char *)c->text, c->len, 1, 1, small, 4,
                                         &n2, &err), UE_OK);
    assert_int_equal(n2, n);
    assert_memory_equal(small, ids, 4 * sizeof *ids);
    assert_int_equal(small[4], -7);
    assert_int_equal(ue_tokenizer_encode(g_tok, (const char *)c->text, c->len, 0, 1, NULL, 0,
                                         &n2, &err), UE_OK);
    assert_int_equal(n2, c->n_ids[1]);
    assert_int_equal(ue_tokenizer_encode(g_tok, "", 0, 1, 0, small, 5, &n2, &err), UE_OK);
    assert_int_equal(n2, 1);
    assert_int_equal(small[0], 2);
    assert_int_not_equal(ue_tokenizer_encode(g_tok, NULL, 3, 0, 0, small, 5, &n2, &err), UE_OK);
    free(ids);
}

static uint8_t *decode_all(const int32_t *ids, size_t n, int show_special, size_t *len) {
    size_t cap = 64, k = 0;
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        size_t pl;
        const char *p = ue_tokenizer_piece(g_tok, ids[i], show_special, &pl);
        while (k + pl > cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        memcpy(out + k, p, pl);
        k += pl;
    }
    *len = k;
    return out;
}

/* U+2581 typed in the text comes back as a space: those cases cannot round-trip. */
static int has_space_symbol(const tcase *c) {
    return c->len >= 3 && memmem(c->text, c->len, "\xe2\x96\x81", 3) != NULL;
}

static void test_round_trip(void **state) {
    (void)state;
    size_t n_checked = 0;
    for (size_t i = 0; i < g_n_cases; i++) {
        const tcase *c = &g_cases[i];
        if (has_space_symbol(c)) continue;
        /* Specials parsed and shown, or left as text: both give the input back, byte for
         * byte (invalid UTF-8 too, through byte tokens). */
        for (int ps = 0; ps < 2; ps++) {
            size_t n;
            uint8_t *back = decode_all(c->ids[ps], c->n_ids[ps], ps, &n);
            if (n != c->len || memcmp(back, c->text, n))
                fail_msg("case %zu (%s, parse_special=%d): decode gives %zu bytes, expected %zu",
                         i, c->name, ps, n, c->len);
            free(back);
            n_checked++;
        }
    }
    printf("%zu of %zu cases round-trip in both modes (the rest type U+2581)\n", n_checked / 2,
           g_n_cases);
    assert_true(n_checked > g_n_cases); /* most cases */
}

static void test_detok_streaming(void **state) {
    (void)state;
    for (size_t i = 0; i < g_n_cases; i++) {
        const tcase *c = &g_cases[i];
        ue_detok *d = ue_detok_create_tok(g_tok, 1);
        assert_non_null(d);
        size_t cap = 3 * c->len + 16, k = 0;
        uint8_t *got = malloc(cap);
        assert_non_null(got);
        for (size_t t = 0; t <= c->n_ids[1]; t++) {
            size_t len;
            const char *chunk = t < c->n_ids[1] ? ue_detok_push(d, c->ids[1][t], &len)
                                                : ue_detok_flush(d, &len);
            if (!utf8_valid((const uint8_t *)chunk, len))
                fail_msg("case %zu (%s): chunk after token %zu is not valid UTF-8", i, c->name, t);
            assert_true(k + len <= cap);
            memcpy(got + k, chunk, len);
            k += len;
        }
        size_t n_full;
        uint8_t *full = decode_all(c->ids[1], c->n_ids[1], 1, &n_full);
        const uint8_t *want = utf8_valid(full, n_full) ? full : c->repl;
        size_t n_want = utf8_valid(full, n_full) ? n_full : c->n_repl;
        if (want == c->repl && has_space_symbol(c)) want = NULL; /* no reference for it */
        if (want && (k != n_want || memcmp(got, want, k)))
            fail_msg("case %zu (%s): streamed %zu bytes differ from the %zu-byte decode", i,
                     c->name, k, n_want);
        if (utf8_valid(c->text, c->len) && !has_space_symbol(c))
            assert_true(k == c->len && !memcmp(got, c->text, k));
        free(full);
        free(got);
        ue_detok_destroy(d);
    }
}

static int32_t byte_tok(int b) {
    char piece[8];
    snprintf(piece, sizeof piece, "<0x%02X>", b);
    int32_t id = ue_tokenizer_find(g_tok, piece, 6);
    assert_true(id >= 0);
    assert_int_equal(ue_tokenizer_kind(g_tok, id), UE_TOKEN_BYTE);
    return id;
}

static void expect_push(ue_detok *d, int32_t id, const char *want) {
    size_t len;
    const char *got = ue_detok_push(d, id, &len);
    if (len != strlen(want) || memcmp(got, want, len))
        fail_msg("push %d: got \"%.*s\" (%zu bytes), expected \"%s\"", id, (int)len, got, len,
                 want);
}

static void expect_flush(ue_detok *d, const char *want) {
    size_t len;
    const char *got = ue_detok_flush(d, &len);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
}

#define FFFD "\xef\xbf\xbd"

static void test_detok_bytes(void **state) {
    (void)state;
    ue_detok *d = ue_detok_create_tok(g_tok, 0);
    assert_non_null(d);
    int32_t a = ue_tokenizer_find(g_tok, "A", 1);
    assert_true(a >= 0);
    /* 中 = E4 B8 AD held back until complete */
    expect_push(d, byte_tok(0xE4), "");
    expect_push(d, byte_tok(0xB8), "");
    expect_push(d, byte_tok(0xAD), "\xe4\xb8\xad");
    /* an incomplete character cut by ASCII: one U+FFFD for the maximal subpart */
    expect_push(d, byte_tok(0xE4), "");
    expect_push(d, byte_tok(0xB8), "");
    expect_push(d, a, FFFD "A");
    /* bytes that never start a character, and surrogates / overlongs */
    expect_push(d, byte_tok(0xFF), FFFD);
    expect_push(d, byte_tok(0x80), FFFD);
    expect_push(d, byte_tok(0xC0), FFFD);
    expect_push(d, byte_tok(0xED), "");
    expect_push(d, byte_tok(0xA0), FFFD FFFD);
    expect_push(d, byte_tok(0xF0), "");
    expect_push(d, byte_tok(0x9F), "");
    expect_push(d, byte_tok(0x98), "");
    expect_push(d, byte_tok(0x80), "\xf0\x9f\x98\x80");
    /* flush of a held-back prefix */
    expect_push(d, byte_tok(0xF0), "");
    expect_push(d, byte_tok(0x9F), "");
    expect_flush(d, FFFD);
    expect_flush(d, "");
    /* a lead byte followed by another lead byte */
    expect_push(d, byte_tok(0xC3), "");
    expect_push(d, byte_tok(0xC3), FFFD);
    expect_push(d, byte_tok(0xA9), "\xc3\xa9");
    /* control tokens hidden without show_special; out-of-range ids give nothing */
    expect_push(d, 106, "");
    expect_push(d, -1, "");
    expect_push(d, ue_tokenizer_n_vocab(g_tok), "");
    ue_detok_destroy(d);

    d = ue_detok_create_tok(g_tok, 1);
    expect_push(d, 106, "<end_of_turn>");
    expect_push(d, 108, "\n\n");
    expect_push(d, 138, "  ");
    expect_push(d, ue_tokenizer_find(g_tok, "\xe2\x96\x81the", 6), " the");
    ue_detok_destroy(d);
    ue_detok_destroy(NULL);
    assert_null(ue_detok_create_tok(NULL, 0));
}

static void test_vocab_facts(void **state) {
    (void)state;
    assert_int_equal(ue_tokenizer_n_vocab(g_tok), 262144);
    assert_int_equal(ue_tokenizer_eos(g_tok), 1);
    assert_int_equal(ue_tokenizer_find(g_tok, "<start_of_turn>", 15), 105);
    assert_int_equal(ue_tokenizer_find(g_tok, "<end_of_turn>", 13), 106);
    assert_int_equal(ue_tokenizer_find(g_tok, "<0x0A>", 6), 248);
    assert_int_equal(ue_tokenizer_find(g_tok, "no such piece", 13), -1);
    assert_int_equal(ue_tokenizer_kind(g_tok, 105), UE_TOKEN_CONTROL);
    assert_int_equal(ue_tokenizer_kind(g_tok, 107), UE_TOKEN_USER_DEFINED);
    assert_int_equal(ue_tokenizer_kind(g_tok, 238), UE_TOKEN_BYTE);
    assert_int_equal(ue_tokenizer_kind(g_tok, 236743), UE_TOKEN_NORMAL);
    assert_int_equal(ue_tokenizer_kind(g_tok, -1), 0);
    assert_true(ue_tokenizer_is_eog(g_tok, 1));
    assert_true(ue_tokenizer_is_eog(g_tok, 106));
    assert_false(ue_tokenizer_is_eog(g_tok, 105));
    assert_false(ue_tokenizer_is_eog(g_tok, 2));
    size_t len;
    assert_string_equal(ue_tokenizer_piece(g_tok, 105, 0, &len), "");
    assert_int_equal(len, 0);
    const char *p = ue_tokenizer_piece(g_tok, 248, 0, &len);
    assert_int_equal(len, 1);
    assert_int_equal(p[0], '\n');
    p = ue_tokenizer_piece(g_tok, 2, 1, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(p, "<bos>", 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_facts),
        cmocka_unit_test(test_fixture_ids),
        cmocka_unit_test(test_bos_and_cap),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_detok_streaming),
        cmocka_unit_test(test_detok_bytes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
