/* Text -> ids with SentencePiece BPE semantics (sentencepiece bpe_model.cc, checked against
 * the library itself by tools/make_tokenizer_fixtures.py):
 *   spaces become U+2581 (plus one in front when add_space_prefix); scanning left to right,
 *   the longest user-defined piece at a position (and control/unknown pieces when
 *   parse_special) becomes one frozen symbol, anything else one UTF-8 character (an invalid
 *   byte: one symbol of its own); adjacent symbols whose concatenation is a normal,
 *   user-defined or unused piece are merged best score first, leftmost on ties; merged
 *   unused pieces are split back the way they were last formed; a final symbol that is no
 *   piece becomes its bytes as <0xXX> tokens. */
#include "model/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/checked.h"

typedef struct symbol {
    uint32_t start, len; /* bytes of the normalised text; len 0 once merged away */
    int32_t prev, next;  /* neighbours in the list, -1 at the ends */
    int32_t special;     /* frozen special piece id, or -1 */
} symbol;

typedef struct pair {
    float score;
    int32_t left, right;
    uint32_t size; /* bytes of left + right when queued: stale when no longer equal */
} pair;

typedef struct encoder {
    const ue_tokenizer *tok;
    const uint8_t *text; /* normalised */
    symbol *sym;
    size_t cap_sym;
    pair *heap;
    size_t n_heap, cap_heap;
    uint32_t *rev_left; /* [n_vocab], only once an unused piece is queued: bytes of its left
                           part when last formed (0: none) */
    uint32_t (*stack)[2];
    int32_t *out;
    size_t cap_out, n_out;
    int nomem;
} encoder;

static void emit(encoder *e, int32_t id) {
    if (e->n_out < e->cap_out) e->out[e->n_out] = id;
    e->n_out++;
}

/* Heap order: higher score first, then the leftmost pair. */
static int pair_before(const pair *a, const pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(encoder *e, pair p) {
    if (e->n_heap == e->cap_heap) {
        size_t ncap = e->cap_heap * 2;
        pair *h = realloc(e->heap, ncap * sizeof *h);
        if (!h) {
            e->nomem = 1;
            return;
        }
        e->heap = h;
        e->cap_heap = ncap;
    }
    size_t i = e->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &e->heap[parent])) break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = p;
}

