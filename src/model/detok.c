/* Streaming detokenizer: token pieces in, only complete UTF-8 characters out. A character
 * split across byte tokens is held back until it completes. Bytes that cannot be part of
 * valid UTF-8 become U+FFFD, one per maximal ill-formed subsequence (Unicode's
 * "substitution of maximal subparts", as Python's errors="replace"); flushing turns a
 * held-back incomplete character into one U+FFFD. Valid text passes through unchanged.
 * Buffers are sized at creation from the longest piece, so pushing never allocates. */
#include "model/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

struct ue_detok {
    const ue_tokenizer *tok; /* borrowed */
    int show_special;
    uint8_t *in;   /* held-back bytes (< 4) + the new piece */
    size_t n_held;
    char *out;     /* at most 3 bytes out per byte in */
};

ue_detok *ue_detok_create_tok(const ue_tokenizer *tok, int show_special) {
    if (!tok) return NULL;
    ue_detok *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->tok = tok;
    d->show_special = show_special;
    size_t cap = (size_t)tok->max_piece + 4;
    d->in = malloc(cap);
    d->out = malloc(3 * cap);
    if (!d->in || !d->out) {
        ue_detok_destroy(d);
        return NULL;
    }
    return d;
}

void ue_detok_destroy(ue_detok *d) {
    if (!d) return;
    free(d->in);
    free(d->out);
    free(d);
}

/* Bounds of the second byte after a lead byte, and how many continuation bytes follow;
 * 0 continuations for a byte that cannot start a character. */
static size_t lead_info(uint8_t c, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) return 1;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) *lo = 0xA0;
        if (c == 0xED) *hi = 0x9F;
        return 2;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) *lo = 0x90;
        if (c == 0xF4) *hi = 0x8F;
        return 3;
    }
    return 0;
}

/* Converts in[0..n) into d->out; an incomplete character at the end is kept in d->in
 * (or replaced when final). Returns the bytes written. */
static size_t convert(ue_detok *d, size_t n, int final) {
    const uint8_t *in = d->in;
    size_t o = 0, i = 0;
    d->n_held = 0;
    while (i < n) {
        uint8_t c = in[i], lo, hi;
        if (c < 0x80) {
            d->out[o++] = (char)c;
            i++;
            continue;
        }
        size_t need = lead_info(c, &lo, &hi), k = 1;
        while (k <= need && i + k < n) {
            uint8_t b = in[i + k];
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) break;
            k++;
        }
        if (need && k == need + 1) { /* complete */
            memcpy(d->out + o, in + i, k);
            o += k;
        } else if (need && i + k == n && !final) { /* may still complete */
            memmove(d->in, in + i, k);
            d->n_held = k;
        } else {
            memcpy(d->out + o, "\xef\xbf\xbd", 3);
            o += 3;
        }
        i += k;
    }
    return o;
}

const char *ue_detok_push(ue_detok *d, int32_t token, size_t *len) {
    *len = 0;
    if (!d) return "";
    size_t n;
    const char *piece = ue_tokenizer_piece(d->tok, token, d->show_special, &n);
    memcpy(d->in + d->n_held, piece, n);
    *len = convert(d, d->n_held + n, 0);
    return d->out;
}

const char *ue_detok_flush(ue_detok *d, size_t *len) {
    *len = 0;
    if (!d) return "";
    *len = convert(d, d->n_held, 1);
    return d->out;
}
