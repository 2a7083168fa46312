/* Chat prompt tokens with images (see chat_prompt.h). The expansion mirrors
 * src/api/vision.c's: the markers are replaced in the rendered text, the text is
 * tokenized as a whole, and the soft positions follow each "<start_of_image>" token. */
#include "app/chat_prompt.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define IMAGE_SEQ "\n\n" CHAT_IMAGE_MARKER "<end_of_image>\n\n"
#define PLAIN_MARKER "<start_of_image >" /* a marker typed in a text: tokenized as text */

void chat_tokens_free(chat_tokens *t) {
    free(t->v);
    free(t->img);
    *t = (chat_tokens){0};
}

ue_status chat_tokens_append(chat_tokens *t, const int32_t *v, size_t n, ue_error *err) {
    int32_t *bigger = realloc(t->v, (t->n + n + 1) * sizeof *bigger);
    if (!bigger) return ue_fail(err, UE_ERR_NOMEM, "out of memory for %zu prompt tokens", t->n + n);
    t->v = bigger;
    if (n) memcpy(t->v + t->n, v, n * sizeof *v);
    t->n += n;
    return UE_OK;
}

static ue_status tokenize(ue_engine *e, const char *text, int32_t **out, size_t *n_out,
                          ue_error *err) {
    size_t len = strlen(text), need = 0;
    *out = NULL;
    *n_out = 0;
    ue_status st = ue_tokenize(e, text, len, 0, 1, NULL, 0, &need, err);
    if (st != UE_OK) return st;
    int32_t *v = malloc((need ? need : 1) * sizeof *v);
    if (!v) return ue_fail(err, UE_ERR_NOMEM, "out of memory tokenizing %zu bytes", len);
    st = ue_tokenize(e, text, len, 0, 1, v, need, n_out, err);
    if (st != UE_OK) {
        free(v);
        *n_out = 0;
        return st;
    }
    *out = v;
    return UE_OK;
}

static size_t count_markers(const char *text) {
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, CHAT_IMAGE_MARKER)) != NULL; p++) n++;
    return n;
}

/* text with every marker replaced by seq; malloc'd. */
static char *replace_markers(const char *text, size_t n_markers, const char *seq) {
    size_t mlen = strlen(CHAT_IMAGE_MARKER), slen = strlen(seq);
    char *out = malloc(strlen(text) + n_markers * slen + 1);
    if (!out) return NULL;
    char *o = out;
    for (const char *p = text;;) {
        const char *hit = strstr(p, CHAT_IMAGE_MARKER);
        size_t keep = hit ? (size_t)(hit - p) : strlen(p);
        memcpy(o, p, keep);
        o += keep;
        if (!hit) break;
        memcpy(o, seq, slen);
        o += slen;
        p = hit + mlen;
    }
    *o = '\0';
    return out;
}

ue_status chat_prompt_tokens(const chat_prompter *p, const char *text, chat_image *const *imgs,
                             size_t n_imgs, chat_tokens *out, ue_error *err) {
    *out = (chat_tokens){0};
    if (n_imgs == 0) return tokenize(p->e, text, &out->v, &out->n, err);
    size_t n_markers = count_markers(text);
    if (n_markers != n_imgs)
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "the prompt has %zu " CHAT_IMAGE_MARKER " markers for %zu images",
                       n_markers, n_imgs);
    int32_t boi = ue_token_lookup(p->e, CHAT_IMAGE_MARKER);
    if (boi < 0)
        return ue_fail(err, UE_ERR_UNSUPPORTED,
                       "the model's vocabulary has no " CHAT_IMAGE_MARKER " token");
    char *expanded = replace_markers(text, n_markers, IMAGE_SEQ);
    if (!expanded) return ue_fail(err, UE_ERR_NOMEM, "out of memory building a prompt");
    int32_t *toks = NULL;
    size_t n_tok = 0;
    ue_status st = tokenize(p->e, expanded, &toks, &n_tok, err);
    free(expanded);
    if (st != UE_OK) return st;
    size_t n_boi = 0;
    for (size_t i = 0; i < n_tok; i++) n_boi += toks[i] == boi;
    if (n_boi != n_imgs) {
        free(toks);
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "the prompt holds %zu " CHAT_IMAGE_MARKER " tokens for %zu images",
                       n_boi, n_imgs);
    }
    out->v = malloc((n_tok + n_imgs * p->n_soft) * sizeof *out->v);
    out->img = malloc(n_imgs * sizeof *out->img);
    if (!out->v || !out->img) {
        free(toks);
        chat_tokens_free(out);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory for a prompt with %zu images", n_imgs);
    }
    for (size_t i = 0; i < n_tok; i++) {
        out->v[out->n++] = toks[i];
        if (toks[i] != boi) continue;
        out->img[out->n_img] = (chat_image_at){out->n, imgs[out->n_img]};
        out->n_img++;
        for (size_t k = 0; k < p->n_soft; k++) out->v[out->n++] = -1;
    }
    free(toks);
    return UE_OK;
}

