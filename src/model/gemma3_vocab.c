/* Vocabulary of random Gemma 3 files: tokenizer.ggml.{tokens,scores,token_type} copied
 * from a real GGUF, or synthesized with Gemma 3's layout (gemma3.md 3: control tokens
 * 0..106, newline and space runs as user-defined tokens, bytes <0x00>..<0xFF> at
 * 238..493, normal pieces with descending scores, <start_of_image> / <end_of_image> at
 * 255999 / 256000, <unusedN> up to 262143; multimodal shapes add <image_soft_token> and
 * [PADn] rows up to 262208). Token types: 1 normal, 3 control, 4 user-defined, 5 unused,
 * 6 byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"
#include "model/gemma3_random.h"

enum { T_NORMAL = 1, T_CONTROL = 3, T_USER = 4, T_UNUSED = 5, T_BYTE = 6 };
enum { PIECE_MAX = 128 }; /* the longest synthesized piece is 101 spaces */

typedef struct vocab {
    int n;
    const char **strs;
    uint64_t *lens;
    float *scores;
    int32_t *types;
    char *text; /* synthesized pieces */
    size_t text_len, text_cap;
} vocab;

static ue_status vocab_alloc(vocab *v, int n, ue_error *err) {
    memset(v, 0, sizeof *v);
    v->n = n;
    /* synthesized pieces average under 8 bytes; the space runs add ~5 KB */
    v->text_cap = (size_t)n * 16 + 16384;
    v->strs = calloc((size_t)n, sizeof *v->strs);
    v->lens = calloc((size_t)n, sizeof *v->lens);
    v->scores = calloc((size_t)n, sizeof *v->scores);
    v->types = calloc((size_t)n, sizeof *v->types);
    v->text = malloc(v->text_cap);
    if (!v->strs || !v->lens || !v->scores || !v->types || !v->text)
        return ue_fail(err, UE_ERR_NOMEM, "vocabulary: out of memory for %d tokens", n);
    return UE_OK;
}

static void vocab_free(vocab *v) {
    free(v->strs);
    free(v->lens);
    free(v->scores);
    free(v->types);
    free(v->text);
}

/* Sets token id to a copy of s (len bytes). */
static void set(vocab *v, int id, const char *s, size_t len, float score, int32_t type) {
    if (v->text_len + len > v->text_cap) abort(); /* the capacity above is a bug if short */
    char *dst = v->text + v->text_len;
    memcpy(dst, s, len);
    v->text_len += len;
    v->strs[id] = dst;
    v->lens[id] = len;
    v->scores[id] = score;
    v->types[id] = type;
}

static void setf(vocab *v, int id, float score, int32_t type, const char *fmt, int arg) {
    char buf[PIECE_MAX];
    int len = snprintf(buf, sizeof buf, fmt, arg);
    set(v, id, buf, (size_t)len, score, type);
}

/* Rows past the source vocabulary, as in the multimodal checkpoints. */
static void pad_from(vocab *v, int first) {
    for (int id = first; id < v->n; id++) {
        if (id == 262144)
            set(v, id, "<image_soft_token>", 18, -1000.0f, T_USER);
        else
            setf(v, id, -10000.0f, T_UNUSED, "[PAD%d]", id);
    }
}

/* The k-th word of bijective base 26: a..z, aa..zz, aaa.. */
static size_t word(uint64_t k, char *out) {
    size_t len = 1;
    uint64_t span = 26;
    while (k >= span) {
        k -= span;
        span *= 26;
        len++;
    }
    for (size_t i = len; i-- > 0; k /= 26) out[i] = (char)('a' + k % 26);
    return len;
}

static void synthesize(vocab *v) {
    static const char *ctrl[] = {"<pad>", "<eos>", "<bos>", "<unk>", "<mask>"};
    static const char space[] = "\xe2\x96\x81"; /* U+2581, a space inside pieces */
    char buf[PIECE_MAX];
    int id = 0;
    for (; id < 5; id++) set(v, id, ctrl[id], strlen(ctrl[id]), -1000.0f, T_CONTROL);
    set(v, id++, "[multimodal]", 12, -1000.0f, T_USER);
    for (int k = 0; id < 105; id++, k++) setf(v, id, -1000.0f, T_CONTROL, "<unused%d>", k);
    set(v, id++, "<start_of_turn>", 15, -1000.0f, T_CONTROL);
    set(v, id++, "<end_of_turn>", 13, -1000.0f, T_CONTROL);
    for (int k = 1; id < 138; id++, k++) { /* "\n" x 1..31 */
        memset(buf, '\n', (size_t)k);
        set(v, id, buf, (size_t)k, -1000.0f, T_USER);
    }
    for (int k = 2; id < 238; id++, k++) { /* runs of 2..101 spaces */
        memset(buf, ' ', (size_t)k);
        set(v, id, buf, (size_t)k, -1000.0f, T_USER);
    }
    for (int b = 0; b < 256; b++, id++) setf(v, id, 0.0f, T_BYTE, "<0x%02X>", b);
    /* Normal pieces, highest score first: U+2581 and the printable ASCII characters,
     * then words with and without a leading U+2581 (one-letter words only with it, as
     * the bare letters already exist). */
    float score = 0.0f;
    set(v, id++, space, 3, score--, T_NORMAL);
    for (int c = 0x21; c < 0x7f; c++, id++) {
        buf[0] = (char)c;
        set(v, id, buf, 1, score--, T_NORMAL);
    }
    for (uint64_t k = 0; id < 255999; k++) {
        memcpy(buf, space, 3);
        size_t len = word(k, buf + 3);
        set(v, id++, buf, 3 + len, score--, T_NORMAL);
        if (len >= 2 && id < 255999) set(v, id++, buf + 3, len, score--, T_NORMAL);
    }
    set(v, id++, "<start_of_image>", 16, -1000.0f, T_USER);
    set(v, id++, "<end_of_image>", 14, -1000.0f, T_USER);
    for (int k = 99; id < 262144 && id < v->n; id++, k++)
        setf(v, id, -1000.0f, T_CONTROL, "<unused%d>", k);
    pad_from(v, id);
}

