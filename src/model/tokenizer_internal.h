/* Layout of ue_tokenizer shared by tokenizer.c (build, lookups, pieces), tokenizer_encode.c
 * (SentencePiece BPE) and detok.c (streaming decode). Not part of any public interface. */
#ifndef UE_MODEL_TOKENIZER_INTERNAL_H
#define UE_MODEL_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "model/tokenizer.h"

/* Longest piece accepted from a GGUF (Gemma's longest is 48 bytes). */
#define UE_TOKENIZER_MAX_PIECE 4096u

/* Node of the byte trie of special pieces (control, unknown, user-defined); index 0 is
 * "none". */
typedef struct ue_tok_trie_node {
    uint32_t child;   /* first child */
    uint32_t sibling; /* next child of the same parent */
    int32_t id;       /* token ending here, or -1 */
    uint8_t byte;
} ue_tok_trie_node;

/* A hash slot in 4 bytes: id + 1 in the bits under id_mask (0: empty), and above them the
 * same bits of the piece's hash, compared before the piece itself. */
typedef uint32_t ue_tok_slot;

/* Piece offsets kept as 16-bit steps from a 32-bit one per group: 15 pieces of at most
 * UE_TOKENIZER_MAX_PIECE bytes span under 64 KiB. */
enum { UE_TOK_OFF_GROUP = 16 };

/* The GGUF spelling of a normal piece that its decoded text cannot give back. */
typedef struct ue_tok_raw {
    int32_t id;
    uint32_t off, len; /* in raw_text */
} ue_tok_raw;

struct ue_tokenizer {
    int32_t n_vocab;
    int32_t bos, eos, unk, pad; /* unk, pad: -1 when the GGUF names none */
    int32_t eot;                /* <end_of_turn>, or -1 */
    int add_bos, add_space_prefix;
    uint32_t max_piece; /* longest piece in bytes */
    int unused_formable; /* some unused piece can be formed by one merge */

    uint8_t *kind;  /* [n_vocab] ue_token_kind */
    float *score;   /* [n_vocab] */
    /* piece i decoded is text[ue_tok_off(i) .. ue_tok_off(i + 1)) */
    uint32_t *off_base; /* [n_vocab / UE_TOK_OFF_GROUP + 1] text offset of every 16th piece */
    uint16_t *off_rel;  /* [n_vocab + 1] each piece's offset from its group's */
    /* One copy of the pieces, decoded (U+2581 of normal pieces as ' ', byte pieces as their
     * byte); the GGUF spelling that lookups match follows from the kind, except for normal
     * pieces that hold a literal ' ', whose spelling is kept in raw (none in Gemma 3's). */
    char *text;
    ue_tok_raw *raw; /* [n_raw] by id */
    uint32_t n_raw;
    char *raw_text;

    ue_tok_slot *slots; /* open-addressing hash of the pieces, linear probing */
    uint32_t n_slots;
    uint32_t id_mask;   /* low bits of a slot holding id + 1 */

    int32_t byte_id[256]; /* <0x00>..<0xFF> */

    ue_tok_trie_node *trie; /* special pieces with ' ' written as U+2581 */
    uint32_t n_trie;
    uint32_t root[256]; /* first-level nodes by first byte */
};

static inline uint32_t ue_tok_off(const ue_tokenizer *tok, int32_t i) {
    return tok->off_base[i / UE_TOK_OFF_GROUP] + tok->off_rel[i];
}

/* Decoded text of piece id and its length. */
static inline const char *ue_tok_text(const ue_tokenizer *tok, int32_t id, size_t *n) {
    uint32_t a = ue_tok_off(tok, id);
    *n = ue_tok_off(tok, id + 1) - a;
    return tok->text + a;
}

/* Lookup modes for ue_tok_lookup. */
enum {
    UE_TOK_LOOKUP_ANY,     /* first id with this piece */
    UE_TOK_LOOKUP_MERGE,   /* first normal, user-defined or unused id: what BPE may form */
    UE_TOK_LOOKUP_RESERVED /* a control/unknown/byte id first, else a MERGE id
                              (SentencePiece's PieceToId) */
};

int32_t ue_tok_lookup(const ue_tokenizer *tok, const char *s, size_t len, int mode);

/* Length of the valid UTF-8 character at s (1..4), or 0 when the bytes there are not one
 * (bad lead byte, bad or missing continuation, overlong, surrogate, above U+10FFFF). */
static inline size_t ue_utf8_char_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < need || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < need; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return need;
}

#endif
