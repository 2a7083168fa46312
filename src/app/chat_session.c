/* Conversation state and KV-cache reuse for `unicorn chat` (see chat_session.h). The
 * Gemma 3 template (src/model/chat_template.c) renders turns as
 * "<start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n...<end_of_turn>\n", with
 * the system text folded into the first user turn. A turn's new tokens are the bridge that
 * closes the previous answer plus the rendered user turn; they are checked against the
 * tokens of a full render before use. */
#include "app/chat_session.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct tokvec {
    int32_t *v;
    size_t n;
} tokvec;

struct chat_conv {
    ue_engine *e;
    ue_session *s;
    chat_settings set;
    uint64_t n_answers;  /* answers sampled since the seed was set */
    char *system;        /* NULL: none */
    ue_chat_message *msgs; /* contents malloc'd; roles are string literals */
    size_t n_msgs, cap_msgs;
    int dirty;           /* the context may not match the messages: re-sync next time */
    size_t answer_start; /* context position of the last answer's first token; SIZE_MAX: unknown */
    int32_t eot, nl;     /* <end_of_turn> and "\n" */
    size_t n_incremental, n_full;
};

static const char ROLE_USER[] = "user";
static const char ROLE_MODEL[] = "assistant";

/* ---- helpers ---------------------------------------------------------------------- */

static ue_status tokenize(const chat_conv *c, const char *text, tokvec *out, ue_error *err) {
    out->v = NULL;
    out->n = 0;
    size_t len = strlen(text), need = 0;
    ue_status st = ue_tokenize(c->e, text, len, 0, 1, NULL, 0, &need, err);
    if (st != UE_OK) return st;
    out->v = malloc((need ? need : 1) * sizeof *out->v);
    if (!out->v) return ue_fail(err, UE_ERR_NOMEM, "out of memory tokenizing %zu bytes", len);
    st = ue_tokenize(c->e, text, len, 0, 1, out->v, need, &out->n, err);
    if (st != UE_OK) {
        free(out->v);
        out->v = NULL;
    }
    return st;
}

/* Renders system + msgs[0..n) (+ a final user message extra) through the template and
 * tokenizes the text; the render starts with "<bos>" itself. */
static ue_status render_tokens(const chat_conv *c, const char *system, const ue_chat_message *msgs,
                               size_t n, const char *extra, int add_gen, char **text_out,
                               tokvec *out, ue_error *err) {
    out->v = NULL;
    out->n = 0;
    int has_sys = system && *system && (n > 0 || extra);
    size_t total = n + (has_sys ? 1 : 0) + (extra ? 1 : 0);
    ue_chat_message *all = malloc((total ? total : 1) * sizeof *all);
    if (!all) return ue_fail(err, UE_ERR_NOMEM, "out of memory rendering the conversation");
    size_t k = 0;
    if (has_sys) all[k++] = (ue_chat_message){"system", system};
    for (size_t i = 0; i < n; i++) all[k++] = msgs[i];
    if (extra) all[k++] = (ue_chat_message){ROLE_USER, extra};
    char *text = NULL;
    ue_status st = ue_chat_render(all, total, add_gen, &text, err);
    free(all);
    if (st == UE_OK) st = tokenize(c, text, out, err);
    if (st == UE_OK && text_out) *text_out = text;
    else free(text);
    return st;
}

static void free_msgs(ue_chat_message *msgs, size_t n) {
    for (size_t i = 0; i < n; i++) free((char *)msgs[i].content);
    free(msgs);
}

static ue_status push_msg(chat_conv *c, const char *role, char *content, ue_error *err) {
    if (c->n_msgs == c->cap_msgs) {
        size_t cap = c->cap_msgs ? c->cap_msgs * 2 : 16;
        ue_chat_message *bigger = realloc(c->msgs, cap * sizeof *bigger);
        if (!bigger) {
            free(content);
            return ue_fail(err, UE_ERR_NOMEM, "out of memory storing a message");
        }
        c->msgs = bigger;
        c->cap_msgs = cap;
    }
    c->msgs[c->n_msgs++] = (ue_chat_message){role, content};
    return UE_OK;
}