/* Index of an array key of element type `elem`, or -1 with err set. */
static int64_t find_array(const ue_gguf *g, const char *key, ue_gguf_vtype elem, ue_error *err) {
    int64_t k = ue_gguf_find_key(g, key);
    if (k < 0) {
        ue_fail(err, UE_ERR_FORMAT, "vocabulary source: key %s is missing", key);
        return -1;
    }
    if (ue_gguf_kv_type(g, (uint64_t)k) != UE_GGUF_ARRAY || ue_gguf_arr_type(g, (uint64_t)k) != elem) {
        ue_fail(err, UE_ERR_FORMAT, "vocabulary source: %s is not an array of %s", key,
                ue_gguf_vtype_name(elem));
        return -1;
    }
    return k;
}

static ue_status copy_from(vocab *v, const char *path, ue_gguf **src_out, ue_error *err) {
    ue_gguf *g;
    ue_status st = ue_gguf_open(path, &g, err);
    if (st != UE_OK) {
        ue_error_prefix(err, "vocabulary source %s", path);
        return st;
    }
    *src_out = g; /* the copied pieces point into its mapping until they are written */
    int64_t kt = find_array(g, "tokenizer.ggml.tokens", UE_GGUF_STRING, err);
    int64_t ks = kt < 0 ? -1 : find_array(g, "tokenizer.ggml.scores", UE_GGUF_F32, err);
    int64_t ky = ks < 0 ? -1 : find_array(g, "tokenizer.ggml.token_type", UE_GGUF_I32, err);
    if (ky < 0) return UE_ERR_FORMAT;
    uint64_t n = ue_gguf_arr_len(g, (uint64_t)kt);
    if (ue_gguf_arr_len(g, (uint64_t)ks) != n || ue_gguf_arr_len(g, (uint64_t)ky) != n || n < 494)
        return ue_fail(err, UE_ERR_FORMAT, "vocabulary source %s: %llu tokens with %llu scores "
                       "and %llu types, expected equal counts of at least 494", path,
                       (unsigned long long)n,
                       (unsigned long long)ue_gguf_arr_len(g, (uint64_t)ks),
                       (unsigned long long)ue_gguf_arr_len(g, (uint64_t)ky));
    int copied = n < (uint64_t)v->n ? (int)n : v->n;
    const uint8_t *scores = ue_gguf_arr_data(g, (uint64_t)ks);
    const uint8_t *types = ue_gguf_arr_data(g, (uint64_t)ky);
    for (int i = 0; i < copied; i++) {
        ue_gguf_str s = ue_gguf_arr_str(g, (uint64_t)kt, (uint64_t)i);
        v->strs[i] = s.ptr;
        v->lens[i] = s.len;
        memcpy(&v->scores[i], scores + 4 * (size_t)i, 4);
        memcpy(&v->types[i], types + 4 * (size_t)i, 4);
    }
    pad_from(v, copied);
    return UE_OK;
}

ue_status ue_gemma3_vocab_add(ue_gguf_writer *w, const char *vocab_path, int n_vocab,
                              ue_error *err) {
    if (n_vocab < 262144)
        return ue_fail(err, UE_ERR_ARGUMENT, "vocabulary of %d tokens, expected at least 262144",
                       n_vocab);
    vocab v;
    ue_gguf *src = NULL;
    ue_status st = vocab_alloc(&v, n_vocab, err);
    if (st == UE_OK) {
        if (vocab_path)
            st = copy_from(&v, vocab_path, &src, err);
        else
            synthesize(&v);
    }
    if (st == UE_OK &&
        ((st = ue_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", v.strs, v.lens,
                                            (uint64_t)n_vocab, err)) ||
         (st = ue_gguf_writer_add_array(w, "tokenizer.ggml.scores", UE_GGUF_F32, v.scores,
                                        (uint64_t)n_vocab, err)) ||
         (st = ue_gguf_writer_add_array(w, "tokenizer.ggml.token_type", UE_GGUF_I32, v.types,
                                        (uint64_t)n_vocab, err))))
        ue_error_prefix(err, "vocabulary");
    ue_gguf_close(src);
    vocab_free(&v);
    return st;
}
