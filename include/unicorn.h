/* Unicorn Engine public API: run Gemma 3 GGUF models.
 *
 * An engine owns the weights (memory-mapped) and the tokenizer; a session owns one
 * conversation's KV cache and scratch memory. Several sessions may share one engine.
 * Every fallible call returns a ue_status and, when err is not NULL, fills err->msg with
 * one line naming what was wrong, expected vs actual. */
#ifndef UNICORN_H
#define UNICORN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UE_VERSION_STRING "0.1.0"

typedef enum ue_status {
    UE_OK = 0,
    UE_ERR_ARGUMENT,     /* bad argument, flag or request value */
    UE_ERR_IO,           /* a file could not be opened or read */
    UE_ERR_FORMAT,       /* malformed content (GGUF, image, JSON) */
    UE_ERR_UNSUPPORTED,  /* well-formed but not supported (architecture, tensor type) */
    UE_ERR_NOMEM,        /* an allocation failed */
    UE_ERR_CONTEXT_FULL, /* the session's context has no room for the tokens */
    UE_ERR_INTERRUPTED,  /* stopped by the caller's cancel flag */
    UE_ERR_DEVICE        /* a compute device failed */
} ue_status;

typedef struct ue_error {
    ue_status code;
    char msg[512];
} ue_error;

/* Short constant name of a status ("format error"). */
const char *ue_status_str(ue_status status);

/* ---- engine ---------------------------------------------------------------------- */

typedef struct ue_engine ue_engine;

typedef struct ue_engine_params {
    const char *model_path; /* GGUF file */
    int n_threads;          /* 0: one per available core */
    const char *device;     /* "auto" (default), "cpu", "cpu-ref" (scalar reference kernels) */
    /* Vision projector (llama.cpp-style mmproj GGUF) for image input; NULL: the model
     * file's own v.* tensors when it carries them, else no vision. */
    const char *mmproj_path;
    /* Called while loading with progress in [0, 1]; may be NULL. */
    void (*progress)(float fraction, void *user);
    void *progress_user;
} ue_engine_params;

void ue_engine_params_init(ue_engine_params *params);
ue_status ue_engine_create(const ue_engine_params *params, ue_engine **out, ue_error *err);
void ue_engine_destroy(ue_engine *engine); /* NULL is a no-op */

typedef struct ue_model_info {
    const char *name;          /* general.name, or the file name */
    const char *architecture;  /* "gemma3" */
    const char *file_type;     /* "Q4_K_M", ... */
    uint64_t n_params;         /* weights, counted from tensor shapes */
    uint64_t file_bytes;
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab;
    int n_ctx_train, sliding_window;
} ue_model_info;

const ue_model_info *ue_engine_model_info(const ue_engine *engine);
/* The device the engine runs on, and why it was chosen (one line each). */
const char *ue_engine_device_name(const ue_engine *engine);

/* ---- tokens ---------------------------------------------------------------------- */

enum { UE_TOKEN_BOS = 2, UE_TOKEN_EOS = 1 };

/* Encode text. add_bos prepends <bos>; parse_special turns control-token strings such as
 * "<start_of_turn>" into their ids (off: they are encoded as plain text). Writes up to cap
 * ids and sets *n_tokens to the number the text needs (call again with a larger cap when
 * it exceeds cap). */
ue_status ue_tokenize(const ue_engine *engine, const char *text, size_t len, int add_bos,
                      int parse_special, int32_t *tokens, size_t cap, size_t *n_tokens,
                      ue_error *err);
/* The piece of one token as text bytes (byte-fallback tokens give one raw byte; control
 * tokens give "" unless show_special). */
const char *ue_token_piece(const ue_engine *engine, int32_t token, int show_special,
                           size_t *len);
int ue_token_is_end_of_generation(const ue_engine *engine, int32_t token);
int32_t ue_token_lookup(const ue_engine *engine, const char *piece); /* -1 when absent */

/* Streaming detokenizer: pushes tokens, hands out only complete UTF-8 characters. */
typedef struct ue_detok ue_detok;
ue_detok *ue_detok_create(const ue_engine *engine, int show_special);
/* Returns the text ready after this token (valid until the next call), *len its bytes. */
const char *ue_detok_push(ue_detok *detok, int32_t token, size_t *len);
/* Flushes a trailing incomplete character as U+FFFD. */
const char *ue_detok_flush(ue_detok *detok, size_t *len);
void ue_detok_destroy(ue_detok *detok);

/* ---- chat template --------------------------------------------------------------- */

typedef struct ue_chat_message {
    const char *role;    /* "system", "user", "assistant" (or "model") */
    const char *content;
} ue_chat_message;

/* Renders Gemma 3's instruct template into a malloc'd string (caller frees): the system
 * text is folded into the first user turn; add_generation_prompt appends the model turn
 * opener. Errors on roles that do not alternate. */
ue_status ue_chat_render(const ue_chat_message *messages, size_t n_messages,
                         int add_generation_prompt, char **out, ue_error *err);

/* ---- images (vision: Gemma 3 4B and larger) ------------------------------------- */

/* A decoded image, 8-bit RGB. PNG, JPEG, GIF (first frame), WebP and BMP, recognised by
 * their first bytes; transparency is composited on white; a JPEG's EXIF orientation is
 * applied. Inputs over UE_IMAGE_MAX_BYTES or UE_IMAGE_MAX_PIXELS are refused before any
 * pixel memory is allocated. */
