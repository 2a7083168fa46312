/* Whole-model checks: see model_check.h. */
#include "model_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"

ue_engine *model_check_engine(const char *path, const char *device) {
    ue_engine_params p;
    ue_engine_params_init(&p);
    p.model_path = path;
    p.device = device;
    ue_engine *e = NULL;
    ue_error err = {0};
    if (ue_engine_create(&p, &e, &err) != UE_OK) fail_msg("engine %s on %s: %s", path, device, err.msg);
    return e;
}

static ue_session *new_session(ue_engine *e, int n_ctx) {
    ue_session_params sp;
    ue_session_params_init(&sp);
    sp.n_ctx = n_ctx;
    ue_session *s = NULL;
    ue_error err = {0};
    if (ue_session_create(e, &sp, &s, &err) != UE_OK) fail_msg("session: %s", err.msg);
    return s;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

typedef struct prompt_ctx {
    const uelg *f;
    model_check_stats *st;
} prompt_ctx;

static void note_diff(model_check_stats *st, double d) {
    if (!(d <= st->max_abs_diff)) st->max_abs_diff = d; /* NaN propagates as a failure */
    st->n_compared++;
}

static void on_logits(void *user, size_t pos, const float *logits, int n_vocab) {
    prompt_ctx *c = user;
    const uelg *f = c->f;
    model_check_stats *st = c->st;
    if ((uint32_t)n_vocab != f->n_vocab) fail_msg("n_vocab %d, fixture %u", n_vocab, f->n_vocab);
    const int32_t *ids = f->top_ids + pos * f->top_k;
    const float *ref = f->top_logits + pos * f->top_k;
    for (uint32_t k = 0; k < f->top_k; k++) note_diff(st, fabs((double)logits[ids[k]] - ref[k]));
    int ours = argmax(logits, n_vocab);
    if (f->margin[pos] > MODEL_CHECK_MARGIN) {
        st->argmax_checked++;
        if (ours != ids[0]) {
            st->argmax_mismatch++;
            fprintf(stderr, "position %zu: argmax %d, reference %d (margin %.4f)\n", pos, ours,
                    ids[0], f->margin[pos]);
        }
    } else if (ours != ids[0]) {
        st->near_tie_swaps++;
    }
    for (uint32_t i = 0; i < f->n_full_pos; i++) {
        if ((size_t)f->full_pos[i] != pos) continue;
        const float *full = f->full_logits + (size_t)i * f->n_full_ids;
        for (uint32_t v = 0; v < f->n_full_ids; v++)
            note_diff(st, fabs((double)logits[f->full_ids[v]] - full[v]));
    }
}

void model_check_prompt(ue_engine *e, const uelg *f, int n_ctx, model_check_stats *st) {
    ue_session *s = new_session(e, n_ctx);
    prompt_ctx c = {f, st};
    ue_eval_options opt = {.all_logits = on_logits, .user = &c};
    ue_error err = {0};
    if (ue_session_eval(s, f->prompt_ids, f->n_prompt, &opt, &err) != UE_OK)
        fail_msg("eval: %s", err.msg);
    ue_session_destroy(s);
}

double model_check_last_logits(ue_engine *e, const uelg *f, int n_ctx) {
    ue_session *s = new_session(e, n_ctx);
    ue_error err = {0};
    if (ue_session_eval(s, f->prompt_ids, f->n_prompt, NULL, &err) != UE_OK)
        fail_msg("eval: %s", err.msg);
    const float *logits = ue_session_logits(s);
    size_t pos = f->n_prompt - 1;
    double worst = 0.0;
    for (uint32_t k = 0; k < f->top_k; k++) {
        double d = fabs((double)logits[f->top_ids[pos * f->top_k + k]] - f->top_logits[pos * f->top_k + k]);
        if (!(d <= worst)) worst = d;
    }
    for (uint32_t i = 0; i < f->n_full_pos; i++) {
        if ((size_t)f->full_pos[i] != pos) continue;
        for (uint32_t v = 0; v < f->n_full_ids; v++) {
            double d = fabs((double)logits[f->full_ids[v]] - f->full_logits[(size_t)i * f->n_full_ids + v]);
            if (!(d <= worst)) worst = d;
        }
    }
    ue_session_destroy(s);
    return worst;
}

int model_check_greedy(ue_engine *e, const uelg *f, int n_ctx) {
    return model_check_greedy_n(e, f, n_ctx, (int)f->n_gen);
}

int model_check_greedy_n(ue_engine *e, const uelg *f, int n_ctx, int n_gen) {
    ue_session *s = new_session(e, n_ctx);
    if (n_gen < 0 || (uint32_t)n_gen > f->n_gen) n_gen = (int)f->n_gen;
    ue_error err = {0};
    if (ue_session_eval(s, f->prompt_ids, f->n_prompt, NULL, &err) != UE_OK)
        fail_msg("eval: %s", err.msg);
    int matched = 0;
    for (uint32_t i = 0; i < (uint32_t)n_gen; i++) {
        int tok = argmax(ue_session_logits(s), (int)f->n_vocab);
        if (tok != f->gen_ids[i]) {
            if (f->gen_margin[i] > MODEL_CHECK_MARGIN)
                fail_msg("greedy step %u: token %d, reference %d (reference margin %.4f)", i, tok,
                         f->gen_ids[i], f->gen_margin[i]);
            fprintf(stderr, "greedy step %u: near-tie (margin %.4f), %d vs %d; stop comparing\n",
                    i, f->gen_margin[i], tok, f->gen_ids[i]);
            break;
        }
        matched++;
        int32_t t = tok;
        if (ue_session_eval(s, &t, 1, NULL, &err) != UE_OK) fail_msg("eval: %s", err.msg);
    }
    ue_session_destroy(s);
    return matched;
}

double model_check_decode_path(ue_engine *e, const uelg *f, int n_ctx) {
    ue_session *s = new_session(e, n_ctx);
    ue_error err = {0};
    double worst = 0.0;
    for (uint32_t p = 0; p < f->n_prompt; p++) {
        if (ue_session_eval(s, &f->prompt_ids[p], 1, NULL, &err) != UE_OK)
            fail_msg("eval: %s", err.msg);
        const float *logits = ue_session_logits(s);
        for (uint32_t i = 0; i < f->n_full_pos; i++) {
            if ((uint32_t)f->full_pos[i] != p) continue;
            const float *full = f->full_logits + (size_t)i * f->n_full_ids;
            for (uint32_t v = 0; v < f->n_full_ids; v++) {
                double d = fabs((double)logits[f->full_ids[v]] - full[v]);
                if (!(d <= worst)) worst = d;
            }
        }
    }
    ue_session_destroy(s);
    return worst;
}
