/* Vision weights (gemma3.md 4.5): hyper-parameters from clip.vision.* (llama.cpp mmproj,
 * clip.projector_type "gemma3") or gemma3.vision.* (Ollama single file), and every tensor
 * checked for presence, type and exact shape under either naming. Old mmproj files with
 * ffn_up / ffn_down swapped are recognised by shape. Small tensors that are not f32, and
 * the projection (stored [n_embd_vision][proj_dim], i.e. transposed for our matmul), are
 * converted once into one f32 buffer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/siglip.h"

typedef struct names {
    const char *prefix; /* metadata key prefix */
    const char *patch, *pos, *post_ln, *soft_norm, *proj;
    const char *q, *k, *v, *o, *ln1, *ln2, *up, *down;
} names;

static const names NAMES_MMPROJ = {
    "clip.vision.", "v.patch_embd", "v.position_embd", "v.post_ln", "mm.soft_emb_norm",
    "mm.input_projection", "attn_q", "attn_k", "attn_v", "attn_out", "ln1", "ln2", "ffn_up",
    "ffn_down"};
static const names NAMES_OLLAMA = {
    "gemma3.vision.", "v.patch_embedding", "v.position_embedding", "v.post_layernorm",
    "mm.mm_soft_emb_norm", "mm.mm_input_projection", "attn_q", "attn_k", "attn_v",
    "attn_output", "layer_norm1", "layer_norm2", "mlp.fc1", "mlp.fc2"};

/* A tensor to convert to f32 (and maybe transpose) into the converted buffer. */
typedef struct pending {
    ue_tensor *dst;
    const ue_gguf_tensor *src;
    int transpose; /* src [a rows of b] -> dst [b rows of a] */
} pending;

typedef struct loader {
    const ue_gguf *g;
    ue_siglip *m;
    pending *todo;
    size_t n_todo, cap_todo;
} loader;

int ue_siglip_in_gguf(const ue_gguf *g) {
    char arch[32] = "";
    ue_gguf_get_str(g, "general.architecture", 0, arch, sizeof arch, NULL);
    if (!strcmp(arch, "clip")) return 1;
    return ue_gguf_find_tensor(g, "v.patch_embedding.weight") != NULL ||
           ue_gguf_find_tensor(g, "v.patch_embd.weight") != NULL;
}

int ue_siglip_backend_ok(const ue_backend *be) {
    const ue_backend_ops *o = be->ops;
    static const ue_op need[] = {UE_OP_MATMUL, UE_OP_RMS_NORM, UE_OP_ADD, UE_OP_LAYER_NORM,
                                 UE_OP_ADD_BIAS, UE_OP_GELU, UE_OP_ATTENTION_FULL,
                                 UE_OP_AVG_POOL};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!o->supports(be, need[i], UE_TYPE_F32)) return 0;
    return o->matmul && o->rms_norm && o->add && o->layer_norm && o->add_bias && o->gelu &&
           o->attention_full && o->avg_pool;
}

static void shape_str(const ue_gguf_tensor *t, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < t->n_dims && n < (int)cap - 24; d++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    snprintf(buf + n, cap - (size_t)n, "]");
}

/* Finds `name` with GGUF shape [ne0, ne1] (ne1 0: 1-D; trailing dims 1). */
static ue_status find(loader *L, const char *name, int64_t ne0, int64_t ne1,
                      const ue_gguf_tensor **out, ue_error *err) {
    const ue_gguf_tensor *t = ue_gguf_find_tensor(L->g, name);
    if (!t) return ue_fail(err, UE_ERR_FORMAT, "tensor '%s' is missing", name);
    int64_t got1 = t->n_dims >= 2 ? t->ne[1] : 0;
    if (t->ne[0] != ne0 || got1 != ne1 || t->ne[2] != 1 || t->ne[3] != 1) {
        char got[96];
        shape_str(t, got, sizeof got);
        if (ne1)
            return ue_fail(err, UE_ERR_FORMAT, "tensor '%s' has shape %s, expected [%lld, %lld]",
                           name, got, (long long)ne0, (long long)ne1);
        return ue_fail(err, UE_ERR_FORMAT, "tensor '%s' has shape %s, expected [%lld]", name, got,
                       (long long)ne0);
    }
    *out = t;
    return UE_OK;
}

