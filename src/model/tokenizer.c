/* Gemma 3 tokenizer: building it from the GGUF vocabulary (tokenizer.ggml.*, validated),
 * the piece hash table and special-piece trie, and token -> text. Encoding is in
 * tokenizer_encode.c. Reference: shared/docs/gemma3.md section 3; SentencePiece's
 * model_interface.cc for which piece types are found by which lookup. */
#include "model/tokenizer_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int kind_mergeable(uint8_t k) {
    return k == UE_TOKEN_NORMAL || k == UE_TOKEN_USER_DEFINED || k == UE_TOKEN_UNUSED;
}

static const ue_tok_raw *raw_of(const ue_tokenizer *tok, int32_t id) {
    uint32_t lo = 0, hi = tok->n_raw;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tok->raw[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < tok->n_raw && tok->raw[lo].id == id ? &tok->raw[lo] : NULL;
}

static const char k_u2581[3] = {'\xe2', '\x96', '\x81'};

/* Writes piece id as the GGUF spells it (at most max_piece bytes); returns the length. */
static size_t spell(const ue_tokenizer *tok, int32_t id, char *out) {
    size_t n, m = 0;
    const char *d = ue_tok_text(tok, id, &n);
    uint8_t k = tok->kind[id];
    const ue_tok_raw *r = k == UE_TOKEN_NORMAL && tok->n_raw ? raw_of(tok, id) : NULL;
    if (k == UE_TOKEN_BYTE) {
        static const char hex[] = "0123456789ABCDEF";
        uint8_t b = (uint8_t)d[0];
        memcpy(out, "<0x", 3);
        out[3] = hex[b >> 4], out[4] = hex[b & 15], out[5] = '>';
        return 6;
    }
    if (r) {
        memcpy(out, tok->raw_text + r->off, r->len);
        return r->len;
    }
    if (k != UE_TOKEN_NORMAL) {
        memcpy(out, d, n);
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        if (d[i] == ' ') memcpy(out + m, k_u2581, 3), m += 3;
        else out[m++] = d[i];
    }
    return m;
}

/* Whether piece id, as the GGUF spells it, is the len bytes at s. */
static int piece_is(const ue_tokenizer *tok, int32_t id, const char *s, size_t len) {
    size_t n;
    const char *d = ue_tok_text(tok, id, &n);
    uint8_t k = tok->kind[id];
    if (k == UE_TOKEN_BYTE) {
        char buf[6];
        return len == 6 && spell(tok, id, buf) == 6 && !memcmp(buf, s, 6);
    }
    if (k != UE_TOKEN_NORMAL) return n == len && !memcmp(d, s, len);
    const ue_tok_raw *r = tok->n_raw ? raw_of(tok, id) : NULL;
    if (r) return r->len == len && !memcmp(tok->raw_text + r->off, s, len);
    size_t j = 0; /* normal: each ' ' stands for U+2581 */
    for (size_t i = 0; i < n; i++) {
        if (d[i] == ' ') {
            if (len - j < 3 || memcmp(s + j, k_u2581, 3)) return 0;
            j += 3;
        } else {
            if (j == len || s[j] != d[i]) return 0;
            j++;
        }
    }
    return j == len;
}

/* The home slot of hash h: h times a large odd constant (high bits mixed from all of h,
 * so neighbouring slots do not share the tag bits) scaled to the table. */
static uint32_t slot_of(const ue_tokenizer *tok, uint32_t h) {
    return (uint32_t)(((uint64_t)(h * 2654435761u) * tok->n_slots) >> 32);
}

int32_t ue_tok_lookup(const ue_tokenizer *tok, const char *s, size_t len, int mode) {
    uint32_t h = hash_bytes(s, len), i = slot_of(tok, h);
    int32_t fallback = -1;
    for (;; i = i + 1 == tok->n_slots ? 0 : i + 1) {
        ue_tok_slot v = tok->slots[i];
        if (!v) return fallback;
        int32_t id = (int32_t)((v & tok->id_mask) - 1);
        if ((v ^ h) & ~tok->id_mask || !piece_is(tok, id, s, len)) continue;
        if (mode == UE_TOK_LOOKUP_ANY) return id;
        if (kind_mergeable(tok->kind[id])) {
            if (mode == UE_TOK_LOOKUP_MERGE) return id;
            if (fallback < 0) fallback = id;
        } else if (mode == UE_TOK_LOOKUP_RESERVED) {
            return id;
        }
    }
}

/* Reads an array key's header: present, an array of elem, n_want elements (0: any). */
static ue_status get_array(const ue_gguf *g, const char *key, ue_gguf_vtype elem,
                           uint64_t n_want, int64_t *index, uint64_t *n, ue_error *err) {
    int64_t k = ue_gguf_find_key(g, key);
    if (k < 0) return ue_fail(err, UE_ERR_FORMAT, "missing key '%s'", key);
    if (ue_gguf_kv_type(g, (uint64_t)k) != UE_GGUF_ARRAY)
        return ue_fail(err, UE_ERR_FORMAT, "%s: expected an array of %s, got %s", key,
                       ue_gguf_vtype_name(elem), ue_gguf_vtype_name(ue_gguf_kv_type(g, (uint64_t)k)));
    ue_gguf_vtype t = ue_gguf_arr_type(g, (uint64_t)k);
    if (t != elem)
        return ue_fail(err, UE_ERR_FORMAT, "%s: expected elements of type %s, got %s", key,
                       ue_gguf_vtype_name(elem), ue_gguf_vtype_name(t));
    *n = ue_gguf_arr_len(g, (uint64_t)k);
    if (n_want && *n != n_want)
        return ue_fail(err, UE_ERR_FORMAT,
                       "%s: expected %llu elements (as tokenizer.ggml.tokens), got %llu", key,
                       (unsigned long long)n_want, (unsigned long long)*n);
    *index = k;
    return UE_OK;
}

static ue_status get_id(const ue_gguf *g, const char *key, int required, int32_t n_vocab,
                        int32_t *out, ue_error *err) {
    *out = -1;
    if (ue_gguf_find_key(g, key) < 0)
        return required ? ue_fail(err, UE_ERR_FORMAT, "missing key '%s'", key) : UE_OK;
    uint32_t v = 0;
    ue_status st = ue_gguf_get_u32(g, key, 1, &v, err);
    if (st) return st;
    if (v >= (uint32_t)n_vocab)
        return ue_fail(err, UE_ERR_FORMAT, "%s: expected an id below n_vocab %d, got %u", key,
                       n_vocab, v);
    *out = (int32_t)v;
    return UE_OK;
}

/* "<0xAB>" -> 0xAB, or -1 (SentencePiece writes the hex upper case). */
static int parse_byte_piece(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Linear probing at a load of 3/4: a miss reads ~8 slots, a hit ~2.5, of 4 bytes each
 * (two cache lines at most); 1.3 MiB for Gemma 3's 262k pieces. */
static ue_status build_hash(ue_tokenizer *tok, ue_error *err) {
    tok->n_slots = (uint32_t)tok->n_vocab + (uint32_t)tok->n_vocab / 3 + 16; /* < 2^32 */
    tok->slots = calloc(tok->n_slots, sizeof *tok->slots);
    char *buf = malloc(tok->max_piece);
    if (!tok->slots || !buf) {
        free(buf);
        return ue_fail(err, UE_ERR_NOMEM, "tokenizer: out of memory for the piece hash");
    }
    tok->id_mask = 1; /* n_vocab < 2^31: at least the top bit is left for the hash */
    while (tok->id_mask < (uint32_t)tok->n_vocab) tok->id_mask = tok->id_mask << 1 | 1;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        uint32_t h = hash_bytes(buf, spell(tok, id, buf));
        uint32_t i = slot_of(tok, h);
        while (tok->slots[i]) i = i + 1 == tok->n_slots ? 0 : i + 1;
        tok->slots[i] = (h & ~tok->id_mask) | ((uint32_t)id + 1);
    }
    free(buf);
    return UE_OK;
}

static uint32_t trie_new_node(ue_tokenizer *tok, uint32_t *cap, uint8_t byte) {
    if (tok->n_trie == *cap) {
        if (*cap > UINT32_MAX / 2) return 0;
        uint32_t ncap = *cap * 2;
        ue_tok_trie_node *t = realloc(tok->trie, (size_t)ncap * sizeof *t);
        if (!t) return 0;
        tok->trie = t;
        *cap = ncap;
    }
    uint32_t n = tok->n_trie++;
    tok->trie[n] = (ue_tok_trie_node){0, 0, -1, byte};
    return n;
}

/* Special pieces are matched on text whose spaces are already U+2581, so a user-defined
 * piece of spaces (stored with ' ' by llama.cpp's converter) goes in with U+2581, as it is
 * in the SentencePiece model. */
static ue_status build_trie(ue_tokenizer *tok, ue_error *err) {
    uint32_t cap = 4096;
    char *buf = malloc((size_t)tok->max_piece * 3);
    tok->trie = malloc(cap * sizeof *tok->trie);
    if (!buf || !tok->trie) goto nomem;
    tok->trie[0] = (ue_tok_trie_node){0, 0, -1, 0}; /* index 0 means "none" */
    tok->n_trie = 1;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        uint8_t k = tok->kind[id];
        if (k != UE_TOKEN_CONTROL && k != UE_TOKEN_UNKNOWN && k != UE_TOKEN_USER_DEFINED) continue;
        size_t n = 0;
        for (uint32_t i = ue_tok_off(tok, id); i < ue_tok_off(tok, id + 1); i++) {
            if (tok->text[i] == ' ') {
                memcpy(buf + n, "\xe2\x96\x81", 3);
                n += 3;
            } else {
                buf[n++] = tok->text[i];
            }
        }
        uint8_t b0 = (uint8_t)buf[0];
        uint32_t node = tok->root[b0];
        if (!node) {
            if (!(node = trie_new_node(tok, &cap, b0))) goto nomem;
            tok->root[b0] = node;
        }
        for (size_t i = 1; i < n; i++) {
            uint8_t b = (uint8_t)buf[i];
            uint32_t c = tok->trie[node].child;
            while (c && tok->trie[c].byte != b) c = tok->trie[c].sibling;
            if (!c) {
                if (!(c = trie_new_node(tok, &cap, b))) goto nomem;
                tok->trie[c].sibling = tok->trie[node].child;
                tok->trie[node].child = c;
            }
            node = c;
        }
        if (tok->trie[node].id < 0) tok->trie[node].id = id; /* first of duplicates wins */
    }
    free(buf);
    ue_tok_trie_node *fit = realloc(tok->trie, (size_t)tok->n_trie * sizeof *tok->trie);
    if (fit) tok->trie = fit; /* else the larger block simply stays */
    return UE_OK;
nomem:
    free(buf);
    return ue_fail(err, UE_ERR_NOMEM, "tokenizer: out of memory for the special-piece trie");
}

