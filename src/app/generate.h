/* The token generation loop shared by run, chat and serve: sample, stream the text,
 * evaluate the token, until an end-of-generation token, the length limit, a full
 * context or a cancel request. */
#ifndef UE_APP_GENERATE_H
#define UE_APP_GENERATE_H

#include <stddef.h>

#include "unicorn.h"

typedef struct app_gen_stats {
    size_t n_prompt, n_gen;
    double prompt_seconds, gen_seconds;
    int stop_eog;          /* ended on <eos> / <end_of_turn> */
    int stop_context_full; /* ended because the context was full */
} app_gen_stats;

/* Receives each complete piece of text; returns non-zero to stop generating. */
typedef int (*app_emit_fn)(void *user, const char *text, size_t len);

/* Evaluates the prompt tokens (timed as prompt processing). */
ue_status app_eval_prompt(ue_session *session, const int32_t *tokens, size_t n,
                          ue_sampler *sampler, volatile int *cancel, app_gen_stats *stats,
                          ue_error *err);

/* Generates up to n_predict tokens (< 0: until the end or the context is full) from the
 * session's current logits. The end-of-generation token is evaluated into the context
 * too (when it fits), so a conversation can continue after it. */
ue_status app_generate(const ue_engine *engine, ue_session *session, ue_sampler *sampler,
                       int n_predict, app_emit_fn emit, void *user, volatile int *cancel,
                       app_gen_stats *stats, ue_error *err);

double app_now_seconds(void);

#endif