static ue_status queue(loader *L, ue_tensor *dst, const ue_gguf_tensor *t, int transpose,
                       ue_error *err) {
    if (L->n_todo == L->cap_todo) {
        size_t cap = L->cap_todo ? 2 * L->cap_todo : 64;
        pending *p = realloc(L->todo, cap * sizeof *p);
        if (!p) return ue_fail(err, UE_ERR_NOMEM, "out of memory loading vision weights");
        L->todo = p;
        L->cap_todo = cap;
    }
    L->todo[L->n_todo++] = (pending){dst, t, transpose};
    return UE_OK;
}

static ue_status check_type(const ue_gguf_tensor *t, const ue_backend *be, ue_error *err) {
    const ue_type_traits *tr = ue_type_get((uint32_t)t->type);
    if (!tr || !tr->can_compute || !be->ops->supports(be, UE_OP_MATMUL, t->type))
        return ue_fail(err, UE_ERR_UNSUPPORTED, "tensor '%s': type %s is not supported", t->name,
                       tr ? tr->name : "?");
    return UE_OK;
}

/* A matrix used by matmul in place: [n_out rows of n_in]. */
static ue_status bind_matrix(loader *L, const char *name, int64_t n_in, int64_t n_out,
                             ue_tensor *dst, ue_error *err) {
    const ue_gguf_tensor *t;
    ue_status st = find(L, name, n_in, n_out, &t, err);
    if (st == UE_OK) st = check_type(t, L->m->be, err);
    if (st != UE_OK) return st;
    *dst = (ue_tensor){.buf = L->m->weights, .offset = (size_t)t->offset, .type = t->type,
                       .ne = {n_in, n_out}};
    L->m->n_params += t->n_elements;
    return UE_OK;
}

/* A vector or table the element-wise ops read as f32: in place when f32, else converted. */
static ue_status bind_f32(loader *L, const char *name, int64_t ne0, int64_t ne1, ue_tensor *dst,
                          ue_error *err) {
    const ue_gguf_tensor *t;
    ue_status st = find(L, name, ne0, ne1, &t, err);
    if (st == UE_OK) st = check_type(t, L->m->be, err);
    if (st != UE_OK) return st;
    *dst = (ue_tensor){.buf = L->m->weights, .offset = (size_t)t->offset, .type = UE_TYPE_F32,
                       .ne = {ne0, ne1 ? ne1 : 1}};
    L->m->n_params += t->n_elements;
    return t->type == UE_TYPE_F32 ? UE_OK : queue(L, dst, t, 0, err);
}