/* One symbol before any merge (a character or a lone byte), or a piece merges can form. */
static int part_formable(const ue_tokenizer *tok, const char *s, size_t n) {
    size_t c = ue_utf8_char_len((const uint8_t *)s, n);
    return (c ? c : 1) == n || ue_tok_lookup(tok, s, n, UE_TOK_LOOKUP_MERGE) >= 0;
}

/* Whether some unused piece splits into two formable parts, so that BPE may form it. */
static int find_unused_formable(const ue_tokenizer *tok) {
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        if (tok->kind[id] != UE_TOKEN_UNUSED) continue;
        size_t n;
        const char *s = ue_tok_text(tok, id, &n);
        for (size_t k = 1; k < n; k++)
            if (part_formable(tok, s, k) && part_formable(tok, s + k, n - k)) return 1;
    }
    return 0;
}

/* Checks each piece and writes its decoded text; keeps the spelling of the normal pieces
 * that the decoded text cannot give back. */
static ue_status read_pieces(ue_tokenizer *tok, const ue_gguf *g, int64_t k_tok,
                             const uint8_t *scores, const uint8_t *types, ue_error *err) {
    int32_t n = tok->n_vocab;
    uint64_t total = 0, raw_bytes = 0;
    for (int32_t i = 0; i < n; i++) {
        ue_gguf_str s = ue_gguf_arr_str(g, (uint64_t)k_tok, (uint64_t)i);
        if (s.len == 0)
            return ue_fail(err, UE_ERR_FORMAT, "tokenizer.ggml.tokens[%d] is empty", i);
        if (s.len > UE_TOKENIZER_MAX_PIECE)
            return ue_fail(err, UE_ERR_FORMAT,
                           "tokenizer.ggml.tokens[%d]: %llu bytes, expected at most %u", i,
                           (unsigned long long)s.len, UE_TOKENIZER_MAX_PIECE);
        total += s.len;
        int32_t type;
        memcpy(&type, types + 4 * (size_t)i, 4);
        if (type == UE_TOKEN_NORMAL && memchr(s.ptr, ' ', s.len)) {
            tok->n_raw++;
            raw_bytes += s.len;
        }
    }
    if (total > UINT32_MAX - 1)
        return ue_fail(err, UE_ERR_FORMAT, "tokenizer.ggml.tokens: %llu bytes of text, expected "
                       "under 4 GiB", (unsigned long long)total);
    tok->text = malloc(total);
    tok->raw = malloc((tok->n_raw ? tok->n_raw : 1) * sizeof *tok->raw);
    tok->raw_text = malloc(raw_bytes ? raw_bytes : 1);
    if (!tok->text || !tok->raw || !tok->raw_text)
        return ue_fail(err, UE_ERR_NOMEM, "tokenizer: out of memory for %llu bytes of pieces",
                       (unsigned long long)total);
    for (int b = 0; b < 256; b++) tok->byte_id[b] = -1;

    uint32_t dat = 0, n_raw = 0, raw_at = 0;
    for (int32_t i = 0; i < n; i++) {
        ue_gguf_str s = ue_gguf_arr_str(g, (uint64_t)k_tok, (uint64_t)i);
        int32_t type;
        float score;
        memcpy(&type, types + 4 * (size_t)i, 4);
        memcpy(&score, scores + 4 * (size_t)i, 4);
        if (type < UE_TOKEN_NORMAL || type > UE_TOKEN_BYTE)
            return ue_fail(err, UE_ERR_FORMAT,
                           "tokenizer.ggml.token_type[%d]: expected 1..6, got %d", i, type);
        if (isnan(score))
            return ue_fail(err, UE_ERR_FORMAT, "tokenizer.ggml.scores[%d] is NaN", i);
        tok->kind[i] = (uint8_t)type;
        tok->score[i] = score;
        if (i % UE_TOK_OFF_GROUP == 0) tok->off_base[i / UE_TOK_OFF_GROUP] = dat;
        tok->off_rel[i] = (uint16_t)(dat - tok->off_base[i / UE_TOK_OFF_GROUP]);
        if (s.len > tok->max_piece) tok->max_piece = (uint32_t)s.len;

        if (type == UE_TOKEN_BYTE) {
            int b = parse_byte_piece(s.ptr, s.len);
            if (b < 0)
                return ue_fail(err, UE_ERR_FORMAT, "tokenizer.ggml.tokens[%d]: a byte token "
                               "(type 6) must read <0xXX>, got \"%.*s\"", i, (int)s.len, s.ptr);
            if (tok->byte_id[b] < 0) tok->byte_id[b] = i;
            tok->text[dat++] = (char)b;
        } else if (type == UE_TOKEN_NORMAL) {
            if (n_raw < tok->n_raw && memchr(s.ptr, ' ', s.len)) {
                tok->raw[n_raw++] = (ue_tok_raw){i, raw_at, (uint32_t)s.len};
                memcpy(tok->raw_text + raw_at, s.ptr, s.len);
                raw_at += (uint32_t)s.len;
            }
            /* U+2581 stands for a space in normal pieces */
            for (uint64_t j = 0; j < s.len; j++) {
                if (j + 2 < s.len && !memcmp(s.ptr + j, k_u2581, 3)) {
                    tok->text[dat++] = ' ';
                    j += 2;
                } else {
                    tok->text[dat++] = s.ptr[j];
                }
            }
        } else {
            memcpy(tok->text + dat, s.ptr, s.len);
            dat += (uint32_t)s.len;
        }
    }
    if (n % UE_TOK_OFF_GROUP == 0) tok->off_base[n / UE_TOK_OFF_GROUP] = dat;
    tok->off_rel[n] = (uint16_t)(dat - tok->off_base[n / UE_TOK_OFF_GROUP]);
    char *fit = realloc(tok->text, dat ? dat : 1); /* decoding only shortens */
    if (fit) tok->text = fit;
    for (int b = 0; b < 256; b++)
        if (tok->byte_id[b] < 0)
            return ue_fail(err, UE_ERR_FORMAT, "tokenizer.ggml.tokens: no byte token <0x%02X> "
                           "(type 6); byte fallback needs all 256", b);
    return UE_OK;
}