typedef struct ue_image ue_image;

#define UE_IMAGE_MAX_BYTES (64u << 20)
#define UE_IMAGE_MAX_PIXELS 50000000u

ue_status ue_image_load_file(const char *path, ue_image **out, ue_error *err);
ue_status ue_image_load_memory(const void *data, size_t size, ue_image **out, ue_error *err);
/* An image from packed RGB bytes [height][width][3] (copied). */
ue_status ue_image_from_rgb(const uint8_t *rgb, int width, int height, ue_image **out,
                            ue_error *err);
void ue_image_destroy(ue_image *image); /* NULL is a no-op */
int ue_image_width(const ue_image *image);
int ue_image_height(const ue_image *image);
const uint8_t *ue_image_rgb(const ue_image *image); /* [height][width][3], borrowed */

/* Whether the engine has vision weights (from params.mmproj_path or the model file). */
int ue_engine_has_vision(const ue_engine *engine);
/* Soft tokens one image becomes (256 for Gemma 3); 0 without vision. */
int ue_engine_image_tokens(const ue_engine *engine);
/* Runs one image through the vision encoder and projector: out [image_tokens, n_embd]
 * f32, the embeddings that replace the image's soft tokens (ue_session_eval_embeddings).
 * Errors name the projector file needed when the engine has no vision weights. */
ue_status ue_engine_encode_image(ue_engine *engine, const ue_image *image, float *out,
                                 ue_error *err);

/* ---- session --------------------------------------------------------------------- */

typedef struct ue_session ue_session;

typedef struct ue_session_params {
    int n_ctx; /* context length in tokens; 0: min(4096, the model's trained length) */
} ue_session_params;

void ue_session_params_init(ue_session_params *params);
ue_status ue_session_create(ue_engine *engine, const ue_session_params *params,
                            ue_session **out, ue_error *err);
void ue_session_destroy(ue_session *session);

/* Called once per evaluated position with that position's logits [n_vocab], when a caller
 * asks for all of them (tests, perplexity). */
typedef void (*ue_logits_fn)(void *user, size_t position, const float *logits, int n_vocab);

typedef struct ue_eval_options {
    ue_logits_fn all_logits; /* NULL: only the last position's logits are computed */
    void *user;
    volatile int *cancel;    /* when non-NULL and set, evaluation stops with INTERRUPTED */
} ue_eval_options;

/* Appends tokens to the context and runs them through the model as one batch. Afterwards
 * ue_session_logits() holds the logits of the last token. */
ue_status ue_session_eval(ue_session *session, const int32_t *tokens, size_t n_tokens,
                          const ue_eval_options *options, ue_error *err);
/* Appends n positions whose input embeddings are given directly: [n, n_embd] f32, used
 * as they are (not scaled). They attend to each other in both directions, as the 256
 * soft tokens of one image do; at most 512 per call. Their ue_session_tokens() entry is -1. */
ue_status ue_session_eval_embeddings(ue_session *session, const float *embd, size_t n,
                                     const ue_eval_options *options, ue_error *err);
/* Evaluates a prompt (text with control tokens such as a rendered chat turn) in which
 * every "<start_of_image>" stands for the next of n_images images, in order: each becomes
 * "\n\n<start_of_image>" + the image's soft tokens + "<end_of_image>\n\n" (Gemma 3's
 * processor layout). With pan_scan, a wide or tall image also gets up to 4 crops, laid out
 * as the Hugging Face processor does. add_bos prepends <bos>. The number of markers must
 * equal n_images. */
ue_status ue_session_eval_prompt(ue_session *session, const char *text, size_t len,
                                 int add_bos, const ue_image *const *images, size_t n_images,
                                 int pan_scan, const ue_eval_options *options, ue_error *err);
const float *ue_session_logits(const ue_session *session); /* [n_vocab] */
size_t ue_session_n_past(const ue_session *session);
size_t ue_session_n_ctx(const ue_session *session);
/* The tokens in the context, in order (borrowed; valid until the next eval/rewind). */
const int32_t *ue_session_tokens(const ue_session *session);
/* Drops every position from n_keep on, so the next eval continues from there. */
ue_status ue_session_rewind(ue_session *session, size_t n_keep, ue_error *err);

/* ---- sampling -------------------------------------------------------------------- */

typedef struct ue_sampler_params {
    float temperature;       /* <= 0: greedy. Gemma default 1.0 */
    int top_k;               /* <= 0: off. Gemma default 64 */
    float top_p;             /* >= 1: off. Gemma default 0.95 */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    int repeat_last_n;       /* tokens the penalties look back over (0: off, -1: all) */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    uint64_t seed;
} ue_sampler_params;

typedef struct ue_sampler ue_sampler;

void ue_sampler_params_init(ue_sampler_params *params); /* Gemma 3's defaults */
ue_status ue_sampler_create(const ue_sampler_params *params, int n_vocab, ue_sampler **out,
                            ue_error *err);
void ue_sampler_destroy(ue_sampler *sampler);
/* Picks the next token from logits [n_vocab] (logits are not modified). */
int32_t ue_sampler_sample(ue_sampler *sampler, const float *logits);
/* Records a token in the penalty history (prompt tokens and sampled ones). */
void ue_sampler_accept(ue_sampler *sampler, int32_t token);
void ue_sampler_reset(ue_sampler *sampler);

#ifdef __cplusplus
}
#endif
#endif