static ue_status bind_layer(loader *L, const names *nm, int il, ue_error *err) {
    const ue_siglip_hparams *hp = &L->m->hp;
    ue_siglip_layer *ly = &L->m->layers[il];
    char a[96], b[96];
    int64_t d = hp->n_embd, f = hp->n_ff;
    ue_status st;
#define NAME(buf, part, kind) snprintf(buf, sizeof buf, "v.blk.%d.%s.%s", il, part, kind)
    struct { const char *part; ue_tensor *w, *bias; } attn[] = {
        {nm->q, &ly->wq, &ly->bq}, {nm->k, &ly->wk, &ly->bk},
        {nm->v, &ly->wv, &ly->bv}, {nm->o, &ly->wo, &ly->bo}};
    for (int i = 0; i < 4; i++) {
        NAME(a, attn[i].part, "weight");
        NAME(b, attn[i].part, "bias");
        if ((st = bind_matrix(L, a, d, d, attn[i].w, err)) || (st = bind_f32(L, b, d, 0, attn[i].bias, err)))
            return st;
    }
    struct { const char *part; ue_tensor *w, *bias; } ln[] = {
        {nm->ln1, &ly->ln1_w, &ly->ln1_b}, {nm->ln2, &ly->ln2_w, &ly->ln2_b}};
    for (int i = 0; i < 2; i++) {
        NAME(a, ln[i].part, "weight");
        NAME(b, ln[i].part, "bias");
        if ((st = bind_f32(L, a, d, 0, ln[i].w, err)) || (st = bind_f32(L, b, d, 0, ln[i].bias, err)))
            return st;
    }
    /* fc1 takes n_embd inputs. Some old mmproj files name fc1 "ffn_down" and fc2
     * "ffn_up": tell them apart by shape. */
    const char *up = nm->up, *down = nm->down;
    NAME(a, up, "weight");
    const ue_gguf_tensor *t = ue_gguf_find_tensor(L->g, a);
    if (t && t->ne[0] == f && t->n_dims >= 2 && t->ne[1] == d && f != d) {
        up = nm->down;
        down = nm->up;
    }
    NAME(a, up, "weight");
    NAME(b, up, "bias");
    if ((st = bind_matrix(L, a, d, f, &ly->fc1, err)) || (st = bind_f32(L, b, f, 0, &ly->fc1_b, err)))
        return st;
    NAME(a, down, "weight");
    NAME(b, down, "bias");
    if ((st = bind_matrix(L, a, f, d, &ly->fc2, err)) || (st = bind_f32(L, b, d, 0, &ly->fc2_b, err)))
        return st;
#undef NAME
    return UE_OK;
}

static ue_status get_u32_range(const ue_gguf *g, const names *nm, const char *key, int required,
                               uint32_t lo, uint32_t hi, int *out, ue_error *err) {
    char full[96];
    snprintf(full, sizeof full, "%s%s", nm->prefix, key);
    uint32_t v = (uint32_t)*out;
    ue_status st = ue_gguf_get_u32(g, full, required, &v, err);
    if (st != UE_OK) return st;
    if (v < lo || v > hi)
        return ue_fail(err, UE_ERR_FORMAT, "%s is %u, expected %u..%u", full, v, lo, hi);
    *out = (int)v;
    return UE_OK;
}

/* image_mean / image_std: optional arrays of 3 f32. */
static ue_status get_rgb(const ue_gguf *g, const char *key, float out[3], ue_error *err) {
    int64_t i = ue_gguf_find_key(g, key);
    if (i < 0) return UE_OK;
    if (ue_gguf_kv_type(g, (uint64_t)i) != UE_GGUF_ARRAY ||
        ue_gguf_arr_type(g, (uint64_t)i) != UE_GGUF_F32 || ue_gguf_arr_len(g, (uint64_t)i) != 3)
        return ue_fail(err, UE_ERR_FORMAT, "%s: expected an array of 3 f32", key);
    memcpy(out, ue_gguf_arr_data(g, (uint64_t)i), 3 * sizeof(float));
    for (int c = 0; c < 3; c++)
        if (!isfinite(out[c]) || (strstr(key, "std") && !(out[c] > 0.0f)))
            return ue_fail(err, UE_ERR_FORMAT, "%s[%d] is %g, expected a finite%s value", key, c,
                           out[c], strstr(key, "std") ? " positive" : "");
    return UE_OK;
}