static pair heap_pop(encoder *e) {
    pair top = e->heap[0], last = e->heap[--e->n_heap];
    size_t i = 0, n = e->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&e->heap[c + 1], &e->heap[c])) c++;
        if (!pair_before(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = last;
    return top;
}

static void try_pair(encoder *e, int32_t l, int32_t r) {
    if (l < 0 || r < 0 || e->sym[l].special >= 0 || e->sym[r].special >= 0) return;
    const ue_tokenizer *tok = e->tok;
    uint32_t size = e->sym[l].len + e->sym[r].len;
    if (size > tok->max_piece) return;
    int32_t id = ue_tok_lookup(tok, (const char *)e->text + e->sym[l].start, size,
                               UE_TOK_LOOKUP_MERGE);
    if (id < 0) return;
    heap_push(e, (pair){tok->score[id], l, r, size});
    if (tok->kind[id] == UE_TOKEN_UNUSED) {
        if (!e->rev_left) {
            e->rev_left = calloc((size_t)tok->n_vocab, sizeof *e->rev_left);
            e->stack = malloc(((size_t)tok->max_piece + 1) * sizeof *e->stack);
            if (!e->rev_left || !e->stack) {
                e->nomem = 1;
                return;
            }
        }
        e->rev_left[id] = e->sym[l].len;
    }
}

static void emit_bytes(encoder *e, uint32_t start, uint32_t len) {
    for (uint32_t i = 0; i < len; i++) emit(e, e->tok->byte_id[e->text[start + i]]);
}

/* One final symbol: its id, an unused piece split back into its parts, or its bytes. */
static void emit_symbol(encoder *e, uint32_t start, uint32_t len) {
    const ue_tokenizer *tok = e->tok;
    size_t top = 0;
    for (;;) {
        int32_t id = ue_tok_lookup(tok, (const char *)e->text + start, len,
                                   UE_TOK_LOOKUP_RESERVED);
        uint32_t left = id >= 0 && tok->kind[id] == UE_TOKEN_UNUSED && e->rev_left
                            ? e->rev_left[id] : 0;
        if (left > 0 && left < len) {
            e->stack[top][0] = start + left; /* right part after the left one */
            e->stack[top][1] = len - left;
            top++;
            len = left;
            continue;
        }
        if (id < 0 || id == tok->unk)
            emit_bytes(e, start, len);
        else
            emit(e, id);
        if (top == 0) return;
        top--;
        start = e->stack[top][0];
        len = e->stack[top][1];
    }
}

/* Longest special piece at p (user-defined always, control/unknown with parse_special);
 * returns its length in bytes, 0 when none. */
static size_t match_special(const ue_tokenizer *tok, const uint8_t *p, size_t n,
                            int parse_special, int32_t *id) {
    uint32_t node = tok->root[p[0]];
    size_t best = 0;
    for (size_t i = 1; node; i++) {
        const ue_tok_trie_node *t = &tok->trie[node];
        if (t->id >= 0) {
            uint8_t k = tok->kind[t->id];
            if (k == UE_TOKEN_USER_DEFINED || parse_special) {
                best = i;
                *id = t->id;
            }
        }
        if (i >= n) break;
        uint32_t c = t->child;
        while (c && tok->trie[c].byte != p[i]) c = tok->trie[c].sibling;
        node = c;
    }
    return best;
}

/* ' ' -> U+2581, with the dummy prefix when asked. Returns the normalised length. */
static size_t normalise(const char *text, size_t len, int prefix, uint8_t *buf) {
    size_t n = 0;
    if (prefix) {
        memcpy(buf, "\xe2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            buf[n++] = (uint8_t)text[i];
        }
    }
    return n;
}

static void merge_all(encoder *e) {
    while (e->n_heap > 0 && !e->nomem) {
        pair p = heap_pop(e);
        symbol *l = &e->sym[p.left], *r = &e->sym[p.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != p.size) continue;
        l->len += r->len;
        l->next = r->next;
        if (r->next >= 0) e->sym[r->next].prev = p.left;
        r->len = 0;
        try_pair(e, l->prev, p.left);
        try_pair(e, p.left, l->next);
    }
}

static void run(encoder *e, size_t n_text, int parse_special) {
    const ue_tokenizer *tok = e->tok;
    int32_t n_sym = 0;
    for (size_t i = 0; i < n_text;) {
        if ((size_t)n_sym == e->cap_sym) { /* only when special pieces split characters */
            symbol *s = realloc(e->sym, 2 * e->cap_sym * sizeof *s);
            if (!s) {
                e->nomem = 1;
                return;
            }
            e->sym = s;
            e->cap_sym *= 2;
        }
        int32_t id = -1;
        size_t m = match_special(tok, e->text + i, n_text - i, parse_special, &id);
        if (!m) {
            m = ue_utf8_char_len(e->text + i, n_text - i);
            if (!m) m = 1; /* an invalid byte is a symbol of its own */
        }
        e->sym[n_sym] = (symbol){(uint32_t)i, (uint32_t)m, n_sym - 1, n_sym + 1, m && id >= 0 ? id : -1};
        n_sym++;
        i += m;
    }
    e->sym[n_sym - 1].next = -1;

    /* Pairs never span a frozen special symbol, so the runs between them can be merged one
     * at a time with a small heap; the result is the same unless an unused piece can form,
     * whose split-back depends on the global merge order (then: one run). */
    for (int32_t lo = 0; lo < n_sym && !e->nomem;) {
        int32_t hi = lo + 1;
        if (tok->unused_formable)
            hi = n_sym;
        else
            while (hi < n_sym && e->sym[hi].special < 0 && e->sym[lo].special < 0) hi++;
        for (int32_t i = lo + 1; i < hi; i++) try_pair(e, i - 1, i);
        merge_all(e);
        lo = hi;
    }
    if (e->nomem) return;
    for (int32_t i = 0; i >= 0; i = e->sym[i].next) {
        if (e->sym[i].special >= 0)
            emit(e, e->sym[i].special);
        else
            emit_symbol(e, e->sym[i].start, e->sym[i].len);
    }
}

ue_status ue_tokenizer_encode(const ue_tokenizer *tok, const char *text, size_t len,
                              int add_bos, int parse_special, int32_t *out, size_t cap,
                              size_t *n_out, ue_error *err) {
    *n_out = 0;
    if (!text && len) return ue_fail(err, UE_ERR_ARGUMENT, "tokenize: text is NULL");
    if (!out && cap) return ue_fail(err, UE_ERR_ARGUMENT, "tokenize: out is NULL with cap %zu", cap);
    /* Symbol positions are 32-bit: a normalised text (up to 3 bytes a byte) must fit. */
    if (len > (UINT32_MAX - 3) / 3)
        return ue_fail(err, UE_ERR_ARGUMENT, "tokenize: text of %zu bytes, expected at most %u",
                       len, (UINT32_MAX - 3) / 3);
    encoder e = {.tok = tok, .out = out, .cap_out = cap};
    if (add_bos) emit(&e, tok->bos);
    if (len == 0) {
        *n_out = e.n_out;
        return UE_OK;
    }
    int prefix = tok->add_space_prefix != 0;
    uint8_t *buf = malloc(3 * len + 3);
    e.cap_sym = len + 1; /* one symbol per input byte at most, + prefix, in valid vocabularies */
    e.sym = malloc(e.cap_sym * sizeof *e.sym);
    e.cap_heap = len + 16;
    e.heap = malloc(e.cap_heap * sizeof *e.heap);
    ue_status st = UE_OK;
    if (!buf || !e.sym || !e.heap) {
        e.nomem = 1;
    } else {
        e.text = buf;
        run(&e, normalise(text, len, prefix, buf), parse_special);
    }
    if (e.nomem)
        st = ue_fail(err, UE_ERR_NOMEM, "tokenize: out of memory for a text of %zu bytes", len);
    else
        *n_out = e.n_out;
    free(buf);
    free(e.sym);
    free(e.heap);
    free(e.rev_left);
    free(e.stack);
    return st;
}
