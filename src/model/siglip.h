/* SigLIP vision encoder and Gemma 3 multimodal projector (gemma3.md 2.1-2.3, 4.5):
 * weights from a llama.cpp mmproj GGUF (clip.* keys) or from a model GGUF that carries
 * the v.* tensors itself (Ollama naming, gemma3.vision.* keys), and the forward pass from
 * preprocessed pixels to the soft-token embeddings, written as backend calls. */
#ifndef UE_MODEL_SIGLIP_H
#define UE_MODEL_SIGLIP_H

#include "backend/backend.h"
#include "core/gguf.h"

typedef struct ue_siglip_hparams {
    int image_size, patch_size;
    int n_side, n_patches;      /* patches per side, n_side^2 */
    int n_embd, n_ff, n_layer, n_head, head_dim;
    float eps;
    int pool;                   /* average-pool kernel and stride */
    int n_tok_side, n_tokens;   /* soft tokens per side, n_tok_side^2 (256) */
    int proj_dim;               /* text n_embd */
    float mean[3], std[3];
} ue_siglip_hparams;

typedef struct ue_siglip_layer {
    ue_tensor ln1_w, ln1_b, ln2_w, ln2_b;      /* [n_embd] f32 */
    ue_tensor wq, wk, wv, wo;                  /* [n_embd, n_embd] */
    ue_tensor bq, bk, bv, bo;                  /* [n_embd] f32 */
    ue_tensor fc1, fc2;                        /* [n_ff, n_embd], [n_embd, n_ff] */
    ue_tensor fc1_b, fc2_b;                    /* [n_ff], [n_embd] f32 */
} ue_siglip_layer;

typedef struct ue_siglip {
    ue_siglip_hparams hp;
    ue_backend *be;             /* borrowed */
    ue_buffer *weights;         /* the GGUF data section, used in place */
    ue_buffer *converted;       /* f32 copies: non-f32 small tensors, the transposed projection */
    ue_tensor patch_w;          /* [n_embd, 3 * patch^2], input index c * p^2 + ky * p + kx */
    ue_tensor patch_b;          /* [n_embd] */
    ue_tensor pos;              /* [n_patches, n_embd] */
    ue_tensor post_w, post_b;   /* [n_embd] */
    ue_tensor soft_norm;        /* [n_embd], +1 folded */
    ue_tensor proj;             /* [proj_dim, n_embd] */
    ue_siglip_layer *layers;
    uint64_t n_params;
} ue_siglip;

/* Whether a GGUF holds vision weights: a clip mmproj, or v.* tensors in a model file. */
int ue_siglip_in_gguf(const ue_gguf *gguf);

/* Reads and checks the vision weights of gguf; proj_dim_text is the text model's n_embd,
 * which the projector must produce. Every op the encoder needs must be supported by be. */
ue_status ue_siglip_load(const ue_gguf *gguf, ue_backend *be, int proj_dim_text,
                         ue_siglip **out, ue_error *err);
void ue_siglip_destroy(ue_siglip *model);

/* Whether be runs every op of the encoder (else the caller gives it a CPU backend). */
int ue_siglip_backend_ok(const ue_backend *be);

/* pixels [3][image_size][image_size] (preprocessed) -> out [n_tokens, proj_dim]. */
ue_status ue_siglip_encode(const ue_siglip *model, const float *pixels, float *out,
                           ue_error *err);

#endif
