/* Image input through the public API: loading the vision weights beside the text model
 * (placing the encoder on the engine's device when it runs every encoder op, else on an own
 * CPU backend), encoding one image into soft-token embeddings, and evaluating a prompt
 * whose "<start_of_image>" markers stand for images, laid out as Gemma 3's processor does
 * (gemma3.md 2.5 and, with pan-and-scan, 2.7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/engine_internal.h"
#include "backend/cpu/cpu_backend.h"
#include "model/image.h"

#define BOI "<start_of_image>"
#define EOI "<end_of_image>"
#define SEQ "\n\n" BOI EOI "\n\n" /* the soft tokens go between BOI and EOI */

static const char NO_VISION[] =
    "the model has no vision weights: give the projector (the mmproj GGUF file made for this "
    "model, e.g. mmproj-model-f16.gguf) with --mmproj FILE (ue_engine_params.mmproj_path)";

ue_status ue_engine_vision_init(ue_engine *e, const ue_engine_params *p, ue_error *err) {
    const ue_gguf *g = e->gguf;
    const char *path = p->model_path;
    ue_status st;
    if (p->mmproj_path && *p->mmproj_path) {
        path = p->mmproj_path;
        if ((st = ue_gguf_open(path, &e->vision_gguf, err)) != UE_OK) return st;
        g = e->vision_gguf;
    } else if (!ue_siglip_in_gguf(g)) {
        return UE_OK; /* a text-only model */
    }
    snprintf(e->vision_file, sizeof e->vision_file, "%s", path);
    e->vision_be = e->be;
    if (!ue_siglip_backend_ok(e->be)) {
        if ((st = ue_cpu_backend_create(p->n_threads, UE_CPU_KERNELS_FAST, &e->vision_be, err)))
            return st;
    }
    st = ue_siglip_load(g, e->vision_be, e->model->hp.n_embd, &e->vision, err);
    if (st != UE_OK) {
        ue_error_prefix(err, "%s", path);
        ue_engine_vision_free(e);
        return st;
    }
    return UE_OK;
}

void ue_engine_vision_free(ue_engine *e) {
    ue_siglip_destroy(e->vision);
    e->vision = NULL;
    if (e->vision_be && e->vision_be != e->be) e->vision_be->ops->destroy(e->vision_be);
    e->vision_be = NULL;
    ue_gguf_close(e->vision_gguf);
    e->vision_gguf = NULL;
}

int ue_engine_has_vision(const ue_engine *e) { return e && e->vision != NULL; }

int ue_engine_image_tokens(const ue_engine *e) {
    return e && e->vision ? e->vision->hp.n_tokens : 0;
}

ue_status ue_engine_encode_image(ue_engine *e, const ue_image *img, float *out, ue_error *err) {
    if (!e || !img || !out) return ue_fail(err, UE_ERR_ARGUMENT, "no engine, image or output given");
    if (!e->vision) return ue_fail(err, UE_ERR_ARGUMENT, "%s", NO_VISION);
    const ue_siglip_hparams *hp = &e->vision->hp;
    size_t n = 3 * (size_t)hp->image_size * (size_t)hp->image_size;
    float *pixels = malloc(n * sizeof(float));
    if (!pixels) return ue_fail(err, UE_ERR_NOMEM, "out of memory for image pixels");
    ue_status st = ue_image_preprocess(img, hp->image_size, hp->mean, hp->std, pixels, err);
    if (st == UE_OK) st = ue_siglip_encode(e->vision, pixels, out, err);
    free(pixels);
    return st;
}

/* ---- prompts with images ---- */

/* The images in prompt order: each image, then (pan-and-scan) its crops. */
typedef struct units {
    const ue_image **img;
    ue_image **owned; /* crops */
    size_t n, n_owned;
} units;

static void units_free(units *u) {
    for (size_t i = 0; i < u->n_owned; i++) ue_image_destroy(u->owned[i]);
    free(u->owned);
    free(u->img);
}