ue_status ue_tokenizer_create(const ue_gguf *g, ue_tokenizer **out, ue_error *err) {
    *out = NULL;
    char model[64] = "";
    ue_status st = ue_gguf_get_str(g, "tokenizer.ggml.model", 1, model, sizeof model, err);
    if (st) return st;
    if (strcmp(model, "llama"))
        return ue_fail(err, UE_ERR_UNSUPPORTED, "tokenizer.ggml.model: expected \"llama\" "
                       "(SentencePiece), got \"%s\"", model);

    int64_t k_tok, k_score, k_type;
    uint64_t n;
    if ((st = get_array(g, "tokenizer.ggml.tokens", UE_GGUF_STRING, 0, &k_tok, &n, err)))
        return st;
    if (n == 0 || n > INT32_MAX - 1)
        return ue_fail(err, UE_ERR_FORMAT, "tokenizer.ggml.tokens: expected 1..%d tokens, got %llu",
                       INT32_MAX - 1, (unsigned long long)n);
    uint64_t n_chk;
    if ((st = get_array(g, "tokenizer.ggml.scores", UE_GGUF_F32, n, &k_score, &n_chk, err)) ||
        (st = get_array(g, "tokenizer.ggml.token_type", UE_GGUF_I32, n, &k_type, &n_chk, err)))
        return st;

    ue_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return ue_fail(err, UE_ERR_NOMEM, "tokenizer: out of memory");
    tok->n_vocab = (int32_t)n;
    tok->kind = malloc(n);
    tok->score = malloc(n * sizeof *tok->score);
    tok->off_base = malloc((n / UE_TOK_OFF_GROUP + 1) * sizeof *tok->off_base);
    tok->off_rel = malloc((n + 1) * sizeof *tok->off_rel);
    if (!tok->kind || !tok->score || !tok->off_base || !tok->off_rel) {
        st = ue_fail(err, UE_ERR_NOMEM, "tokenizer: out of memory for %llu tokens",
                     (unsigned long long)n);
        goto fail;
    }
    if ((st = read_pieces(tok, g, k_tok, ue_gguf_arr_data(g, (uint64_t)k_score),
                          ue_gguf_arr_data(g, (uint64_t)k_type), err)))
        goto fail;

    if ((st = get_id(g, "tokenizer.ggml.bos_token_id", 1, tok->n_vocab, &tok->bos, err)) ||
        (st = get_id(g, "tokenizer.ggml.eos_token_id", 1, tok->n_vocab, &tok->eos, err)) ||
        (st = get_id(g, "tokenizer.ggml.unknown_token_id", 0, tok->n_vocab, &tok->unk, err)) ||
        (st = get_id(g, "tokenizer.ggml.padding_token_id", 0, tok->n_vocab, &tok->pad, err)))
        goto fail;
    /* Defaults as llama.cpp reads a SentencePiece GGUF without these keys. */
    tok->add_bos = 1;
    tok->add_space_prefix = 1;
    if ((st = ue_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", 0, &tok->add_bos, err)) ||
        (st = ue_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", 0, &tok->add_space_prefix,
                               err)))
        goto fail;

    if ((st = build_hash(tok, err)) || (st = build_trie(tok, err))) goto fail;
    tok->unused_formable = find_unused_formable(tok);
    tok->eot = ue_tok_lookup(tok, "<end_of_turn>", 13, UE_TOK_LOOKUP_ANY);
    *out = tok;
    return UE_OK;
fail:
    ue_tokenizer_destroy(tok);
    return st;
}