/* Forgets the oldest k messages (k even: whole user/answer pairs). */
static void drop_msgs(chat_conv *c, size_t k) {
    if (k == 0) return;
    for (size_t i = 0; i < k; i++) free((char *)c->msgs[i].content);
    memmove(c->msgs, c->msgs + k, (c->n_msgs - k) * sizeof *c->msgs);
    c->n_msgs -= k;
}

/* The text of tokens (control tokens and image positions give nothing). */
static char *detok_text(const chat_conv *c, const int32_t *toks, size_t n) {
    ue_detok *d = ue_detok_create(c->e, 0);
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    for (size_t i = 0; d && out && i <= n; i++) {
        size_t piece_len = 0;
        const char *piece;
        if (i == n) piece = ue_detok_flush(d, &piece_len);
        else if (toks[i] < 0 || ue_token_is_end_of_generation(c->e, toks[i])) continue;
        else piece = ue_detok_push(d, toks[i], &piece_len);
        if (len + piece_len + 1 > cap) {
            while (len + piece_len + 1 > cap) cap *= 2;
            char *bigger = realloc(out, cap);
            if (!bigger) {
                free(out);
                out = NULL;
                break;
            }
            out = bigger;
        }
        memcpy(out + len, piece, piece_len);
        len += piece_len;
    }
    if (!d) {
        free(out);
        out = NULL;
    }
    ue_detok_destroy(d);
    if (out) out[len] = '\0';
    return out;
}

/* Positions kept free for the answer when deciding whether a prompt fits (with
 * --drop-oldest; without it any free position lets the answer start). */
static size_t answer_reserve(const chat_conv *c) {
    size_t n_ctx = ue_session_n_ctx(c->s);
    if (!c->set.drop_oldest) return 1;
    size_t r = c->set.n_predict > 0 ? (size_t)c->set.n_predict : n_ctx / 4;
    if (r > n_ctx / 2) r = n_ctx / 2;
    return r ? r : 1;
}

/* Evaluates tokens at the end of the context, timed as prompt processing. */
static ue_status eval_prompt(chat_conv *c, const int32_t *toks, size_t n, volatile int *cancel,
                             chat_turn_stats *stats, ue_error *err) {
    ue_eval_options opt = {.cancel = cancel};
    size_t before = ue_session_n_past(c->s);
    double t0 = app_now_seconds();
    ue_status st = ue_session_eval(c->s, toks, n, &opt, err);
    stats->prompt_seconds += app_now_seconds() - t0;
    stats->n_prompt += ue_session_n_past(c->s) - before;
    return st;
}

/* Makes the context hold exactly target: keeps the common prefix, evaluates the rest.
 * At least the last token is evaluated, so the logits are fresh. On an interruption the
 * context holds a prefix of target. */
static ue_status sync_to(chat_conv *c, const int32_t *target, size_t n, volatile int *cancel,
                         chat_turn_stats *stats, ue_error *err) {
    const int32_t *cur = ue_session_tokens(c->s);
    size_t n_past = ue_session_n_past(c->s), same = 0;
    while (same < n_past && same < n && cur[same] == target[same] && target[same] >= 0) same++;
    if (n > 0 && same >= n) same = n - 1;
    ue_status st = ue_session_rewind(c->s, same, err);
    if (st != UE_OK) return st;
    return eval_prompt(c, target + same, n - same, cancel, stats, err);
}

/* Chooses how many of the oldest messages to drop (k even, at most max_k) so that the
 * render of system + msgs[k..n) (+ extra, + extra_tokens more positions) leaves room for
 * the answer; fills *target with its tokens. Without room for the whole reserve, the
 * fewest drops that leave any room at all. */
