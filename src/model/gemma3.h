/* Gemma 3 text decoder: hyper-parameters and weights read from a GGUF, the per-session
 * state (KV cache, scratch) and the forward pass, written once as calls on the backend
 * interface. Reference: shared/docs/gemma3.md section 1. */
#ifndef UE_MODEL_GEMMA3_H
#define UE_MODEL_GEMMA3_H

#include "backend/backend.h"
#include "core/gguf.h"
#include "unicorn.h"

typedef struct ue_gemma3_hparams {
    int n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, n_vocab, n_ctx_train;
    int sliding_window;          /* 0: every layer global */
    float eps;
    float rope_base_global, rope_base_local;
    float rope_scale_global;     /* position multiplier on global layers (1 / factor) */
    float attn_scale;            /* multiplies q·k */
    float embd_scale;            /* sqrt(n_embd) */
} ue_gemma3_hparams;

typedef struct ue_gemma3_layer {
    int is_global;
    ue_tensor attn_norm, wq, wk, wv, q_norm, k_norm, wo, post_attn_norm;
    ue_tensor ffn_norm, w_gate, w_up, w_down, post_ffw_norm;
} ue_gemma3_layer;

typedef struct ue_gemma3 {
    ue_gemma3_hparams hp;
    ue_backend *be;              /* borrowed */
    ue_buffer *weights;          /* the GGUF data section */
    ue_tensor tok_embd;          /* [n_vocab, n_embd] */
    ue_tensor output;            /* [n_vocab, n_embd]; tok_embd when tied */
    ue_tensor output_norm;       /* [n_embd] */
    ue_gemma3_layer *layers;     /* [n_layer] */
    uint64_t n_params;
} ue_gemma3;

/* Reads hyper-parameters and checks every tensor's presence, type and shape.
 * n_vocab_tokenizer: the tokenizer's vocabulary, which the embedding must cover. */
ue_status ue_gemma3_load(const ue_gguf *gguf, ue_backend *be, int n_vocab_tokenizer,
                         ue_gemma3 **out, ue_error *err);
void ue_gemma3_destroy(ue_gemma3 *model);

typedef struct ue_gemma3_state ue_gemma3_state;

/* KV cache for n_ctx positions and scratch for batches of up to max_batch tokens. */
ue_status ue_gemma3_state_create(const ue_gemma3 *model, int n_ctx, int max_batch,
                                 ue_gemma3_state **out, ue_error *err);
void ue_gemma3_state_destroy(ue_gemma3_state *state);
size_t ue_gemma3_state_bytes(const ue_gemma3_state *state);
/* Where the state keeps the last position's logits [n_vocab] when its backend computes in
 * host memory (the CPU), else NULL. Passed as ue_gemma3_forward's last_logits, the logits
 * stay there with no copy; valid until the state is destroyed. */
float *ue_gemma3_state_logit_row(ue_gemma3_state *state);

/* The input of one forward batch: token ids, or embeddings given directly (image soft
 * tokens: [n, n_embd] f32, not scaled, attending to each other in both directions). */
typedef struct ue_gemma3_input {
    const int32_t *tokens; /* [n] or NULL */
    const float *embd;     /* [n, n_embd] or NULL */
    int n;
} ue_gemma3_input;

/* Runs one batch (n <= max_batch) at positions pos0.. (pos0 + n <= n_ctx), keys and
 * values of earlier positions being in the cache. Writes the last position's logits to
 * last_logits [n_vocab] when not NULL; calls all_logits for every position when set. */
ue_status ue_gemma3_forward(const ue_gemma3 *model, ue_gemma3_state *state,
                            const ue_gemma3_input *in, int64_t pos0, float *last_logits,
                            ue_logits_fn all_logits, void *user, ue_error *err);

#endif
