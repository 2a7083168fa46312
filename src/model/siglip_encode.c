/* SigLIP forward (gemma3.md 2.2) and the Gemma 3 projector (2.3) for one image, as backend
 * calls: patch embedding (im2col on the host, then a matmul), position embeddings, pre-LN
 * blocks with full bidirectional attention, post-LN, k x k average pooling, the soft-token
 * RMSNorm and the projection to the text width. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/siglip.h"

typedef struct vis_state {
    ue_buffer *buf;
    ue_tensor patches;          /* [n_patches, 3 * p^2] */
    ue_tensor x, xn, q, k, v, attn, o; /* [n_patches, n_embd] */
    ue_tensor ff;               /* [n_patches, n_ff] */
    ue_tensor pooled;           /* [n_tokens, n_embd] */
    ue_tensor out;              /* [n_tokens, proj_dim] */
} vis_state;

static ue_tensor place(size_t *used, int64_t ne0, int64_t ne1) {
    ue_tensor t = {.buf = NULL, .offset = *used, .type = UE_TYPE_F32, .ne = {ne0, ne1}};
    *used += ((size_t)ne0 * (size_t)ne1 * sizeof(float) + 63) & ~(size_t)63;
    return t;
}

static ue_status state_create(const ue_siglip *m, vis_state *s, ue_error *err) {
    const ue_siglip_hparams *hp = &m->hp;
    size_t used = 0;
    int64_t n = hp->n_patches, d = hp->n_embd;
    s->patches = place(&used, 3 * (int64_t)hp->patch_size * hp->patch_size, n);
    ue_tensor *rows[] = {&s->x, &s->xn, &s->q, &s->k, &s->v, &s->attn, &s->o};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) *rows[i] = place(&used, d, n);
    s->ff = place(&used, hp->n_ff, n);
    s->pooled = place(&used, d, hp->n_tokens);
    s->out = place(&used, hp->proj_dim, hp->n_tokens);
    ue_status st = m->be->ops->buffer_create(m->be, used, &s->buf, err);
    if (st != UE_OK) {
        ue_error_prefix(err, "vision encoder scratch");
        return st;
    }
    ue_tensor *all[] = {&s->patches, &s->x, &s->xn, &s->q, &s->k, &s->v, &s->attn,
                        &s->o, &s->ff, &s->pooled, &s->out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) all[i]->buf = s->buf;
    return UE_OK;
}

/* Patch rows: row py * n_side + px holds channel c, offset (ky, kx) at c*p*p + ky*p + kx,
 * the order of the conv weight [n_embd][3][p][p]. */
static void im2col(const ue_siglip_hparams *hp, const float *pixels, float *dst) {
    int p = hp->patch_size, S = hp->image_size, side = hp->n_side;
    size_t plane = (size_t)S * (size_t)S;
    for (int py = 0; py < side; py++)
        for (int px = 0; px < side; px++) {
            float *row = dst + ((size_t)py * side + px) * 3 * (size_t)p * p;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < p; ky++)
                    memcpy(row + ((size_t)c * p + ky) * p,
                           pixels + c * plane + (size_t)(py * p + ky) * S + (size_t)px * p,
                           (size_t)p * sizeof(float));
        }
}

static void block(const ue_siglip *m, vis_state *s, const ue_siglip_layer *L) {
    const ue_siglip_hparams *hp = &m->hp;
    ue_backend *be = m->be;
    const ue_backend_ops *o = be->ops;
    o->layer_norm(be, &s->x, &L->ln1_w, &L->ln1_b, hp->eps, &s->xn);
    o->matmul(be, &L->wq, &s->xn, &s->q);
    o->add_bias(be, &s->q, &L->bq);
    o->matmul(be, &L->wk, &s->xn, &s->k);
    o->add_bias(be, &s->k, &L->bk);
    o->matmul(be, &L->wv, &s->xn, &s->v);
    o->add_bias(be, &s->v, &L->bv);
    o->attention_full(be, &s->q, &s->k, &s->v, &s->attn, hp->n_head, hp->head_dim,
                      1.0f / sqrtf((float)hp->head_dim));
    o->matmul(be, &L->wo, &s->attn, &s->o);
    o->add_bias(be, &s->o, &L->bo);
    o->add(be, &s->x, &s->o);

    o->layer_norm(be, &s->x, &L->ln2_w, &L->ln2_b, hp->eps, &s->xn);
    o->matmul(be, &L->fc1, &s->xn, &s->ff);
    o->add_bias(be, &s->ff, &L->fc1_b);
    o->gelu(be, &s->ff);
    o->matmul(be, &L->fc2, &s->ff, &s->o);
    o->add_bias(be, &s->o, &L->fc2_b);
    o->add(be, &s->x, &s->o);
}

ue_status ue_siglip_encode(const ue_siglip *m, const float *pixels, float *out, ue_error *err) {
    const ue_siglip_hparams *hp = &m->hp;
    ue_backend *be = m->be;
    const ue_backend_ops *o = be->ops;
    vis_state s = {0};
    ue_status st = state_create(m, &s, err);
    if (st != UE_OK) return st;
    size_t patch_bytes = (size_t)s.patches.ne[0] * (size_t)s.patches.ne[1] * sizeof(float);
    float *cols = malloc(patch_bytes);
    if (!cols) {
        st = ue_fail(err, UE_ERR_NOMEM, "out of memory encoding an image");
        goto done;
    }
    im2col(hp, pixels, cols);
    st = o->write(be, s.buf, s.patches.offset, cols, patch_bytes, err);
    free(cols);
    if (st != UE_OK) goto done;

    o->matmul(be, &m->patch_w, &s.patches, &s.x);
    o->add_bias(be, &s.x, &m->patch_b);
    o->add(be, &s.x, &m->pos);
    for (int il = 0; il < hp->n_layer; il++) block(m, &s, &m->layers[il]);
    o->layer_norm(be, &s.x, &m->post_w, &m->post_b, hp->eps, &s.x);

    o->avg_pool(be, &s.x, hp->n_side, hp->pool, &s.pooled);
    o->rms_norm(be, &s.pooled, &m->soft_norm, hp->eps, &s.pooled);
    o->matmul(be, &m->proj, &s.pooled, &s.out);
    if ((st = o->sync(be, err)) != UE_OK) goto done;
    st = o->read(be, s.buf, s.out.offset, out,
                 (size_t)hp->n_tokens * (size_t)hp->proj_dim * sizeof(float), err);
done:
    o->buffer_destroy(be, s.buf);
    return st;
}