static ue_status fit_target(chat_conv *c, const char *system, const ue_chat_message *msgs,
                            size_t n, const char *extra, int add_gen, size_t extra_tokens,
                            size_t max_k, const char *what, tokvec *target, size_t *k_out,
                            ue_error *err) {
    size_t n_ctx = ue_session_n_ctx(c->s), reserve = answer_reserve(c);
    size_t fallback_k = SIZE_MAX, smallest = SIZE_MAX;
    for (size_t k = 0; k <= max_k && k <= n; k += 2) {
        tokvec t;
        ue_status st = render_tokens(c, system, msgs + k, n - k, extra, add_gen, NULL, &t, err);
        if (st != UE_OK) return st;
        size_t total = t.n + extra_tokens;
        if (total < smallest) smallest = total;
        if (total + reserve <= n_ctx) {
            *target = t;
            *k_out = k;
            return UE_OK;
        }
        free(t.v);
        if (total + 1 <= n_ctx && fallback_k == SIZE_MAX) fallback_k = k;
    }
    if (fallback_k != SIZE_MAX) {
        *k_out = fallback_k;
        return render_tokens(c, system, msgs + fallback_k, n - fallback_k, extra, add_gen, NULL,
                             target, err);
    }
    if (c->set.drop_oldest)
        return ue_fail(err, UE_ERR_CONTEXT_FULL,
                       "context full: %s needs %zu tokens even with the older turns dropped, "
                       "but the context holds %zu (raise -c)",
                       what, smallest, n_ctx);
    return ue_fail(err, UE_ERR_CONTEXT_FULL,
                   "context full: %s needs %zu tokens but the context holds %zu; /clear starts "
                   "over, or run with --drop-oldest to drop the oldest turns automatically",
                   what, smallest, n_ctx);
}

/* ---- lifecycle -------------------------------------------------------------------- */

ue_status chat_conv_create(ue_engine *e, ue_session *s, const chat_settings *settings,
                           chat_conv **out, ue_error *err) {
    *out = NULL;
    chat_conv *c = calloc(1, sizeof *c);
    if (!c) return ue_fail(err, UE_ERR_NOMEM, "out of memory creating the conversation");
    c->e = e;
    c->s = s;
    c->set = *settings;
    c->answer_start = SIZE_MAX;
    c->eot = ue_token_lookup(e, "<end_of_turn>");
    tokvec nl = {0};
    ue_status st = c->eot < 0 ? ue_fail(err, UE_ERR_UNSUPPORTED,
                                        "the model has no <end_of_turn> token: chat needs a "
                                        "Gemma 3 instruct vocabulary")
                              : tokenize(c, "\n", &nl, err);
    if (st == UE_OK && nl.n != 1)
        st = ue_fail(err, UE_ERR_UNSUPPORTED, "\"\\n\" is %zu tokens, expected 1", nl.n);
    if (st != UE_OK) {
        free(nl.v);
        free(c);
        return st;
    }
    c->nl = nl.v[0];
    free(nl.v);
    *out = c;
    return UE_OK;
}

void chat_conv_destroy(chat_conv *c) {
    if (!c) return;
    free_msgs(c->msgs, c->n_msgs);
    free(c->system);
    free(c);
}

chat_settings *chat_conv_settings(chat_conv *c) { return &c->set; }

void chat_conv_set_seed(chat_conv *c, uint64_t seed) {
    c->set.sp.seed = seed;
    c->n_answers = 0;
}

const char *chat_conv_system(const chat_conv *c) { return c->system; }

const ue_chat_message *chat_conv_messages(const chat_conv *c, size_t *n) {
    *n = c->n_msgs;
    return c->msgs;
}

void chat_conv_prefill_counts(const chat_conv *c, size_t *incremental, size_t *full) {
    *incremental = c->n_incremental;
    *full = c->n_full;
}

void chat_conv_clear(chat_conv *c) {
    free_msgs(c->msgs, c->n_msgs);
    c->msgs = NULL;
    c->n_msgs = c->cap_msgs = 0;
    ue_session_rewind(c->s, 0, NULL);
    c->dirty = 0;
    c->answer_start = SIZE_MAX;
}