/* A message text as the render gets it with vision on: n_images markers, then the text
 * with any marker it holds itself made plain text ("<start_of_image >"), so that only
 * attached images are images; malloc'd. */
static char *with_markers(const char *text, size_t n_images) {
    size_t mlen = strlen(CHAT_IMAGE_MARKER), n_literal = count_markers(text);
    char *plain = n_literal ? replace_markers(text, n_literal, PLAIN_MARKER) : NULL;
    if (n_literal && !plain) return NULL;
    const char *body = plain ? plain : text;
    char *out = malloc(n_images * mlen + strlen(body) + 1);
    if (out) {
        for (size_t j = 0; j < n_images; j++) memcpy(out + j * mlen, CHAT_IMAGE_MARKER, mlen);
        strcpy(out + n_images * mlen, body);
    }
    free(plain);
    return out;
}

ue_status chat_prompt_render(const chat_prompter *p, const char *system, const chat_message *msgs,
                             size_t n, const chat_message *extra, int add_gen, char **text_out,
                             chat_tokens *out, ue_error *err) {
    *out = (chat_tokens){0};
    if (text_out) *text_out = NULL;
    int has_sys = system && *system && (n > 0 || extra);
    size_t total = n + (has_sys ? 1 : 0) + (extra ? 1 : 0), n_imgs = 0;
    for (size_t i = 0; i < n; i++) n_imgs += msgs[i].n_images;
    if (extra) n_imgs += extra->n_images;
    ue_chat_message *all = calloc(total ? total : 1, sizeof *all);
    char **owned = calloc(total ? total : 1, sizeof *owned); /* contents made here */
    chat_image **imgs = calloc(n_imgs ? n_imgs : 1, sizeof *imgs);
    ue_status st = UE_OK;
    if (!all || !owned || !imgs)
        st = ue_fail(err, UE_ERR_NOMEM, "out of memory rendering the conversation");
    size_t k = 0, m = 0;
    if (st == UE_OK && has_sys) {
        all[k] = (ue_chat_message){"system", system};
        if (p->n_soft && !(all[k].content = owned[k] = with_markers(system, 0)))
            st = ue_fail(err, UE_ERR_NOMEM, "out of memory rendering the conversation");
        k++;
    }
    for (size_t i = 0; st == UE_OK && i < n + (extra ? 1 : 0); i++) {
        const chat_message *msg = i < n ? &msgs[i] : extra;
        all[k] = (ue_chat_message){msg->role, msg->content};
        if (p->n_soft && !(all[k].content = owned[k] = with_markers(msg->content, msg->n_images))) {
            st = ue_fail(err, UE_ERR_NOMEM, "out of memory rendering the conversation");
            break;
        }
        for (size_t j = 0; j < msg->n_images; j++) imgs[m++] = msg->images[j];
        k++;
    }
    char *text = NULL;
    if (st == UE_OK) st = ue_chat_render(all, total, add_gen, &text, err);
    if (st == UE_OK) st = chat_prompt_tokens(p, text, imgs, n_imgs, out, err);
    if (st == UE_OK && text_out) *text_out = text;
    else free(text);
    for (size_t i = 0; owned && i < total; i++) free(owned[i]);
    free(owned);
    free(all);
    free(imgs);
    return st;
}

