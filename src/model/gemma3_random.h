/* Random Gemma 3 models: the published shapes (270M .. 27B, plus a tiny test shape),
 * llama.cpp's per-tensor type rules for a file type (gemma3.md 5.1), and a writer that
 * streams a complete GGUF of random weights (normal, sd 0.02; norms near 1) with a full
 * vocabulary, so any shape can be benchmarked and tested without downloading weights.
 * Shapes: gemma3.md 1.1 and the Hugging Face configs of the 12B and 27B checkpoints. */
#ifndef UE_MODEL_GEMMA3_RANDOM_H
#define UE_MODEL_GEMMA3_RANDOM_H

#include <stdint.h>

#include "core/error.h"
#include "core/gguf_write.h"
#include "core/types.h"

typedef struct ue_gemma3_shape {
    const char *name;       /* "tiny", "270m", "1b", "4b", "12b", "27b" */
    const char *size_label; /* general.size_label: "270M" */
    int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab;
    int n_ctx_train, sliding_window;
    float rope_scale;       /* linear RoPE factor on global layers; 0: none */
} ue_gemma3_shape;

/* NULL when unknown. */
const ue_gemma3_shape *ue_gemma3_shape_find(const char *name);
/* "tiny|270m|1b|4b|12b|27b" */
const char *ue_gemma3_shape_names(void);

typedef enum ue_gemma3_ftype {
    UE_GEMMA3_Q4_K_M,
    UE_GEMMA3_Q4_0,
    UE_GEMMA3_Q8_0,
    UE_GEMMA3_F16,
    UE_GEMMA3_BF16,
    UE_GEMMA3_FTYPE_COUNT
} ue_gemma3_ftype;

/* "q4_k_m" .. "bf16" (case-insensitive); -1 when unknown. */
int ue_gemma3_ftype_parse(const char *s);
const char *ue_gemma3_ftype_name(ue_gemma3_ftype ftype); /* "q4_k_m" */
const char *ue_gemma3_ftype_names(void);                 /* "q4_k_m|q4_0|q8_0|f16|bf16" */
uint32_t ue_gemma3_ftype_file_type(ue_gemma3_ftype ftype); /* general.file_type (llama_ftype) */

/* The type of a weight in a file of `ftype`, following llama.cpp's quantizer: norms
 * (1-D) stay F32; the tied token_embd is quantized as the output tensor (Q6_K, or Q8_0
 * when its rows are not a multiple of 256); for Q4_K_M attn_v and ffn_down get Q6_K on
 * use_more_bits layers; a K-quant on rows not a multiple of 256 falls back (Q4_K -> Q5_0,
 * Q6_K -> Q8_0). F16 / BF16 / Q8_0 files use their type for every 2-D weight.
 * name: as in the GGUF ("blk.3.attn_v.weight"); ne0: row length; n_dims 1 or 2. */
ue_type ue_gemma3_tensor_type(ue_gemma3_ftype ftype, const char *name, uint32_t n_dims,
                              int64_t ne0, int n_layer);

typedef struct ue_gemma3_tensor_spec {
    char name[64];
    uint32_t n_dims; /* 1 (norms) or 2 */
    int64_t ne[2];   /* ne[0] the row length; ne[1] = 1 for 1-D */
    ue_type type;
} ue_gemma3_tensor_spec;

/* 2 + 13 per layer, in the order llama.cpp writes them. */
int ue_gemma3_n_tensors(const ue_gemma3_shape *shape);
void ue_gemma3_tensor_spec_at(const ue_gemma3_shape *shape, ue_gemma3_ftype ftype, int index,
                              ue_gemma3_tensor_spec *out);

typedef struct ue_gemma3_random_params {
    const ue_gemma3_shape *shape;
    ue_gemma3_ftype ftype;
    uint64_t seed;
    int n_threads;           /* 0: one per available core */
    const char *vocab_path;  /* a GGUF to copy tokenizer.ggml.* arrays from; NULL: synthesize */
    /* Called after each chunk of tensor data with the fraction written; may be NULL. */
    void (*progress)(double fraction, void *user);
    void *progress_user;
} ue_gemma3_random_params;

/* A writer holding the file's metadata (architecture, shape, tokenizer) and tensor infos,
 * ready for ue_gguf_writer_begin; its file size says how large the file will be. */
ue_status ue_gemma3_random_declare(const ue_gemma3_random_params *p, ue_gguf_writer **out,
                                   ue_error *err);
/* Writes the whole file to path (replaced if present; removed again on failure). Tensor
 * data is generated and quantized chunk by chunk on a thread pool; memory stays a few
 * MB per thread whatever the model size. Deterministic for a seed, any thread count. */
ue_status ue_gemma3_random_write(const ue_gemma3_random_params *p, const char *path,
                                 ue_error *err);

/* Adds tokenizer.ggml.{tokens,scores,token_type} with n_vocab entries: copied from the
 * GGUF at vocab_path (cut, or padded with <image_soft_token> and [PADnnnnnn] entries as
 * in the multimodal checkpoints), or when vocab_path is NULL a synthetic vocabulary with
 * Gemma 3's special ids, 256 byte tokens at 238..493 and unique normal pieces. */
ue_status ue_gemma3_vocab_add(ue_gguf_writer *w, const char *vocab_path, int n_vocab,
                              ue_error *err);

#endif