/* ---- prompts ---------------------------------------------------------------------- */

static int ends_with(const tokvec *big, const int32_t *tail, size_t n) {
    return big->n >= n && memcmp(big->v + big->n - n, tail, n * sizeof *tail) == 0;
}

/* The tokens of a new user turn after the current context: a bridge that closes the
 * previous answer ("<end_of_turn>\n", or what is missing of it) and the rendered turn.
 * *usable is 0 when a full render does not end with exactly these tokens (the caller
 * then re-syncs from the full render). *keep: the context length to continue from (an
 * answer that ended on <eos> instead of <end_of_turn> loses that token). */
static ue_status incremental_tokens(chat_conv *c, const char *text, tokvec *out, size_t *keep,
                                    int *usable, ue_error *err) {
    *usable = 0;
    out->v = NULL;
    out->n = 0;
    const int32_t *cur = ue_session_tokens(c->s);
    size_t n_past = ue_session_n_past(c->s);
    const int32_t closing[2] = {c->eot, c->nl};
    size_t n_bridge = 2; /* how many of closing[] to add */
    *keep = n_past;
    if (n_past >= 2 && cur[n_past - 1] == c->nl && cur[n_past - 2] == c->eot) n_bridge = 0;
    else if (cur[n_past - 1] == c->eot) n_bridge = 1;
    else if (cur[n_past - 1] >= 0 && ue_token_is_end_of_generation(c->e, cur[n_past - 1]))
        *keep = n_past - 1;

    char *prev = NULL, *full = NULL;
    tokvec prev_t = {0}, full_t = {0}, turn = {0};
    ue_status st = render_tokens(c, c->system, c->msgs, c->n_msgs, NULL, 0, &prev, &prev_t, err);
    if (st == UE_OK)
        st = render_tokens(c, c->system, c->msgs, c->n_msgs, text, 1, &full, &full_t, err);
    size_t prev_len = prev ? strlen(prev) : 0;
    if (st == UE_OK && strncmp(full, prev, prev_len) == 0) {
        st = tokenize(c, full + prev_len, &turn, err);
        /* The full render must end with "<end_of_turn>\n" + exactly the turn's tokens. */
        if (st == UE_OK && ends_with(&full_t, turn.v, turn.n) && full_t.n >= turn.n + 2 &&
            full_t.v[full_t.n - turn.n - 2] == c->eot && full_t.v[full_t.n - turn.n - 1] == c->nl) {
            out->v = malloc((n_bridge + turn.n) * sizeof *out->v);
            if (!out->v) {
                st = ue_fail(err, UE_ERR_NOMEM, "out of memory for the prompt");
            } else {
                memcpy(out->v, closing + 2 - n_bridge, n_bridge * sizeof *out->v);
                memcpy(out->v + n_bridge, turn.v, turn.n * sizeof *out->v);
                out->n = n_bridge + turn.n;
                *usable = 1;
            }
        }
    }
    free(prev);
    free(full);
    free(prev_t.v);
    free(full_t.v);
    free(turn.v);
    return st;
}

/* Re-syncs the context to the full render of the conversation plus text (a new user
 * message; NULL: the conversation already ends with the user message to answer),
 * dropping the oldest turns first when allowed and needed. */
static ue_status full_prompt(chat_conv *c, const char *text, volatile int *cancel,
                             chat_turn_stats *stats, ue_error *err) {
    size_t max_k = 0;
    if (c->set.drop_oldest) max_k = text ? c->n_msgs : (c->n_msgs ? c->n_msgs - 1 : 0);
    tokvec target;
    size_t k = 0;
    ue_status st = fit_target(c, c->system, c->msgs, c->n_msgs, text, 1, 0, max_k,
                              "the conversation with this message", &target, &k, err);
    if (st != UE_OK) return st;
    st = sync_to(c, target.v, target.n, cancel, stats, err);
    free(target.v);
    if (st != UE_OK) {
        c->dirty = 1;
        return st;
    }
    drop_msgs(c, k);
    stats->n_dropped += k;
    c->dirty = 0;
    c->n_full++;
    return UE_OK;
}

