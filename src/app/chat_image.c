/* Chat image attachments (see chat_image.h): decoded on open, encoded once on first use;
 * the pixels are freed after the encode since only the embeddings are needed then. */
#include "app/chat_image.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "app/generate.h"
#include "core/error.h"

struct chat_image {
    int refs;
    char *path;    /* absolute when it could be resolved, else as given */
    ue_image *img; /* NULL once encoded */
    float *embd;   /* [n_tokens, n_embd], NULL until encoded */
};

ue_status chat_image_open(const char *path, chat_image **out, ue_error *err) {
    *out = NULL;
    chat_image *ci = calloc(1, sizeof *ci);
    if (!ci) return ue_fail(err, UE_ERR_NOMEM, "out of memory for image %s", path);
    ue_status st = ue_image_load_file(path, &ci->img, err);
    if (st != UE_OK) {
        free(ci);
        return st;
    }
    char *abs = realpath(path, NULL);
    ci->path = abs ? abs : strdup(path);
    if (!ci->path) {
        ue_image_destroy(ci->img);
        free(ci);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory for image %s", path);
    }
    ci->refs = 1;
    *out = ci;
    return UE_OK;
}

chat_image *chat_image_ref(chat_image *ci) {
    ci->refs++;
    return ci;
}

void chat_image_unref(chat_image *ci) {
    if (!ci || --ci->refs > 0) return;
    ue_image_destroy(ci->img);
    free(ci->embd);
    free(ci->path);
    free(ci);
}

const char *chat_image_path(const chat_image *ci) { return ci->path; }

ue_status chat_image_embeddings(chat_image *ci, ue_engine *e, const float **out, double *seconds,
                                ue_error *err) {
    *seconds = 0;
    if (!ci->embd) {
        size_t n_tok = (size_t)ue_engine_image_tokens(e);
        size_t n_embd = (size_t)ue_engine_model_info(e)->n_embd;
        if (n_tok == 0)
            return ue_fail(err, UE_ERR_ARGUMENT,
                           "%s: images need the vision projector: give --mmproj FILE", ci->path);
        float *embd = malloc(n_tok * n_embd * sizeof *embd);
        if (!embd)
            return ue_fail(err, UE_ERR_NOMEM, "out of memory for the embeddings of %s", ci->path);
        double t0 = app_now_seconds();
        ue_status st = ue_engine_encode_image(e, ci->img, embd, err);
        *seconds = app_now_seconds() - t0;
        if (st != UE_OK) {
            free(embd);
            ue_error_prefix(err, "%s", ci->path);
            return st;
        }
        ci->embd = embd;
        ue_image_destroy(ci->img);
        ci->img = NULL;
    }
    *out = ci->embd;
    return UE_OK;
}
