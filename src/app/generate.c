/* Generation loop (see generate.h). */
#include "app/generate.h"

#include <time.h>

#include "core/error.h"

double app_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

ue_status app_eval_prompt(ue_session *s, const int32_t *tokens, size_t n, ue_sampler *sampler,
                          volatile int *cancel, app_gen_stats *stats, ue_error *err) {
    ue_eval_options opt = {.cancel = cancel};
    double t0 = app_now_seconds();
    ue_status st = ue_session_eval(s, tokens, n, &opt, err);
    stats->prompt_seconds += app_now_seconds() - t0;
    if (st != UE_OK) return st;
    stats->n_prompt += n;
    for (size_t i = 0; i < n; i++) ue_sampler_accept(sampler, tokens[i]);
    return UE_OK;
}

ue_status app_generate(const ue_engine *e, ue_session *s, ue_sampler *sampler, int n_predict,
                       app_emit_fn emit, void *user, volatile int *cancel,
                       app_gen_stats *stats, ue_error *err) {
    ue_detok *detok = ue_detok_create(e, 0);
    if (!detok) return ue_fail(err, UE_ERR_NOMEM, "out of memory creating the detokenizer");
    /* The cancel flag is read once per token, before sampling: a token that was sampled
     * and shown is always evaluated, so the context holds exactly the streamed text. */
    ue_eval_options opt = {.cancel = NULL};
    ue_status st = UE_OK;
    int stop = 0;
    double t0 = app_now_seconds();
    for (int i = 0; !stop && (n_predict < 0 || i < n_predict); i++) {
        if (cancel && *cancel) break;
        int32_t tok = ue_sampler_sample(sampler, ue_session_logits(s));
        ue_sampler_accept(sampler, tok);
        int eog = ue_token_is_end_of_generation(e, tok);
        if (!eog) {
            size_t len = 0;
            const char *text = ue_detok_push(detok, tok, &len);
            if (len && emit(user, text, len)) stop = 1;
        }
        if (ue_session_n_past(s) >= ue_session_n_ctx(s)) {
            stats->stop_context_full = 1;
            break;
        }
        st = ue_session_eval(s, &tok, 1, &opt, err);
        if (st != UE_OK) break;
        stats->n_gen++;
        if (eog) {
            stats->stop_eog = 1;
            break;
        }
    }
    stats->gen_seconds += app_now_seconds() - t0;
    size_t len = 0;
    const char *rest = ue_detok_flush(detok, &len);
    if (len) emit(user, rest, len);
    ue_detok_destroy(detok);
    if (st == UE_ERR_INTERRUPTED) st = UE_OK; /* a cancelled answer is not an error */
    return st;
}