/* Prefills a new user turn, incrementally when the context allows it. */
static ue_status prompt_for(chat_conv *c, const char *text, volatile int *cancel,
                            chat_turn_stats *stats, ue_error *err) {
    size_t n_past = ue_session_n_past(c->s), n_ctx = ue_session_n_ctx(c->s);
    if (c->dirty || n_past == 0 || c->n_msgs == 0) return full_prompt(c, text, cancel, stats, err);
    tokvec t;
    size_t keep;
    int usable;
    ue_status st = incremental_tokens(c, text, &t, &keep, &usable, err);
    if (st != UE_OK) return st;
    if (!usable) return full_prompt(c, text, cancel, stats, err);
    if (keep + t.n + answer_reserve(c) > n_ctx) {
        free(t.v);
        if (c->set.drop_oldest) return full_prompt(c, text, cancel, stats, err);
        return ue_fail(err, UE_ERR_CONTEXT_FULL,
                       "context full: %zu of %zu tokens are used and this message needs %zu "
                       "more; /clear starts over, or run with --drop-oldest to drop the oldest "
                       "turns automatically",
                       n_past, n_ctx, t.n + (n_past - keep) + 1);
    }
    st = ue_session_rewind(c->s, keep, err);
    if (st == UE_OK) st = eval_prompt(c, t.v, t.n, cancel, stats, err);
    free(t.v);
    if (st != UE_OK) {
        /* Back to where the turn started: the previous answer stays open as it was. */
        if (ue_session_rewind(c->s, keep, NULL) != UE_OK) c->dirty = 1;
        return st;
    }
    c->n_incremental++;
    return UE_OK;
}

/* ---- answers ---------------------------------------------------------------------- */

/* The context is full mid-answer: drops the oldest turns and re-reads the rest with the
 * partial answer after it. Returns UE_OK with *dropped 0 when nothing can be dropped. */
static ue_status drop_during_answer(chat_conv *c, tokvec *answer, volatile int *cancel,
                                    chat_turn_stats *stats, size_t *dropped, ue_error *err) {
    *dropped = 0;
    if (c->n_msgs < 3) return UE_OK; /* only the current user message is left */
    size_t n_past = ue_session_n_past(c->s);
    free(answer->v);
    answer->n = n_past - c->answer_start;
    answer->v = malloc((answer->n ? answer->n : 1) * sizeof *answer->v);
    if (!answer->v) return ue_fail(err, UE_ERR_NOMEM, "out of memory keeping the answer");
    memcpy(answer->v, ue_session_tokens(c->s) + c->answer_start, answer->n * sizeof *answer->v);

    /* At least one pair goes: that is why we are here. */
    tokvec prefix;
    size_t k = 0;
    ue_status st = fit_target(c, c->system, c->msgs + 2, c->n_msgs - 2, NULL, 1, answer->n,
                              c->n_msgs - 3, "the answer", &prefix, &k, err);
    if (st == UE_ERR_CONTEXT_FULL) return UE_OK;
    if (st != UE_OK) return st;
    k += 2;
    tokvec target = {malloc((prefix.n + answer->n) * sizeof *target.v), prefix.n + answer->n};
    if (!target.v) {
        free(prefix.v);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory re-reading the conversation");
    }
    memcpy(target.v, prefix.v, prefix.n * sizeof *target.v);
    memcpy(target.v + prefix.n, answer->v, answer->n * sizeof *target.v);
    st = sync_to(c, target.v, target.n, cancel, stats, err);
    free(target.v);
    drop_msgs(c, k);
    stats->n_dropped += k;
    *dropped = k;
    c->answer_start = prefix.n;
    free(prefix.v);
    if (st != UE_OK) c->dirty = 1;
    return st;
}