static ue_status read_hparams(const ue_gguf *g, const names *nm, int mmproj, int proj_dim_text,
                              ue_siglip_hparams *hp, ue_error *err) {
    ue_status st;
    if (mmproj) {
        char ptype[32] = "";
        if ((st = ue_gguf_get_str(g, "clip.projector_type", 1, ptype, sizeof ptype, err)))
            return st;
        if (strcmp(ptype, "gemma3") != 0)
            return ue_fail(err, UE_ERR_UNSUPPORTED,
                           "clip.projector_type is '%s', expected 'gemma3'", ptype);
        int has_vision = 1;
        if ((st = ue_gguf_get_bool(g, "clip.has_vision_encoder", 0, &has_vision, err))) return st;
        if (!has_vision)
            return ue_fail(err, UE_ERR_UNSUPPORTED, "clip.has_vision_encoder is false");
    }
    hp->pool = 4;
    hp->n_ff = 0;
    if ((st = get_u32_range(g, nm, "image_size", 1, 1, 4096, &hp->image_size, err)) ||
        (st = get_u32_range(g, nm, "patch_size", 1, 1, 256, &hp->patch_size, err)) ||
        (st = get_u32_range(g, nm, "embedding_length", 1, 1, 16384, &hp->n_embd, err)) ||
        (st = get_u32_range(g, nm, "feed_forward_length", 1, 1, 65536, &hp->n_ff, err)) ||
        (st = get_u32_range(g, nm, "block_count", 1, 1, 256, &hp->n_layer, err)) ||
        (st = get_u32_range(g, nm, "attention.head_count", 1, 1, 1024, &hp->n_head, err)))
        return st;
    char key[96];
    snprintf(key, sizeof key, "%sattention.layer_norm_epsilon", nm->prefix);
    hp->eps = 1e-6f;
    if ((st = ue_gguf_get_f32(g, key, mmproj, &hp->eps, err))) return st;
    if (!(hp->eps > 0.0f && hp->eps < 1.0f))
        return ue_fail(err, UE_ERR_FORMAT, "%s is %g, expected in (0, 1)", key, hp->eps);
    if (hp->n_embd % hp->n_head)
        return ue_fail(err, UE_ERR_FORMAT, "%sembedding_length %d is not a multiple of head_count %d",
                       nm->prefix, hp->n_embd, hp->n_head);
    if (hp->image_size % hp->patch_size)
        return ue_fail(err, UE_ERR_FORMAT, "%simage_size %d is not a multiple of patch_size %d",
                       nm->prefix, hp->image_size, hp->patch_size);
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->n_side = hp->image_size / hp->patch_size;
    hp->n_patches = hp->n_side * hp->n_side;
    if (mmproj) {
        if ((st = get_u32_range(g, nm, "projector.scale_factor", 0, 1, 1024, &hp->pool, err)))
            return st;
        hp->proj_dim = 0;
        if ((st = get_u32_range(g, nm, "projection_dim", 1, 1, 65536, &hp->proj_dim, err)))
            return st;
    } else {
        int tokens = 256;
        uint32_t v = 256;
        if ((st = ue_gguf_get_u32(g, "gemma3.mm.tokens_per_image", 0, &v, err))) return st;
        tokens = (int)v;
        int side = (int)lround(sqrt((double)tokens));
        if (tokens < 1 || side * side != tokens || hp->n_side % side)
            return ue_fail(err, UE_ERR_FORMAT,
                           "gemma3.mm.tokens_per_image is %d, expected a square whose side divides %d",
                           tokens, hp->n_side);
        hp->pool = hp->n_side / side;
        hp->proj_dim = proj_dim_text;
    }
    if (hp->n_side % hp->pool)
        return ue_fail(err, UE_ERR_FORMAT, "pooling kernel %d does not divide %d patches per side",
                       hp->pool, hp->n_side);
    hp->n_tok_side = hp->n_side / hp->pool;
    hp->n_tokens = hp->n_tok_side * hp->n_tok_side;
    for (int c = 0; c < 3; c++) hp->mean[c] = hp->std[c] = 0.5f;
    if (mmproj && ((st = get_rgb(g, "clip.vision.image_mean", hp->mean, err)) ||
                   (st = get_rgb(g, "clip.vision.image_std", hp->std, err))))
        return st;
    if (hp->proj_dim != proj_dim_text)
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "the projector makes %d-wide embeddings but the model's n_embd is %d: it "
                       "belongs to another model; use the mmproj file made for this model",
                       hp->proj_dim, proj_dim_text);
    return UE_OK;
}

