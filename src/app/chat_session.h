/* The conversation behind `unicorn chat`: messages (user messages with their images),
 * system prompt and the session's KV cache kept in step with them. A new turn evaluates
 * only its new tokens (the rest of the context is reused); a changed system prompt, a
 * loaded conversation or dropped turns re-evaluate from the first token that differs (an
 * image's positions count as equal when they hold the same attached image). Invariant
 * between calls: either the context holds the conversation's tokens exactly (the model's
 * answers as sampled), or `dirty` is set and the next answer re-syncs the context from a
 * full render. */
#ifndef UE_APP_CHAT_SESSION_H
#define UE_APP_CHAT_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "app/chat_image.h"
#include "app/chat_prompt.h"
#include "app/generate.h"
#include "unicorn.h"

typedef struct chat_settings {
    ue_sampler_params sp; /* sp.seed is the base seed: answer k uses seed + k */
    int n_predict;        /* tokens per answer, -1: until the end of the turn */
    int drop_oldest;      /* when the context is full, drop the oldest turns */
} chat_settings;

typedef struct chat_turn_stats {
    size_t n_prompt, n_gen;   /* tokens evaluated as prompt / generated */
    double prompt_seconds, gen_seconds;
    size_t n_dropped;         /* messages dropped to make room */
    int interrupted;          /* the cancel flag stopped the answer */
    int context_full;         /* the answer was cut because the context is full */
    int stop_eog;             /* the answer ended with <end_of_turn> */
} chat_turn_stats;

typedef struct chat_conv chat_conv;

/* Borrows the engine and session (they must outlive the conversation). */
ue_status chat_conv_create(ue_engine *engine, ue_session *session,
                           const chat_settings *settings, chat_conv **out, ue_error *err);
void chat_conv_destroy(chat_conv *c); /* NULL is a no-op */

/* The settings used by the next answer; sampling values are checked by the caller. */
chat_settings *chat_conv_settings(chat_conv *c);
/* Sets the base seed and restarts the answer count, so a replayed chat repeats itself. */
void chat_conv_set_seed(chat_conv *c, uint64_t seed);

/* Attaches an image (the reference is taken over) to the next user message. Fails when
 * the engine has no vision weights (the image is released then). */
ue_status chat_conv_attach(chat_conv *c, chat_image *img, ue_error *err);
/* The images waiting for the next user message (borrowed until the next change). */
chat_image *const *chat_conv_pending(const chat_conv *c, size_t *n);

/* A user message (with the pending images before its text) and the model's answer,
 * streamed through emit. UE_ERR_CONTEXT_FULL (the message does not fit) and
 * UE_ERR_INTERRUPTED (cancel during the prompt) leave the conversation as it was; the
 * pending images are attached to the message only when it is sent. A cancelled answer
 * keeps its partial text. */
ue_status chat_conv_say(chat_conv *c, const char *text, app_emit_fn emit, void *user,
                        volatile int *cancel, chat_turn_stats *stats, ue_error *err);
/* Replaces the last answer with a new one (the next seed in the sequence). */
ue_status chat_conv_regen(chat_conv *c, app_emit_fn emit, void *user, volatile int *cancel,
                          chat_turn_stats *stats, ue_error *err);
/* Forgets every message and pending image (the system prompt stays) and empties the
 * context. */
void chat_conv_clear(chat_conv *c);
/* Replaces the system prompt (NULL or "": none) and the messages (roles user /
 * assistant or model, alternating from user, ending with an answer; images only on user
 * messages, referenced, not taken over), then re-evaluates the context from the first
 * token that changed. On an error nothing changes; on UE_ERR_INTERRUPTED the new
 * conversation is kept and re-read before the next answer. */
ue_status chat_conv_replace(chat_conv *c, const char *system, const chat_message *msgs,
                            size_t n_msgs, volatile int *cancel, chat_turn_stats *stats,
                            ue_error *err);

const char *chat_conv_system(const chat_conv *c); /* NULL when none */
/* The messages (roles "user" / "assistant"), borrowed until the next change. */
const chat_message *chat_conv_messages(const chat_conv *c, size_t *n);
/* Turns whose prompt was evaluated incrementally / from a full render (for /show). */
void chat_conv_prefill_counts(const chat_conv *c, size_t *incremental, size_t *full);

#endif
