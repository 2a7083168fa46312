/* Conversation state and KV-cache reuse for `unicorn chat` (see chat_session.h). The
 * Gemma 3 template (src/model/chat_template.c) renders turns as
 * "<start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n...<end_of_turn>\n", with
 * the system text folded into the first user turn and images laid out by chat_prompt.c.
 * A turn's new tokens are the bridge that closes the previous answer plus the rendered
 * user turn; they are checked against the tokens of a full render before use. */
#include "app/chat_session.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct chat_conv {
    ue_engine *e;
    ue_session *s;
    chat_prompter pr;
    chat_settings set;
    uint64_t n_answers;  /* answers sampled since the seed was set */
    char *system;        /* NULL: none */
    chat_message *msgs;  /* contents and image arrays malloc'd, images referenced; roles
                          * are string literals */
    size_t n_msgs, cap_msgs;
    chat_image **pending; /* referenced; for the next user message */
    size_t n_pending;
    /* The images whose soft positions the context holds (referenced), in position order:
     * the token ids alone (-1) cannot tell one image from another. */
    chat_image_at *ctx_img;
    size_t n_ctx_img, cap_ctx_img;
    int dirty;           /* the context may not match the messages: re-sync next time */
    size_t answer_start; /* context position of the last answer's first token; SIZE_MAX: unknown */
    int32_t eot, nl;     /* <end_of_turn> and "\n" */
    size_t n_incremental, n_full;
};

static const char ROLE_USER[] = "user";
static const char ROLE_MODEL[] = "assistant";

/* ---- helpers ---------------------------------------------------------------------- */

static ue_status render(const chat_conv *c, const char *system, const chat_message *msgs,
                        size_t n, const chat_message *extra, int add_gen, char **text_out,
                        chat_tokens *out, ue_error *err) {
    return chat_prompt_render(&c->pr, system, msgs, n, extra, add_gen, text_out, out, err);
}

static void free_images(chat_image *const *imgs, size_t n) {
    for (size_t i = 0; i < n; i++) chat_image_unref(imgs[i]);
    free((void *)imgs);
}

static void free_msgs(chat_message *msgs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free((char *)msgs[i].content);
        free_images(msgs[i].images, msgs[i].n_images);
    }
    free(msgs);
}

/* Stores a message, taking over content and the images array with its references. */
static ue_status push_msg(chat_conv *c, const char *role, char *content, chat_image **imgs,
                          size_t n_imgs, ue_error *err) {
    if (c->n_msgs == c->cap_msgs) {
        size_t cap = c->cap_msgs ? c->cap_msgs * 2 : 16;
        chat_message *bigger = realloc(c->msgs, cap * sizeof *bigger);
        if (!bigger) {
            free(content);
            free_images(imgs, n_imgs);
            return ue_fail(err, UE_ERR_NOMEM, "out of memory storing a message");
        }
        c->msgs = bigger;
        c->cap_msgs = cap;
    }
    c->msgs[c->n_msgs++] = (chat_message){role, content, imgs, n_imgs};
    return UE_OK;
}