void ue_tokenizer_destroy(ue_tokenizer *tok) {
    if (!tok) return;
    free(tok->kind);
    free(tok->score);
    free(tok->off_base);
    free(tok->off_rel);
    free(tok->text);
    free(tok->raw);
    free(tok->raw_text);
    free(tok->slots);
    free(tok->trie);
    free(tok);
}

int32_t ue_tokenizer_n_vocab(const ue_tokenizer *tok) { return tok->n_vocab; }
int32_t ue_tokenizer_bos(const ue_tokenizer *tok) { return tok->bos; }
int32_t ue_tokenizer_eos(const ue_tokenizer *tok) { return tok->eos; }

ue_token_kind ue_tokenizer_kind(const ue_tokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->n_vocab ? (ue_token_kind)tok->kind[id] : (ue_token_kind)0;
}

int ue_tokenizer_is_eog(const ue_tokenizer *tok, int32_t id) {
    return id >= 0 && (id == tok->eos || id == tok->eot);
}

int32_t ue_tokenizer_find(const ue_tokenizer *tok, const char *piece, size_t len) {
    return piece ? ue_tok_lookup(tok, piece, len, UE_TOK_LOOKUP_ANY) : -1;
}

/* Control, unknown and unused pieces print only with show_special (as llama.cpp does). */
const char *ue_tokenizer_piece(const ue_tokenizer *tok, int32_t id, int show_special,
                               size_t *len) {
    *len = 0;
    if (id < 0 || id >= tok->n_vocab) return "";
    uint8_t k = tok->kind[id];
    if (!show_special && (k == UE_TOKEN_CONTROL || k == UE_TOKEN_UNKNOWN || k == UE_TOKEN_UNUSED))
        return "";
    return ue_tok_text(tok, id, len);
}