/* Converts the queued tensors into one f32 buffer and points their views at it. */
static ue_status convert_pending(loader *L, ue_error *err) {
    ue_siglip *m = L->m;
    if (!L->n_todo) return UE_OK;
    size_t total = 0;
    for (size_t i = 0; i < L->n_todo; i++) total += (size_t)L->todo[i].src->n_elements * sizeof(float);
    ue_status st = m->be->ops->buffer_create(m->be, total, &m->converted, err);
    if (st != UE_OK) return st;
    size_t off = 0;
    for (size_t i = 0; i < L->n_todo && st == UE_OK; i++) {
        const pending *p = &L->todo[i];
        const ue_gguf_tensor *t = p->src;
        int64_t rows = (int64_t)(t->n_elements / (uint64_t)t->ne[0]);
        float *tmp = malloc((size_t)t->n_elements * sizeof(float) * (p->transpose ? 2 : 1));
        if (!tmp) return ue_fail(err, UE_ERR_NOMEM, "out of memory converting '%s'", t->name);
        size_t row_bytes = ue_type_row_bytes(t->type, t->ne[0]);
        for (int64_t r = 0; r < rows; r++)
            ue_dequantize_row(t->type, (const char *)t->data + (size_t)r * row_bytes,
                              tmp + (size_t)r * (size_t)t->ne[0], t->ne[0]);
        float *src = tmp;
        if (p->transpose) {
            float *tr = tmp + t->n_elements;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < t->ne[0]; c++)
                    tr[(size_t)c * (size_t)rows + (size_t)r] = tmp[(size_t)r * (size_t)t->ne[0] + (size_t)c];
            src = tr;
        }
        size_t bytes = (size_t)t->n_elements * sizeof(float);
        st = m->be->ops->write(m->be, m->converted, off, src, bytes, err);
        free(tmp);
        p->dst->buf = m->converted;
        p->dst->offset = off;
        p->dst->type = UE_TYPE_F32;
        off += bytes;
    }
    return st;
}

