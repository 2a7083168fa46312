/* ue_session: one conversation's context. Owns the model state (KV cache, scratch), the
 * tokens evaluated so far and the last logits; splits long inputs into batches. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/engine_internal.h"

enum { DEFAULT_CTX = 4096, MAX_BATCH = 512 };

struct ue_session {
    ue_engine *engine;
    ue_gemma3_state *state;
    int n_ctx;
    size_t n_past;
    int32_t *tokens;  /* [n_ctx] */
    float *logits;    /* [n_vocab] of the last evaluated token: the state's own row on
                         the CPU (no copy), else the session's array */
    int own_logits;
    int have_logits;
    int n_vocab_tok;  /* ids from here on have no token: their logits are masked */
};

void ue_session_params_init(ue_session_params *p) { memset(p, 0, sizeof *p); }

ue_status ue_session_create(ue_engine *e, const ue_session_params *p, ue_session **out,
                            ue_error *err) {
    *out = NULL;
    int n_ctx = p ? p->n_ctx : 0;
    const ue_gemma3_hparams *hp = &e->model->hp;
    if (n_ctx < 0)
        return ue_fail(err, UE_ERR_ARGUMENT, "context size %d, expected >= 0 (0: default)", n_ctx);
    if (n_ctx == 0) n_ctx = hp->n_ctx_train < DEFAULT_CTX ? hp->n_ctx_train : DEFAULT_CTX;
    if (n_ctx > hp->n_ctx_train)
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "context size %d is larger than the model's trained context %d", n_ctx,
                       hp->n_ctx_train);
    ue_session *s = calloc(1, sizeof *s);
    if (!s) return ue_fail(err, UE_ERR_NOMEM, "out of memory creating a session");
    s->engine = e;
    s->n_ctx = n_ctx;
    s->n_vocab_tok = ue_tokenizer_n_vocab(e->tok);
    s->tokens = malloc((size_t)n_ctx * sizeof *s->tokens);
    ue_status st = UE_OK;
    if (!s->tokens)
        st = ue_fail(err, UE_ERR_NOMEM, "out of memory creating a session");
    else
        st = ue_gemma3_state_create(e->model, n_ctx, MAX_BATCH, &s->state, err);
    if (st == UE_OK && !(s->logits = ue_gemma3_state_logit_row(s->state))) {
        s->logits = calloc((size_t)hp->n_vocab, sizeof *s->logits);
        s->own_logits = 1;
        if (!s->logits) st = ue_fail(err, UE_ERR_NOMEM, "out of memory creating a session");
    }
    if (st != UE_OK) {
        ue_session_destroy(s);
        return st;
    }
    *out = s;
    return UE_OK;
}

void ue_session_destroy(ue_session *s) {
    if (!s) return;
    ue_gemma3_state_destroy(s->state);
    free(s->tokens);
    if (s->own_logits) free(s->logits);
    free(s);
}

typedef struct logits_relay {
    const ue_eval_options *opt;
    int n_vocab_tok;
} logits_relay;

/* Masks logits of embedding rows that have no token (padding rows) before the caller
 * sees them. */
static void mask_padding(float *logits, int n_vocab_tok, int n_vocab) {
    for (int i = n_vocab_tok; i < n_vocab; i++) logits[i] = -INFINITY;
}

static void relay_logits(void *user, size_t pos, const float *logits, int n_vocab) {
    logits_relay *r = user;
    if (r->n_vocab_tok < n_vocab) mask_padding((float *)logits, r->n_vocab_tok, n_vocab);
    r->opt->all_logits(r->opt->user, pos, logits, n_vocab);
}

/* Runs positions through the model in batches of at most MAX_BATCH. Embeddings (one
 * image) are never split: they must attend to each other inside one batch. */