/* Growing text buffer. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* Replaces the k-th marker by the image's sequence (and its crops' with pan_scan). */
static ue_status expand(const char *text, size_t len, const ue_image *const *images,
                        size_t n_images, int pan_scan, sbuf *out, units *u, ue_error *err) {
    size_t cap = n_images * (1 + UE_PAN_SCAN_MAX_CROPS);
    u->img = calloc(cap ? cap : 1, sizeof *u->img);
    u->owned = calloc(cap ? cap : 1, sizeof *u->owned);
    if (!u->img || !u->owned) return ue_fail(err, UE_ERR_NOMEM, "out of memory building a prompt");
    size_t k = 0, i = 0, mlen = strlen(BOI);
    while (i < len) {
        const char *hit = i + mlen <= len ? memmem(text + i, len - i, BOI, mlen) : NULL;
        size_t stop = hit ? (size_t)(hit - text) : len;
        sb_put(out, text + i, stop - i);
        if (!hit) break;
        i = stop + mlen;
        if (k >= n_images)
            return ue_fail(err, UE_ERR_ARGUMENT,
                           "the prompt has more " BOI " markers than the %zu image(s) given", n_images);
        const ue_image *img = images[k++];
        if (!img) return ue_fail(err, UE_ERR_ARGUMENT, "image %zu is NULL", k - 1);
        u->img[u->n++] = img;
        int x[UE_PAN_SCAN_MAX_CROPS], y[UE_PAN_SCAN_MAX_CROPS], w[UE_PAN_SCAN_MAX_CROPS],
            h[UE_PAN_SCAN_MAX_CROPS];
        int n_crops = pan_scan ? ue_image_pan_scan(img->width, img->height, x, y, w, h) : 0;
        if (!n_crops) {
            sb_str(out, SEQ);
            continue;
        }
        sb_str(out, "Here is the original image " SEQ " and here are some crops to help you see better ");
        for (int c = 0; c < n_crops; c++) {
            ue_image *crop;
            ue_status st = ue_image_crop(img, x[c], y[c], w[c], h[c], &crop, err);
            if (st != UE_OK) return st;
            u->owned[u->n_owned++] = crop;
            u->img[u->n++] = crop;
            if (c) sb_str(out, " ");
            sb_str(out, SEQ);
        }
    }
    if (k != n_images)
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "%zu image(s) given but the prompt has %zu " BOI " marker(s)", n_images, k);
    if (out->oom) return ue_fail(err, UE_ERR_NOMEM, "out of memory building a prompt");
    return UE_OK;
}

ue_status ue_session_eval_prompt(ue_session *s, const char *text, size_t len, int add_bos,
                                 const ue_image *const *images, size_t n_images, int pan_scan,
                                 const ue_eval_options *opt, ue_error *err) {
    if (!s || (!text && len)) return ue_fail(err, UE_ERR_ARGUMENT, "no session or text given");
    ue_engine *e = ue_session_engine(s);
    if (n_images && !e->vision) return ue_fail(err, UE_ERR_ARGUMENT, "%s", NO_VISION);
    int32_t boi = ue_token_lookup(e, BOI);
    if (n_images && boi < 0)
        return ue_fail(err, UE_ERR_UNSUPPORTED, "the model's vocabulary has no " BOI " token");
    sbuf t = {0};
    units u = {0};
    int32_t *toks = NULL;
    float *embd = NULL;
    ue_status st = expand(text ? text : "", len, images, n_images, pan_scan, &t, &u, err);
    if (st != UE_OK) goto done;
    size_t n_tok = 0;
    const char *str = t.p ? t.p : "";
    if ((st = ue_tokenize(e, str, t.len, add_bos, 1, NULL, 0, &n_tok, err))) goto done;
    toks = malloc((n_tok ? n_tok : 1) * sizeof *toks);
    if (!toks) {
        st = ue_fail(err, UE_ERR_NOMEM, "out of memory tokenizing a prompt");
        goto done;
    }
    if ((st = ue_tokenize(e, str, t.len, add_bos, 1, toks, n_tok, &n_tok, err))) goto done;
    size_t n_boi = 0;
    for (size_t i = 0; i < n_tok; i++) n_boi += toks[i] == boi;
    if (n_images && n_boi != u.n) {
        st = ue_fail(err, UE_ERR_ARGUMENT,
                     "the prompt holds %zu " BOI " tokens for %zu images and crops (a literal "
                     BOI " in the text?)", n_boi, u.n);
        goto done;
    }
    if (u.n) {
        size_t per = (size_t)e->vision->hp.n_tokens * (size_t)e->vision->hp.proj_dim;
        if (!(embd = malloc(per * sizeof(float)))) {
            st = ue_fail(err, UE_ERR_NOMEM, "out of memory for image embeddings");
            goto done;
        }
    }
    size_t start = 0, unit = 0;
    for (size_t i = 0; i < n_tok; i++) {
        if (!u.n || toks[i] != boi) continue;
        if ((st = ue_session_eval(s, toks + start, i + 1 - start, opt, err))) goto done;
        start = i + 1;
        if ((st = ue_engine_encode_image(e, u.img[unit], embd, err))) {
            ue_error_prefix(err, "image %zu", unit);
            goto done;
        }
        unit++;
        if ((st = ue_session_eval_embeddings(s, embd, (size_t)e->vision->hp.n_tokens, opt, err)))
            goto done;
    }
    st = ue_session_eval(s, toks + start, n_tok - start, opt, err);
done:
    free(embd);
    free(toks);
    free(t.p);
    units_free(&u);
    return st;
}