/* Samples the answer after the prompt now in the context and stores it as a message. */
static ue_status answer(chat_conv *c, app_emit_fn emit, void *user, volatile int *cancel,
                        chat_turn_stats *stats, ue_error *err) {
    c->answer_start = ue_session_n_past(c->s);
    ue_sampler_params sp = c->set.sp;
    sp.seed += c->n_answers++;
    ue_sampler *smp = NULL;
    ue_status st = ue_sampler_create(&sp, ue_engine_model_info(c->e)->n_vocab, &smp, err);
    if (st != UE_OK) return st;
    const int32_t *ctx = ue_session_tokens(c->s);
    for (size_t i = 0; i < c->answer_start; i++)
        if (ctx[i] >= 0) ue_sampler_accept(smp, ctx[i]);

    tokvec saved = {0}; /* the answer so far, when the context had to be re-read */
    long long remaining = c->set.n_predict;
    size_t n_ctx = ue_session_n_ctx(c->s);
    for (;;) {
        size_t room = n_ctx - ue_session_n_past(c->s);
        /* Never ask for more than the room left: then app_generate never samples a token
         * that cannot be evaluated, and the shown text matches the context. */
        long long n = room > INT_MAX ? INT_MAX : (long long)room;
        if (remaining >= 0 && remaining < n) n = remaining;
        app_gen_stats gs = {0};
        if (n > 0) st = app_generate(c->e, c->s, smp, (int)n, emit, user, cancel, &gs, err);
        stats->n_gen += gs.n_gen;
        stats->gen_seconds += gs.gen_seconds;
        if (st != UE_OK) break;
        if (remaining >= 0) remaining -= (long long)gs.n_gen;
        if (gs.stop_eog) {
            stats->stop_eog = 1;
            break;
        }
        if (cancel && *cancel) {
            stats->interrupted = 1;
            break;
        }
        if (remaining == 0 || ue_session_n_past(c->s) < n_ctx) break;
        size_t dropped = 0;
        if (c->set.drop_oldest) st = drop_during_answer(c, &saved, cancel, stats, &dropped, err);
        if (st == UE_ERR_INTERRUPTED) {
            stats->interrupted = 1;
            st = UE_OK;
            break;
        }
        if (st != UE_OK) break;
        if (!dropped) {
            stats->context_full = 1;
            break;
        }
    }
    ue_sampler_destroy(smp);
    char *content = c->dirty ? detok_text(c, saved.v, saved.n)
                             : detok_text(c, ue_session_tokens(c->s) + c->answer_start,
                                          ue_session_n_past(c->s) - c->answer_start);
    free(saved.v);
    if (!content) {
        c->dirty = 1;
        return ue_fail(err, UE_ERR_NOMEM, "out of memory storing the answer");
    }
    ue_status pst = push_msg(c, ROLE_MODEL, content, err);
    if (pst != UE_OK) c->dirty = 1;
    return st != UE_OK ? st : pst;
}

ue_status chat_conv_say(chat_conv *c, const char *text, app_emit_fn emit, void *user,
                        volatile int *cancel, chat_turn_stats *stats, ue_error *err) {
    char *copy = strdup(text);
    if (!copy) return ue_fail(err, UE_ERR_NOMEM, "out of memory storing the message");
    ue_status st = prompt_for(c, text, cancel, stats, err);
    if (st == UE_OK) st = push_msg(c, ROLE_USER, copy, err);
    else free(copy);
    if (st != UE_OK) return st;
    return answer(c, emit, user, cancel, stats, err);
}