static ue_status eval_input(ue_session *s, const int32_t *tokens, const float *embd, size_t n_in,
                            const ue_eval_options *opt, ue_error *err) {
    const ue_gemma3_hparams *hp = &s->engine->model->hp;
    if (n_in == 0) return UE_OK;
    if (!tokens && !embd) return ue_fail(err, UE_ERR_ARGUMENT, "no input given");
    if (n_in > (size_t)s->n_ctx - s->n_past)
        return ue_fail(err, UE_ERR_CONTEXT_FULL,
                       "%zu positions do not fit: %zu of %d context positions are used", n_in,
                       s->n_past, s->n_ctx);
    if (embd && n_in > MAX_BATCH)
        return ue_fail(err, UE_ERR_ARGUMENT, "%zu embeddings in one call, expected at most %d",
                       n_in, MAX_BATCH);
    for (size_t i = 0; tokens && i < n_in; i++)
        if (tokens[i] < 0 || tokens[i] >= s->n_vocab_tok)
            return ue_fail(err, UE_ERR_ARGUMENT, "token id %d at index %zu is outside 0..%d",
                           tokens[i], i, s->n_vocab_tok - 1);
    logits_relay relay = {.opt = opt, .n_vocab_tok = s->n_vocab_tok};
    int want_all = opt && opt->all_logits;
    size_t done = 0;
    while (done < n_in) {
        if (opt && opt->cancel && *opt->cancel)
            return ue_fail(err, UE_ERR_INTERRUPTED,
                           "evaluation interrupted after %zu of %zu positions", done, n_in);
        size_t n = n_in - done < MAX_BATCH ? n_in - done : MAX_BATCH;
        int last = done + n == n_in;
        ue_gemma3_input in = {.n = (int)n};
        if (tokens) in.tokens = tokens + done;
        else in.embd = embd + done * (size_t)hp->n_embd;
        ue_status st = ue_gemma3_forward(s->engine->model, s->state, &in, (int64_t)s->n_past,
                                         last ? s->logits : NULL,
                                         want_all ? relay_logits : NULL, &relay, err);
        if (st != UE_OK) {
            s->have_logits = 0;
            return st;
        }
        for (size_t i = 0; i < n; i++) s->tokens[s->n_past + i] = tokens ? tokens[done + i] : -1;
        s->n_past += n;
        done += n;
    }
    mask_padding(s->logits, s->n_vocab_tok, hp->n_vocab);
    s->have_logits = 1;
    return UE_OK;
}

ue_status ue_session_eval(ue_session *s, const int32_t *tokens, size_t n_tokens,
                          const ue_eval_options *opt, ue_error *err) {
    if (n_tokens && !tokens) return ue_fail(err, UE_ERR_ARGUMENT, "no tokens given");
    return eval_input(s, tokens, NULL, n_tokens, opt, err);
}

ue_status ue_session_eval_embeddings(ue_session *s, const float *embd, size_t n,
                                     const ue_eval_options *opt, ue_error *err) {
    if (n && !embd) return ue_fail(err, UE_ERR_ARGUMENT, "no embeddings given");
    return eval_input(s, NULL, embd, n, opt, err);
}

ue_engine *ue_session_engine(const ue_session *s) { return s->engine; }
const float *ue_session_logits(const ue_session *s) { return s->logits; }
size_t ue_session_n_past(const ue_session *s) { return s->n_past; }
size_t ue_session_n_ctx(const ue_session *s) { return (size_t)s->n_ctx; }
const int32_t *ue_session_tokens(const ue_session *s) { return s->tokens; }

ue_status ue_session_rewind(ue_session *s, size_t n_keep, ue_error *err) {
    if (n_keep > s->n_past)
        return ue_fail(err, UE_ERR_ARGUMENT, "cannot rewind to %zu: only %zu positions are used",
                       n_keep, s->n_past);
    /* Cache rows past n_keep are simply overwritten by the next eval. */
    s->n_past = n_keep;
    s->have_logits = 0;
    return UE_OK;
}