ue_status ue_siglip_load(const ue_gguf *g, ue_backend *be, int proj_dim_text, ue_siglip **out,
                         ue_error *err) {
    *out = NULL;
    char arch[32] = "";
    ue_gguf_get_str(g, "general.architecture", 0, arch, sizeof arch, NULL);
    int mmproj = !strcmp(arch, "clip");
    const names *nm = mmproj ? &NAMES_MMPROJ : &NAMES_OLLAMA;
    if (!mmproj && !ue_gguf_find_tensor(g, "v.patch_embedding.weight"))
        return ue_fail(err, UE_ERR_FORMAT,
                       "no vision weights: general.architecture is '%s' (an mmproj file says "
                       "'clip') and there is no v.patch_embedding.weight", arch);
    if (!ue_siglip_backend_ok(be))
        return ue_fail(err, UE_ERR_UNSUPPORTED, "backend %s lacks the vision encoder's ops",
                       be->name);
    ue_siglip *m = calloc(1, sizeof *m);
    loader L = {.g = g, .m = m};
    if (!m) return ue_fail(err, UE_ERR_NOMEM, "out of memory loading vision weights");
    m->be = be;
    ue_siglip_hparams *hp = &m->hp;
    ue_status st = read_hparams(g, nm, mmproj, proj_dim_text, hp, err);
    if (st != UE_OK) goto fail;

    char name[96];
    snprintf(name, sizeof name, "%s.weight", nm->patch);
    const ue_gguf_tensor *pt = ue_gguf_find_tensor(g, name);
    int64_t p = hp->patch_size, n_in = 3 * p * p;
    if (!pt) {
        st = ue_fail(err, UE_ERR_FORMAT, "tensor '%s' is missing", name);
        goto fail;
    }
    if (pt->ne[0] != p || pt->ne[1] != p || pt->ne[2] != 3 || pt->ne[3] != hp->n_embd) {
        char got[96];
        shape_str(pt, got, sizeof got);
        st = ue_fail(err, UE_ERR_FORMAT, "tensor '%s' has shape %s, expected [%lld, %lld, 3, %d]",
                     name, got, (long long)p, (long long)p, hp->n_embd);
        goto fail;
    }
    if (pt->type != UE_TYPE_F32 && pt->type != UE_TYPE_F16 && pt->type != UE_TYPE_BF16) {
        st = ue_fail(err, UE_ERR_UNSUPPORTED, "tensor '%s': type %s, expected F32, F16 or BF16",
                     name, ue_type_get((uint32_t)pt->type) ? ue_type_get((uint32_t)pt->type)->name : "?");
        goto fail;
    }
    uint64_t data_off = ue_gguf_data_offset(g);
    const char *data = (const char *)pt->data - pt->offset;
    if ((st = be->ops->buffer_from_host(be, data, (size_t)(ue_gguf_file_size(g) - data_off),
                                        &m->weights, err)))
        goto fail;
    m->patch_w = (ue_tensor){.buf = m->weights, .offset = (size_t)pt->offset, .type = pt->type,
                             .ne = {n_in, hp->n_embd}};
    m->n_params += pt->n_elements;

    snprintf(name, sizeof name, "%s.bias", nm->patch);
    if ((st = bind_f32(&L, name, hp->n_embd, 0, &m->patch_b, err))) goto fail;
    snprintf(name, sizeof name, "%s.weight", nm->pos);
    if ((st = bind_f32(&L, name, hp->n_embd, hp->n_patches, &m->pos, err))) goto fail;
    snprintf(name, sizeof name, "%s.weight", nm->post_ln);
    if ((st = bind_f32(&L, name, hp->n_embd, 0, &m->post_w, err))) goto fail;
    snprintf(name, sizeof name, "%s.bias", nm->post_ln);
    if ((st = bind_f32(&L, name, hp->n_embd, 0, &m->post_b, err))) goto fail;
    snprintf(name, sizeof name, "%s.weight", nm->soft_norm);
    if ((st = bind_f32(&L, name, hp->n_embd, 0, &m->soft_norm, err))) goto fail;

    /* The projection: HF stores it [n_embd_vision][proj_dim] (GGUF ne [proj_dim, n_embd]),
     * the transpose of a matmul weight; a file already in [proj_dim][n_embd] order is used
     * in place. */
    snprintf(name, sizeof name, "%s.weight", nm->proj);
    const ue_gguf_tensor *proj = ue_gguf_find_tensor(g, name);
    if (proj && proj->n_dims == 2 && proj->ne[0] == hp->n_embd && proj->ne[1] == hp->proj_dim &&
        hp->n_embd != hp->proj_dim) {
        if ((st = bind_matrix(&L, name, hp->n_embd, hp->proj_dim, &m->proj, err))) goto fail;
    } else {
        const ue_gguf_tensor *t;
        if ((st = find(&L, name, hp->proj_dim, hp->n_embd, &t, err)) ||
            (st = check_type(t, be, err)) || (st = queue(&L, &m->proj, t, 1, err)))
            goto fail;
        m->proj.ne[0] = hp->n_embd;
        m->proj.ne[1] = hp->proj_dim;
        m->n_params += t->n_elements;
    }

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        st = ue_fail(err, UE_ERR_NOMEM, "out of memory loading vision weights");
        goto fail;
    }
    for (int il = 0; il < hp->n_layer; il++)
        if ((st = bind_layer(&L, nm, il, err))) goto fail;
    if ((st = convert_pending(&L, err))) goto fail;
    free(L.todo);
    *out = m;
    return UE_OK;
fail:
    free(L.todo);
    ue_siglip_destroy(m);
    return st;
}

void ue_siglip_destroy(ue_siglip *m) {
    if (!m) return;
    if (m->weights) m->be->ops->buffer_destroy(m->be, m->weights);
    if (m->converted) m->be->ops->buffer_destroy(m->be, m->converted);
    free(m->layers);
    free(m);
}
