/* Gemma 3 tokenizer built from the GGUF vocabulary: SentencePiece BPE (score-ordered
 * merges), byte fallback, no dummy prefix, control and user-defined tokens, optional
 * special-token parsing; plus the streaming detokenizer. shared/docs/gemma3.md section 3. */
#ifndef UE_MODEL_TOKENIZER_H
#define UE_MODEL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/gguf.h"

typedef enum ue_token_kind {
    UE_TOKEN_NORMAL = 1,
    UE_TOKEN_UNKNOWN = 2,
    UE_TOKEN_CONTROL = 3,
    UE_TOKEN_USER_DEFINED = 4,
    UE_TOKEN_UNUSED = 5,
    UE_TOKEN_BYTE = 6
} ue_token_kind;

typedef struct ue_tokenizer ue_tokenizer;

/* Reads tokenizer.ggml.* from a GGUF: checks model = "llama", that tokens, scores and
 * token_type have one length and the right element types, token types in 1..6, special
 * ids in range, the 256 byte tokens present. */
ue_status ue_tokenizer_create(const ue_gguf *gguf, ue_tokenizer **out, ue_error *err);
void ue_tokenizer_destroy(ue_tokenizer *tok);

int32_t ue_tokenizer_n_vocab(const ue_tokenizer *tok);
int32_t ue_tokenizer_bos(const ue_tokenizer *tok);
int32_t ue_tokenizer_eos(const ue_tokenizer *tok);
ue_token_kind ue_tokenizer_kind(const ue_tokenizer *tok, int32_t id); /* 0: id out of range */
/* End of generation: <eos> and <end_of_turn>. */
int ue_tokenizer_is_eog(const ue_tokenizer *tok, int32_t id);
/* Id of an exact piece ("<end_of_turn>", "▁the"), or -1. */
int32_t ue_tokenizer_find(const ue_tokenizer *tok, const char *piece, size_t len);

/* Same contract as ue_tokenize in unicorn.h. Invalid UTF-8 bytes are encoded through
 * byte-fallback tokens, never dropped. */
ue_status ue_tokenizer_encode(const ue_tokenizer *tok, const char *text, size_t len,
                              int add_bos, int parse_special, int32_t *out, size_t cap,
                              size_t *n_out, ue_error *err);

/* Text of a token: U+2581 becomes ' ', byte tokens one raw byte, control tokens "" unless
 * show_special, user-defined tokens their literal text. Borrowed pointer. */
const char *ue_tokenizer_piece(const ue_tokenizer *tok, int32_t id, int show_special,
                               size_t *len);

/* Streaming detokenizer over a tokenizer (the public ue_detok wraps this). Holds back an
 * incomplete UTF-8 character; bytes that cannot be valid UTF-8 become U+FFFD, one per
 * maximal ill-formed subsequence (as Python's errors="replace"). Borrows tok; NULL on
 * allocation failure. */
typedef struct ue_detok ue_detok;
ue_detok *ue_detok_create_tok(const ue_tokenizer *tok, int show_special);

#endif