ue_status chat_conv_regen(chat_conv *c, app_emit_fn emit, void *user, volatile int *cancel,
                          chat_turn_stats *stats, ue_error *err) {
    if (c->n_msgs == 0 || c->msgs[c->n_msgs - 1].role != ROLE_MODEL)
        return ue_fail(err, UE_ERR_ARGUMENT, "there is no answer to regenerate yet");
    ue_chat_message last = c->msgs[--c->n_msgs];
    ue_status st;
    size_t start = c->answer_start;
    if (!c->dirty && start != SIZE_MAX && start > 0 && start <= ue_session_n_past(c->s)) {
        int32_t *prefix = malloc(start * sizeof *prefix);
        if (!prefix) {
            st = ue_fail(err, UE_ERR_NOMEM, "out of memory for the prompt");
        } else {
            memcpy(prefix, ue_session_tokens(c->s), start * sizeof *prefix);
            st = sync_to(c, prefix, start, cancel, stats, err);
            free(prefix);
            if (st != UE_OK) c->dirty = 1;
        }
    } else {
        st = full_prompt(c, NULL, cancel, stats, err);
    }
    if (st != UE_OK) {
        c->msgs[c->n_msgs++] = last; /* the old answer stays */
        return st;
    }
    free((char *)last.content);
    return answer(c, emit, user, cancel, stats, err);
}

/* ---- replacing the conversation --------------------------------------------------- */

ue_status chat_conv_replace(chat_conv *c, const char *system, const ue_chat_message *msgs,
                            size_t n, volatile int *cancel, chat_turn_stats *stats,
                            ue_error *err) {
    if (system && !*system) system = NULL;
    for (size_t i = 0; i < n; i++) {
        int is_user = strcmp(msgs[i].role, "user") == 0;
        int is_model = strcmp(msgs[i].role, "assistant") == 0 || strcmp(msgs[i].role, "model") == 0;
        if ((i % 2 == 0 && !is_user) || (i % 2 == 1 && !is_model))
            return ue_fail(err, UE_ERR_FORMAT,
                           "message %zu has role \"%.32s\", expected %s (roles alternate user, "
                           "assistant, starting with user)",
                           i, msgs[i].role, i % 2 == 0 ? "user" : "assistant");
    }
    if (n % 2 != 0)
        return ue_fail(err, UE_ERR_FORMAT,
                       "the conversation ends with a user message; it must end with an answer");
    /* Copy first so that a failure leaves everything as it was. */
    ue_chat_message *copy = calloc(n ? n : 1, sizeof *copy);
    char *sys_copy = system ? strdup(system) : NULL;
    int failed = !copy || (system && !sys_copy);
    for (size_t i = 0; i < n && !failed; i++) {
        copy[i].role = i % 2 == 0 ? ROLE_USER : ROLE_MODEL;
        copy[i].content = strdup(msgs[i].content);
        failed = !copy[i].content;
    }
    ue_status st = failed ? ue_fail(err, UE_ERR_NOMEM, "out of memory copying the conversation")
                          : UE_OK;
    tokvec target = {0};
    size_t k = 0;
    if (st == UE_OK && n > 0)
        st = fit_target(c, sys_copy, copy, n, NULL, 0, 0, c->set.drop_oldest ? n - 2 : 0,
                        "the conversation", &target, &k, err);
    if (st != UE_OK) {
        free_msgs(copy, n);
        free(sys_copy);
        return st;
    }
    free_msgs(c->msgs, c->n_msgs);
    free(c->system);
    c->system = sys_copy;
    c->msgs = copy;
    c->n_msgs = n;
    c->cap_msgs = n ? n : 1;
    drop_msgs(c, k);
    stats->n_dropped += k;
    c->answer_start = SIZE_MAX;
    c->dirty = 0;
    if (c->n_msgs == 0) {
        free(target.v);
        return ue_session_rewind(c->s, 0, err);
    }
    st = sync_to(c, target.v, target.n, cancel, stats, err);
    if (st == UE_OK) {
        /* Where the last answer starts, for /regen: after the render up to its opener. */
        tokvec upto;
        if (render_tokens(c, c->system, c->msgs, c->n_msgs - 1, NULL, 1, NULL, &upto, NULL) ==
            UE_OK) {
            if (upto.n < target.n && memcmp(upto.v, target.v, upto.n * sizeof *upto.v) == 0)
                c->answer_start = upto.n;
            free(upto.v);
        }
    } else {
        c->dirty = 1;
    }
    free(target.v);
    return st;
}