/* Forgets the oldest k messages (k even: whole user/answer pairs). */
static void drop_msgs(chat_conv *c, size_t k) {
    if (k == 0) return;
    for (size_t i = 0; i < k; i++) {
        free((char *)c->msgs[i].content);
        free_images(c->msgs[i].images, c->msgs[i].n_images);
    }
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

/* ---- the context ------------------------------------------------------------------ */

/* Drops every position from keep on, with the images whose positions go. */
static ue_status ctx_rewind(chat_conv *c, size_t keep, ue_error *err) {
    ue_status st = ue_session_rewind(c->s, keep, err);
    if (st != UE_OK) return st;
    while (c->n_ctx_img && c->ctx_img[c->n_ctx_img - 1].pos + c->pr.n_soft > keep)
        chat_image_unref(c->ctx_img[--c->n_ctx_img].img);
    return UE_OK;
}

/* Runs one image's soft positions at the end of the context, encoding it first if it
 * never was (timed as prompt processing, as `run` does). */
static ue_status eval_image(chat_conv *c, chat_image *img, volatile int *cancel,
                            chat_turn_stats *stats, ue_error *err) {
    if (cancel && *cancel) return ue_fail(err, UE_ERR_INTERRUPTED, "interrupted before an image");
    if (c->n_ctx_img == c->cap_ctx_img) {
        size_t cap = c->cap_ctx_img ? c->cap_ctx_img * 2 : 8;
        chat_image_at *bigger = realloc(c->ctx_img, cap * sizeof *bigger);
        if (!bigger) return ue_fail(err, UE_ERR_NOMEM, "out of memory recording an image");
        c->ctx_img = bigger;
        c->cap_ctx_img = cap;
    }
    const float *embd = NULL;
    double encode_s = 0;
    ue_status st = chat_image_embeddings(img, c->e, &embd, &encode_s, err);
    stats->prompt_seconds += encode_s;
    if (st != UE_OK) return st;
    ue_eval_options opt = {.cancel = cancel};
    size_t before = ue_session_n_past(c->s);
    double t0 = app_now_seconds();
    st = ue_session_eval_embeddings(c->s, embd, c->pr.n_soft, &opt, err);
    stats->prompt_seconds += app_now_seconds() - t0;
    stats->n_prompt += ue_session_n_past(c->s) - before;
    if (st != UE_OK) return st;
    c->ctx_img[c->n_ctx_img++] = (chat_image_at){before, chat_image_ref(img)};
    return UE_OK;
}

/* Evaluates t's positions from `from` (never inside an image) at the end of the
 * context: runs of tokens in one batch each, then each image. */
static ue_status eval_tokens(chat_conv *c, const chat_tokens *t, size_t from,
                             volatile int *cancel, chat_turn_stats *stats, ue_error *err) {
    ue_eval_options opt = {.cancel = cancel};
    size_t k = 0;
    while (k < t->n_img && t->img[k].pos < from) k++;
    for (size_t i = from; i < t->n;) {
        size_t stop = k < t->n_img ? t->img[k].pos : t->n;
        if (stop > i) {
            size_t before = ue_session_n_past(c->s);
            double t0 = app_now_seconds();
            ue_status st = ue_session_eval(c->s, t->v + i, stop - i, &opt, err);
            stats->prompt_seconds += app_now_seconds() - t0;
            stats->n_prompt += ue_session_n_past(c->s) - before;
            if (st != UE_OK) return st;
            i = stop;
        }
        if (k < t->n_img) {
            ue_status st = eval_image(c, t->img[k++].img, cancel, stats, err);
            if (st != UE_OK) return st;
            i += c->pr.n_soft;
        }
    }
    return UE_OK;
}

/* How many leading positions of the context equal target's: the same token ids, and at
 * soft positions the same image. */
static size_t common_prefix(const chat_conv *c, const chat_tokens *target) {
    const int32_t *cur = ue_session_tokens(c->s);
    size_t n_past = ue_session_n_past(c->s), same = 0, k = 0, j = 0;
    while (same < n_past && same < target->n) {
        if (k < target->n_img && target->img[k].pos == same) {
            while (j < c->n_ctx_img && c->ctx_img[j].pos < same) j++;
            if (j == c->n_ctx_img || c->ctx_img[j].pos != same ||
                c->ctx_img[j].img != target->img[k].img || same + c->pr.n_soft > n_past)
                break;
            same += c->pr.n_soft;
            k++;
            continue;
        }
        if (target->v[same] < 0 || cur[same] != target->v[same]) break;
        same++;
    }
    return same;
}

/* Makes the context hold exactly target: keeps the common prefix, evaluates the rest.
 * At least the last position is evaluated, so the logits are fresh. On an interruption
 * the context holds a prefix of target. */
static ue_status sync_to(chat_conv *c, const chat_tokens *target, volatile int *cancel,
                         chat_turn_stats *stats, ue_error *err) {
    size_t same = common_prefix(c, target);
    if (target->n > 0 && same >= target->n) same = target->n - 1;
    /* An image is evaluated whole or not at all. */
    for (size_t k = 0; k < target->n_img; k++)
        if (target->img[k].pos < same && same < target->img[k].pos + c->pr.n_soft)
            same = target->img[k].pos;
    ue_status st = ctx_rewind(c, same, err);
    if (st != UE_OK) return st;
    return eval_tokens(c, target, same, cancel, stats, err);
}

/* Chooses how many of the oldest messages to drop (k even, at most max_k) so that the
 * render of system + msgs[k..n) (+ extra, + extra_tokens more positions) leaves room for
 * the answer; fills *target with its tokens. Without room for the whole reserve, the
 * fewest drops that leave any room at all. */
static ue_status fit_target(chat_conv *c, const char *system, const chat_message *msgs,
                            size_t n, const chat_message *extra, int add_gen,
                            size_t extra_tokens, size_t max_k, const char *what,
                            chat_tokens *target, size_t *k_out, ue_error *err) {
    size_t n_ctx = ue_session_n_ctx(c->s), reserve = answer_reserve(c);
    size_t fallback_k = SIZE_MAX, smallest = SIZE_MAX;
    for (size_t k = 0; k <= max_k && k <= n; k += 2) {
        chat_tokens t;
        ue_status st = render(c, system, msgs + k, n - k, extra, add_gen, NULL, &t, err);
        if (st != UE_OK) return st;
        size_t total = t.n + extra_tokens;
        if (total < smallest) smallest = total;
        if (total + reserve <= n_ctx) {
            *target = t;
            *k_out = k;
            return UE_OK;
        }
        chat_tokens_free(&t);
        if (total + 1 <= n_ctx && fallback_k == SIZE_MAX) fallback_k = k;
    }
    if (fallback_k != SIZE_MAX) {
        *k_out = fallback_k;
        return render(c, system, msgs + fallback_k, n - fallback_k, extra, add_gen, NULL, target,
                      err);
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
    c->pr = (chat_prompter){e, (size_t)ue_engine_image_tokens(e)};
    c->set = *settings;
    c->answer_start = SIZE_MAX;
    c->eot = ue_token_lookup(e, "<end_of_turn>");
    chat_tokens nl = {0};
    ue_status st = c->eot < 0 ? ue_fail(err, UE_ERR_UNSUPPORTED,
                                        "the model has no <end_of_turn> token: chat needs a "
                                        "Gemma 3 instruct vocabulary")
                              : chat_prompt_tokens(&c->pr, "\n", NULL, 0, &nl, err);
    if (st == UE_OK && nl.n != 1)
        st = ue_fail(err, UE_ERR_UNSUPPORTED, "\"\\n\" is %zu tokens, expected 1", nl.n);
    if (st != UE_OK) {
        chat_tokens_free(&nl);
        free(c);
        return st;
    }
    c->nl = nl.v[0];
    chat_tokens_free(&nl);
    *out = c;
    return UE_OK;
}

void chat_conv_destroy(chat_conv *c) {
    if (!c) return;
    free_msgs(c->msgs, c->n_msgs);
    free_images(c->pending, c->n_pending);
    for (size_t i = 0; i < c->n_ctx_img; i++) chat_image_unref(c->ctx_img[i].img);
    free(c->ctx_img);
    free(c->system);
    free(c);
}

chat_settings *chat_conv_settings(chat_conv *c) { return &c->set; }

void chat_conv_set_seed(chat_conv *c, uint64_t seed) {
    c->set.sp.seed = seed;
    c->n_answers = 0;
}

const char *chat_conv_system(const chat_conv *c) { return c->system; }

const chat_message *chat_conv_messages(const chat_conv *c, size_t *n) {
    *n = c->n_msgs;
    return c->msgs;
}

void chat_conv_prefill_counts(const chat_conv *c, size_t *incremental, size_t *full) {
    *incremental = c->n_incremental;
    *full = c->n_full;
}

ue_status chat_conv_attach(chat_conv *c, chat_image *img, ue_error *err) {
    if (!ue_engine_has_vision(c->e) || c->pr.n_soft == 0) {
        chat_image_unref(img);
        return ue_fail(err, UE_ERR_ARGUMENT, "the model has no vision weights: give --mmproj FILE");
    }
    chat_image **bigger = realloc(c->pending, (c->n_pending + 1) * sizeof *bigger);
    if (!bigger) {
        chat_image_unref(img);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory attaching an image");
    }
    c->pending = bigger;
    c->pending[c->n_pending++] = img;
    return UE_OK;
}

chat_image *const *chat_conv_pending(const chat_conv *c, size_t *n) {
    *n = c->n_pending;
    return c->pending;
}

void chat_conv_clear(chat_conv *c) {
    free_msgs(c->msgs, c->n_msgs);
    c->msgs = NULL;
    c->n_msgs = c->cap_msgs = 0;
    free_images(c->pending, c->n_pending);
    c->pending = NULL;
    c->n_pending = 0;
    ctx_rewind(c, 0, NULL);
    c->dirty = 0;
    c->answer_start = SIZE_MAX;
}

/* ---- prompts ---------------------------------------------------------------------- */

static int ends_with(const chat_tokens *big, const chat_tokens *tail) {
    return big->n >= tail->n &&
           memcmp(big->v + big->n - tail->n, tail->v, tail->n * sizeof *tail->v) == 0;
}

/* The tokens of a new user turn (msg) after the current context: a bridge that closes the
 * previous answer ("<end_of_turn>\n", or what is missing of it) and the rendered turn.
 * *usable is 0 when a full render does not end with exactly these tokens (the caller
 * then re-syncs from the full render). *keep: the context length to continue from (an
 * answer that ended on <eos> instead of <end_of_turn> loses that token). */
static ue_status incremental_tokens(chat_conv *c, const chat_message *msg, chat_tokens *out,
                                    size_t *keep, int *usable, ue_error *err) {
    *usable = 0;
    *out = (chat_tokens){0};
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
    chat_tokens prev_t = {0}, full_t = {0}, turn = {0};
    ue_status st = render(c, c->system, c->msgs, c->n_msgs, NULL, 0, &prev, &prev_t, err);
    if (st == UE_OK) st = render(c, c->system, c->msgs, c->n_msgs, msg, 1, &full, &full_t, err);
    size_t prev_len = prev ? strlen(prev) : 0;
    if (st == UE_OK && strncmp(full, prev, prev_len) == 0) {
        st = chat_prompt_tokens(&c->pr, full + prev_len, msg->images, msg->n_images, &turn, err);
        /* The full render must end with "<end_of_turn>\n" + exactly the turn's tokens. */
        if (st == UE_OK && ends_with(&full_t, &turn) && full_t.n >= turn.n + 2 &&
            full_t.v[full_t.n - turn.n - 2] == c->eot && full_t.v[full_t.n - turn.n - 1] == c->nl) {
            st = chat_tokens_append(out, closing + 2 - n_bridge, n_bridge, err);
            if (st == UE_OK) st = chat_tokens_append(out, turn.v, turn.n, err);
            if (st == UE_OK && turn.n_img) {
                if (!(out->img = malloc(turn.n_img * sizeof *out->img)))
                    st = ue_fail(err, UE_ERR_NOMEM, "out of memory for the prompt");
                for (size_t k = 0; st == UE_OK && k < turn.n_img; k++)
                    out->img[out->n_img++] = (chat_image_at){turn.img[k].pos + n_bridge,
                                                             turn.img[k].img};
            }
            if (st == UE_OK) *usable = 1;
            else chat_tokens_free(out);
        }
    }
    free(prev);
    free(full);
    chat_tokens_free(&prev_t);
    chat_tokens_free(&full_t);
    chat_tokens_free(&turn);
    return st;
}

/* Re-syncs the context to the full render of the conversation plus msg (a new user
 * message; NULL: the conversation already ends with the user message to answer),
 * dropping the oldest turns first when allowed and needed. */
static ue_status full_prompt(chat_conv *c, const chat_message *msg, volatile int *cancel,
                             chat_turn_stats *stats, ue_error *err) {
    size_t max_k = 0;
    if (c->set.drop_oldest) max_k = msg ? c->n_msgs : (c->n_msgs ? c->n_msgs - 1 : 0);
    chat_tokens target;
    size_t k = 0;
    ue_status st = fit_target(c, c->system, c->msgs, c->n_msgs, msg, 1, 0, max_k,
                              "the conversation with this message", &target, &k, err);
    if (st != UE_OK) return st;
    st = sync_to(c, &target, cancel, stats, err);
    chat_tokens_free(&target);
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
static ue_status prompt_for(chat_conv *c, const chat_message *msg, volatile int *cancel,
                            chat_turn_stats *stats, ue_error *err) {
    size_t n_past = ue_session_n_past(c->s), n_ctx = ue_session_n_ctx(c->s);
    if (c->dirty || n_past == 0 || c->n_msgs == 0) return full_prompt(c, msg, cancel, stats, err);
    chat_tokens t;
    size_t keep;
    int usable;
    ue_status st = incremental_tokens(c, msg, &t, &keep, &usable, err);
    if (st != UE_OK) return st;
    if (!usable) return full_prompt(c, msg, cancel, stats, err);
    if (keep + t.n + answer_reserve(c) > n_ctx) {
        chat_tokens_free(&t);
        if (c->set.drop_oldest) return full_prompt(c, msg, cancel, stats, err);
        return ue_fail(err, UE_ERR_CONTEXT_FULL,
                       "context full: %zu of %zu tokens are used and this message needs %zu "
                       "more; /clear starts over, or run with --drop-oldest to drop the oldest "
                       "turns automatically",
                       n_past, n_ctx, t.n + (n_past - keep) + 1);
    }
    st = ctx_rewind(c, keep, err);
    if (st == UE_OK) st = eval_tokens(c, &t, 0, cancel, stats, err);
    chat_tokens_free(&t);
    if (st != UE_OK) {
        /* Back to where the turn started: the previous answer stays open as it was. */
        if (ctx_rewind(c, keep, NULL) != UE_OK) c->dirty = 1;
        return st;
    }
    c->n_incremental++;
    return UE_OK;
}

/* ---- answers ---------------------------------------------------------------------- */

/* The context is full mid-answer: drops the oldest turns and re-reads the rest with the
 * partial answer after it. Returns UE_OK with *dropped 0 when nothing can be dropped. */
static ue_status drop_during_answer(chat_conv *c, chat_tokens *answer, volatile int *cancel,
                                    chat_turn_stats *stats, size_t *dropped, ue_error *err) {
    *dropped = 0;
    if (c->n_msgs < 3) return UE_OK; /* only the current user message is left */
    size_t n_past = ue_session_n_past(c->s);
    chat_tokens_free(answer);
    ue_status st = chat_tokens_append(answer, ue_session_tokens(c->s) + c->answer_start,
                                      n_past - c->answer_start, err);
    if (st != UE_OK) return st;

    /* At least one pair goes: that is why we are here. */
    chat_tokens target;
    size_t k = 0;
    st = fit_target(c, c->system, c->msgs + 2, c->n_msgs - 2, NULL, 1, answer->n, c->n_msgs - 3,
                    "the answer", &target, &k, err);
    if (st == UE_ERR_CONTEXT_FULL) return UE_OK;
    if (st != UE_OK) return st;
    k += 2;
    size_t prefix_n = target.n;
    st = chat_tokens_append(&target, answer->v, answer->n, err);
    if (st != UE_OK) {
        chat_tokens_free(&target);
        return st;
    }
    st = sync_to(c, &target, cancel, stats, err);
    chat_tokens_free(&target);
    drop_msgs(c, k);
    stats->n_dropped += k;
    *dropped = k;
    c->answer_start = prefix_n;
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

    chat_tokens saved = {0}; /* the answer so far, when the context had to be re-read */
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
    chat_tokens_free(&saved);
    if (!content) {
        c->dirty = 1;
        return ue_fail(err, UE_ERR_NOMEM, "out of memory storing the answer");
    }
    ue_status pst = push_msg(c, ROLE_MODEL, content, NULL, 0, err);
    if (pst != UE_OK) c->dirty = 1;
    return st != UE_OK ? st : pst;
}

ue_status chat_conv_say(chat_conv *c, const char *text, app_emit_fn emit, void *user,
                        volatile int *cancel, chat_turn_stats *stats, ue_error *err) {
    char *copy = strdup(text);
    if (!copy) return ue_fail(err, UE_ERR_NOMEM, "out of memory storing the message");
    chat_message msg = {ROLE_USER, text, c->pending, c->n_pending};
    ue_status st = prompt_for(c, &msg, cancel, stats, err);
    if (st != UE_OK) {
        free(copy);
        return st;
    }
    /* The pending images go with the message now. */
    chat_image **imgs = c->pending;
    size_t n_imgs = c->n_pending;
    c->pending = NULL;
    c->n_pending = 0;
    st = push_msg(c, ROLE_USER, copy, imgs, n_imgs, err);
    if (st != UE_OK) {
        c->dirty = 1;
        return st;
    }
    return answer(c, emit, user, cancel, stats, err);
}

ue_status chat_conv_regen(chat_conv *c, app_emit_fn emit, void *user, volatile int *cancel,
                          chat_turn_stats *stats, ue_error *err) {
    if (c->n_msgs == 0 || c->msgs[c->n_msgs - 1].role != ROLE_MODEL)
        return ue_fail(err, UE_ERR_ARGUMENT, "there is no answer to regenerate yet");
    chat_message last = c->msgs[--c->n_msgs];
    ue_status st;
    size_t start = c->answer_start;
    const int32_t *cur = ue_session_tokens(c->s);
    if (!c->dirty && start != SIZE_MAX && start > 0 && start <= ue_session_n_past(c->s) &&
        cur[start - 1] >= 0) {
        /* The prompt is still in the context: re-read its last token for fresh logits. */
        int32_t tail = cur[start - 1];
        chat_tokens t = {&tail, 1, NULL, 0};
        st = ctx_rewind(c, start - 1, err);
        if (st == UE_OK) st = eval_tokens(c, &t, 0, cancel, stats, err);
        if (st != UE_OK) c->dirty = 1;
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

/* Checks roles and images of a conversation given to chat_conv_replace. */
static ue_status check_conversation(const chat_conv *c, const chat_message *msgs, size_t n,
                                    ue_error *err) {
    ue_status st = UE_OK;
    for (size_t i = 0; st == UE_OK && i < n; i++) {
        int is_user = strcmp(msgs[i].role, "user") == 0;
        int is_model = strcmp(msgs[i].role, "assistant") == 0 || strcmp(msgs[i].role, "model") == 0;
        if ((i % 2 == 0 && !is_user) || (i % 2 == 1 && !is_model))
            st = ue_fail(err, UE_ERR_FORMAT,
                         "message %zu has role \"%.32s\", expected %s (roles alternate user, "
                         "assistant, starting with user)",
                         i, msgs[i].role, i % 2 == 0 ? "user" : "assistant");
        else if (msgs[i].n_images && !is_user)
            st = ue_fail(err, UE_ERR_FORMAT, "message %zu: only user messages carry images", i);
        else if (msgs[i].n_images && c->pr.n_soft == 0)
            st = ue_fail(err, UE_ERR_ARGUMENT,
                         "message %zu has images: they need the vision projector, give "
                         "--mmproj FILE", i);
    }
    if (st == UE_OK && n % 2 != 0)
        st = ue_fail(err, UE_ERR_FORMAT,
                     "the conversation ends with a user message; it must end with an answer");
    return st;
}

ue_status chat_conv_replace(chat_conv *c, const char *system, const chat_message *msgs,
                            size_t n, volatile int *cancel, chat_turn_stats *stats,
                            ue_error *err) {
    if (system && !*system) system = NULL;
    ue_status st = check_conversation(c, msgs, n, err);
    if (st != UE_OK) return st;
    /* Copy first so that a failure leaves everything as it was. */
    chat_message *copy = calloc(n ? n : 1, sizeof *copy);
    char *sys_copy = system ? strdup(system) : NULL;
    int failed = !copy || (system && !sys_copy);
    for (size_t i = 0; i < n && !failed; i++) {
        copy[i].role = i % 2 == 0 ? ROLE_USER : ROLE_MODEL;
        copy[i].content = strdup(msgs[i].content);
        failed = !copy[i].content;
        if (failed || !msgs[i].n_images) continue;
        chat_image **imgs = malloc(msgs[i].n_images * sizeof *imgs);
        if (!(failed = !imgs)) {
            for (size_t j = 0; j < msgs[i].n_images; j++) imgs[j] = chat_image_ref(msgs[i].images[j]);
            copy[i].images = imgs;
            copy[i].n_images = msgs[i].n_images;
        }
    }
    if (failed) st = ue_fail(err, UE_ERR_NOMEM, "out of memory copying the conversation");
    chat_tokens target = {0};
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
        chat_tokens_free(&target);
        return ctx_rewind(c, 0, err);
    }
    st = sync_to(c, &target, cancel, stats, err);
    if (st == UE_OK) {
        /* Where the last answer starts, for /regen: after the render up to its opener. */
        chat_tokens upto;
        if (render(c, c->system, c->msgs, c->n_msgs - 1, NULL, 1, NULL, &upto, NULL) == UE_OK) {
            if (upto.n < target.n && memcmp(upto.v, target.v, upto.n * sizeof *upto.v) == 0)
                c->answer_start = upto.n;
            chat_tokens_free(&upto);
        }
    } else {
        c->dirty = 1;
    }
    chat_tokens_free(&target);
    return st;
}
