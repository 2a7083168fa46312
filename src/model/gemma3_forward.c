/* Gemma 3 forward pass (gemma3.md 1.2): embedding, per layer attention with QK-norm and
 * NeoX RoPE (local or global), GELU-tanh gated feed-forward, the four norms, and the tied
 * output. One batch of tokens at a time; keys and values go to the session's cache. */
#include <stdlib.h>
#include <string.h>

#include "model/gemma3.h"

enum { LOGIT_ROWS = 16 }; /* rows of logits computed at once when all are wanted */

struct ue_gemma3_state {
    const ue_gemma3 *model;
    int n_ctx, max_batch;
    ue_buffer *cache;        /* every layer's K and V */
    ue_buffer *scratch;
    ue_tensor *k_cache;      /* [n_layer] of [n_ctx, n_head_kv * head_dim] */
    ue_tensor *v_cache;
    ue_tensor ids;           /* I32 [max_batch] */
    ue_tensor x;             /* [max_batch, n_embd] residual stream */
    ue_tensor xn;            /* [max_batch, n_embd] normed input of a block */
    /* the rest overlap by liveness (plan_scratch) */
    ue_tensor o_attn, o_ffn; /* [max_batch, n_embd] output of the attention / FFN block */
    ue_tensor q, attn;       /* [max_batch, n_head * head_dim] */
    ue_tensor k, v;          /* [max_batch, n_head_kv * head_dim] */
    ue_tensor gate, up;      /* [max_batch, n_ff] */
    ue_buffer *logit_buf;    /* its own buffer: the last position's row */
    ue_tensor logits;        /* [1, n_vocab] */
    ue_buffer *all_buf;      /* LOGIT_ROWS rows, only once all logits are wanted */
    ue_tensor all_logits;    /* [LOGIT_ROWS, n_vocab] */
    float *host_logits;      /* their host copy where the backend's memory is not host's */
    size_t bytes;
};

/* Lays out f32 tensors one after another in one buffer (offsets 64-byte aligned). */
typedef struct layout {
    size_t used;
} layout;

static ue_tensor place(layout *l, ue_type type, int64_t ne0, int64_t ne1) {
    ue_tensor t = {.buf = NULL, .offset = l->used, .type = type, .ne = {ne0, ne1}};
    l->used += (ue_type_row_bytes(type, ne0) * (size_t)ne1 + 63) & ~(size_t)63;
    return t;
}

/* The batch's activations, overlaid by when each is live. ids, x (the residual stream)
 * and xn stay; the rest share one region that holds either block's tensors:
 *   attention: q, k, v one after another; attn over k and v (the attention reads the
 *     cache, which already holds them), or after them where the backend offers
 *     attention_rope (that op reads k and v while it writes attn; for Gemma 3 the
 *     feed-forward tensors reach further anyway); o over q (wo writes it once the
 *     attention has read q);
 *   feed-forward: gate, up; o over up (down writes it once gate holds gelu(gate) * up).
 * Every op still sees its inputs and outputs apart (the Vulkan stream orders the reuse
 * by its range hazards). For the 270M model at 512 tokens this is 10.5 MB instead of
 * 16.8 MB. */
static size_t plan_scratch(ue_gemma3_state *s, const ue_gemma3_hparams *hp) {
    layout l = {0};
    int64_t b = s->max_batch, qd = (int64_t)hp->n_head * hp->head_dim;
    int64_t kvd = (int64_t)hp->n_head_kv * hp->head_dim;
    s->ids = place(&l, UE_TYPE_I32, b, 1);
    s->x = place(&l, UE_TYPE_F32, hp->n_embd, b);
    s->xn = place(&l, UE_TYPE_F32, hp->n_embd, b);
    size_t region = l.used;

    layout a = {region};
    s->q = place(&a, UE_TYPE_F32, qd, b);
    layout after_q = a;
    s->k = place(&a, UE_TYPE_F32, kvd, b);
    s->v = place(&a, UE_TYPE_F32, kvd, b);
    layout kv_end = a;
    if (!s->model->be->ops->attention_rope) a = after_q;
    s->attn = place(&a, UE_TYPE_F32, qd, b);
    if (kv_end.used > a.used) a = kv_end;
    layout o_at = {region};
    if (hp->n_embd > qd) o_at = a; /* o would reach attn: after everything instead */
    s->o_attn = place(&o_at, UE_TYPE_F32, hp->n_embd, b);
    size_t attn_end = a.used > o_at.used ? a.used : o_at.used;

    layout f = {region};
    s->gate = place(&f, UE_TYPE_F32, hp->n_ff, b);
    layout up_at = f;
    s->up = place(&f, UE_TYPE_F32, hp->n_ff, b);
    if (hp->n_embd > hp->n_ff) up_at = f; /* o would outgrow up */
    s->o_ffn = place(&up_at, UE_TYPE_F32, hp->n_embd, b);
    size_t ffn_end = f.used > up_at.used ? f.used : up_at.used;
    return attn_end > ffn_end ? attn_end : ffn_end;
}

/* The CPU backends compute in plain host memory: logits are read where the output matmul
 * wrote them, with no second copy (1 MiB per row for Gemma 3's 262k vocabulary). */
static int host_backend(const ue_backend *be) {
    return be->name && (!strcmp(be->name, "cpu") || !strcmp(be->name, "cpu-ref"));
}

static ue_status create_logits(ue_backend *be, int rows, int n_vocab, ue_buffer **buf,
                               ue_tensor *t, ue_error *err) {
    size_t bytes = (size_t)rows * (size_t)n_vocab * sizeof(float);
    ue_status st = be->ops->buffer_create(be, bytes, buf, err);
    if (st != UE_OK) return st;
    *t = (ue_tensor){.buf = *buf, .offset = 0, .type = UE_TYPE_F32, .ne = {n_vocab, rows}};
    return UE_OK;
}

/* The rows for all-logits evaluation (tests, perplexity) are allocated the first time they
 * are asked for, so a chat session does not carry 16 MB (twice on a GPU) it never uses. */
static ue_status reserve_all_logits(ue_gemma3_state *s, ue_error *err) {
    if (s->all_buf) return UE_OK;
    ue_backend *be = s->model->be;
    int n_vocab = s->model->hp.n_vocab;
    ue_status st = create_logits(be, LOGIT_ROWS, n_vocab, &s->all_buf, &s->all_logits, err);
    if (st != UE_OK || host_backend(be)) return st;
    s->host_logits = malloc((size_t)LOGIT_ROWS * (size_t)n_vocab * sizeof(float));
    if (!s->host_logits) {
        be->ops->buffer_destroy(be, s->all_buf);
        s->all_buf = NULL;
        return ue_fail(err, UE_ERR_NOMEM, "out of memory for %d rows of logits", LOGIT_ROWS);
    }
    return UE_OK;
}

float *ue_gemma3_state_logit_row(ue_gemma3_state *s) {
    return host_backend(s->model->be) ? ue_tensor_host(&s->logits) : NULL;
}

ue_status ue_gemma3_state_create(const ue_gemma3 *m, int n_ctx, int max_batch,
                                 ue_gemma3_state **out, ue_error *err) {
    *out = NULL;
    const ue_gemma3_hparams *hp = &m->hp;
    if (n_ctx < 1 || max_batch < 1)
        return ue_fail(err, UE_ERR_ARGUMENT, "context %d and batch %d must be >= 1", n_ctx,
                       max_batch);
    ue_gemma3_state *s = calloc(1, sizeof *s);
    if (!s) return ue_fail(err, UE_ERR_NOMEM, "out of memory creating a session");
    s->model = m;
    s->n_ctx = n_ctx;
    s->max_batch = max_batch < n_ctx ? max_batch : n_ctx;
    ue_backend *be = m->be;
    ue_status st;

    size_t kvd = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    size_t layer_bytes = (size_t)n_ctx * kvd * sizeof(float);
    size_t cache_bytes = 0;
    if (layer_bytes / kvd / sizeof(float) != (size_t)n_ctx ||
        __builtin_mul_overflow(layer_bytes, (size_t)hp->n_layer * 2, &cache_bytes)) {
        st = ue_fail(err, UE_ERR_ARGUMENT, "a context of %d tokens is too large", n_ctx);
        goto fail;
    }
    s->k_cache = calloc((size_t)hp->n_layer, sizeof *s->k_cache);
    s->v_cache = calloc((size_t)hp->n_layer, sizeof *s->v_cache);
    if (!s->k_cache || !s->v_cache) {
        st = ue_fail(err, UE_ERR_NOMEM, "out of memory creating a session");
        goto fail;
    }
    if ((st = be->ops->buffer_create(be, cache_bytes, &s->cache, err)) != UE_OK) {
        ue_error_prefix(err, "KV cache for %d tokens", n_ctx);
        goto fail;
    }
    for (int il = 0; il < hp->n_layer; il++) {
        ue_tensor kt = {.buf = s->cache, .offset = (size_t)il * 2 * layer_bytes,
                        .type = UE_TYPE_F32, .ne = {(int64_t)kvd, n_ctx}};
        s->k_cache[il] = kt;
        kt.offset += layer_bytes;
        s->v_cache[il] = kt;
    }

    size_t scratch_bytes = plan_scratch(s, hp);
    if ((st = be->ops->buffer_create(be, scratch_bytes, &s->scratch, err)) != UE_OK) goto fail;
    ue_tensor *views[] = {&s->ids, &s->x, &s->xn, &s->o_attn, &s->o_ffn, &s->q,
                          &s->attn, &s->k, &s->v, &s->gate, &s->up};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) views[i]->buf = s->scratch;
    if ((st = create_logits(be, 1, hp->n_vocab, &s->logit_buf, &s->logits, err)) != UE_OK)
        goto fail;
    s->bytes = cache_bytes + scratch_bytes + (size_t)hp->n_vocab * sizeof(float);
    *out = s;
    return UE_OK;
fail:
    ue_gemma3_state_destroy(s);
    return st;
}

void ue_gemma3_state_destroy(ue_gemma3_state *s) {
    if (!s) return;
    ue_backend *be = s->model->be;
    if (s->cache) be->ops->buffer_destroy(be, s->cache);
    if (s->scratch) be->ops->buffer_destroy(be, s->scratch);
    free(s->k_cache);
    free(s->v_cache);
    if (s->logit_buf) be->ops->buffer_destroy(be, s->logit_buf);
    if (s->all_buf) be->ops->buffer_destroy(be, s->all_buf);
    free(s->host_logits);
    free(s);
}

size_t ue_gemma3_state_bytes(const ue_gemma3_state *s) { return s->bytes; }

/* Which fused ops of backend.h the backend offers (each replaces an op sequence below
 * with the same result). With norm_add, xn holds the normed input of the next block when a
 * block starts (the previous block's end computed it). */
typedef struct fusion {
    int norm_add, qk_rope, att_rope;
} fusion;

static fusion fusion_of(const ue_gemma3 *m, const ue_gemma3_state *s) {
    const ue_backend *be = m->be;
    const ue_backend_ops *ops = be->ops;
    ue_type ct = s->k_cache[0].type;
    fusion f = {
        .norm_add = ops->add_rms_norm && ops->supports(be, UE_OP_ADD_RMS_NORM, UE_TYPE_F32),
        .qk_rope = ops->qk_norm_rope && ops->supports(be, UE_OP_QK_NORM_ROPE, ct),
        .att_rope = ops->attention_rope && ops->supports(be, UE_OP_ATTENTION_ROPE, ct),
    };
    return f;
}

/* o = w y and the block end: x += rms_norm(o) * w_post, then (fused norms) xn =
 * rms_norm(x) * w_next; one op where the backend offers matmul_add_rms_norm. */
static void matmul_block_end(const ue_gemma3 *m, const ue_tensor *w, const ue_tensor *y,
                             const ue_tensor *o, const ue_tensor *w_post, const ue_tensor *x,
                             const ue_tensor *w_next, const ue_tensor *xn, const fusion *f) {
    ue_backend *be = m->be;
    const ue_backend_ops *ops = be->ops;
    float eps = m->hp.eps;
    if (f->norm_add && ops->matmul_add_rms_norm &&
        ops->supports(be, UE_OP_MATMUL_ADD_NORM, w->type)) {
        ops->matmul_add_rms_norm(be, w, y, o, w_post, x, w_next, eps, xn);
        return;
    }
    ops->matmul(be, w, y, o);
    if (f->norm_add) {
        ops->add_rms_norm(be, o, w_post, x, w_next, eps, xn);
    } else {
        ops->rms_norm(be, o, w_post, eps, o);
        ops->add(be, x, o);
    }
}

/* A layer's attention kind: sliding window (0: global), RoPE base and position scale. */
typedef struct layer_attn {
    int window;
    float base, freq_scale;
} layer_attn;

static layer_attn layer_attn_of(const ue_gemma3_hparams *hp, const ue_gemma3_layer *L) {
    layer_attn a = {0, hp->rope_base_global, hp->rope_scale_global};
    if (!L->is_global) a = (layer_attn){hp->sliding_window, hp->rope_base_local, 1.0f};
    return a;
}

/* The layer's attention over the batch's n rows: keys and values of every row go to the
 * cache; the attention itself and the block end run for rows [r_out, n) only (r_out > 0 in
 * the last layer, where only the last row, or none, feeds the output). */
static void attention_block(const ue_gemma3 *m, ue_gemma3_state *s, int il, int n,
                            int64_t pos0, int bidirectional, const fusion *f, int r_out) {
    const ue_gemma3_hparams *hp = &m->hp;
    const ue_gemma3_layer *L = &m->layers[il];
    ue_backend *be = m->be;
    const ue_backend_ops *ops = be->ops;
    ue_tensor x = ue_tensor_rows(&s->x, 0, n), xn = ue_tensor_rows(&s->xn, 0, n);
    ue_tensor q = ue_tensor_rows(&s->q, 0, n), k = ue_tensor_rows(&s->k, 0, n);
    ue_tensor v = ue_tensor_rows(&s->v, 0, n);

    if (!f->norm_add) ops->rms_norm(be, &x, &L->attn_norm, hp->eps, &xn);
    if (ops->matmul_qkv && ops->supports(be, UE_OP_MATMUL_QKV, L->wq.type)) {
        ops->matmul_qkv(be, &L->wq, &L->wk, &L->wv, &xn, &q, &k, &v);
    } else {
        ops->matmul(be, &L->wq, &xn, &q);
        ops->matmul(be, &L->wk, &xn, &k);
        ops->matmul(be, &L->wv, &xn, &v);
    }

    layer_attn la = layer_attn_of(hp, L);
    ue_tensor kc = ue_tensor_rows(&s->k_cache[il], pos0, n);
    ue_tensor vc = ue_tensor_rows(&s->v_cache[il], pos0, n);
    int n_out = n - r_out;
    ue_tensor attn = ue_tensor_rows(&s->attn, r_out, n_out);
    ue_attention_args args = {
        .q = ue_tensor_rows(&s->q, r_out, n_out), .k_cache = s->k_cache[il],
        .v_cache = s->v_cache[il], .out = attn,
        .n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .head_dim = hp->head_dim,
        .pos0 = pos0 + r_out, .window = la.window,
        .scale = hp->attn_scale,
        .bidir_begin = pos0, .bidir_end = bidirectional ? pos0 + n : pos0,
    };
    ue_qk_rope_args qa = {.q = q, .k = k, .v = v, .q_norm = L->q_norm, .k_norm = L->k_norm,
                          .k_dst = kc, .v_dst = vc, .head_dim = hp->head_dim, .eps = hp->eps,
                          .pos0 = pos0, .base = la.base, .freq_scale = la.freq_scale};
    if (f->att_rope && r_out == 0) {
        ops->attention_rope(be, &qa, &args);
    } else if (f->qk_rope) {
        ops->qk_norm_rope(be, &qa);
    } else {
        /* QK-norm runs per head: view q and k as rows of head_dim. */
        ue_tensor qh = ue_tensor_reshape(&q, hp->head_dim, (int64_t)n * hp->n_head);
        ue_tensor kh = ue_tensor_reshape(&k, hp->head_dim, (int64_t)n * hp->n_head_kv);
        ops->rms_norm(be, &qh, &L->q_norm, hp->eps, &qh);
        ops->rms_norm(be, &kh, &L->k_norm, hp->eps, &kh);
        ops->rope(be, &q, hp->head_dim, hp->head_dim, pos0, la.base, la.freq_scale);
        ops->rope(be, &k, hp->head_dim, hp->head_dim, pos0, la.base, la.freq_scale);
        ops->copy_rows(be, &k, &kc);
        ops->copy_rows(be, &v, &vc);
    }
    if (n_out == 0) return;
    if (!f->att_rope || r_out > 0) ops->attention(be, &args);
    ue_tensor o = ue_tensor_rows(&s->o_attn, r_out, n_out);
    ue_tensor xo = ue_tensor_rows(&s->x, r_out, n_out), xno = ue_tensor_rows(&s->xn, r_out, n_out);
    matmul_block_end(m, &L->wo, &attn, &o, &L->post_attn_norm, &xo, &L->ffn_norm, &xno, f);
}

/* The feed-forward block of rows [r_out, n); next_norm: the norm of what follows (the next
 * layer's attention input, or the output). */
static void ffn_block(const ue_gemma3 *m, ue_gemma3_state *s, int il, int r_out, int n,
                      const fusion *f, const ue_tensor *next_norm) {
    const ue_gemma3_hparams *hp = &m->hp;
    const ue_gemma3_layer *L = &m->layers[il];
    ue_backend *be = m->be;
    const ue_backend_ops *ops = be->ops;
    n -= r_out;
    ue_tensor x = ue_tensor_rows(&s->x, r_out, n), xn = ue_tensor_rows(&s->xn, r_out, n);
    ue_tensor g = ue_tensor_rows(&s->gate, r_out, n), u = ue_tensor_rows(&s->up, r_out, n);
    ue_tensor o = ue_tensor_rows(&s->o_ffn, r_out, n);

    if (!f->norm_add) ops->rms_norm(be, &x, &L->ffn_norm, hp->eps, &xn);
    if (ops->matmul_gelu && L->w_gate.type == L->w_up.type &&
        ops->supports(be, UE_OP_MATMUL_GELU, L->w_gate.type)) {
        ops->matmul_gelu(be, &L->w_gate, &L->w_up, &xn, &g, &u);
    } else {
        ops->matmul(be, &L->w_gate, &xn, &g);
        ops->matmul(be, &L->w_up, &xn, &u);
        ops->gelu_mul(be, &g, &u);
    }
    matmul_block_end(m, &L->w_down, &g, &o, &L->post_ffw_norm, &x, next_norm, &xn, f);
}

/* One token's layer as the backend's decode_layer (with the fused norms' convention);
 * 0 when the backend has none or declines these operands. */
static int decode_layer(const ue_gemma3 *m, ue_gemma3_state *s, int il, int64_t pos,
                        const ue_tensor *next_norm) {
    const ue_gemma3_hparams *hp = &m->hp;
    const ue_gemma3_layer *L = &m->layers[il];
    ue_backend *be = m->be;
    if (!be->ops->decode_layer) return 0;
    layer_attn la = layer_attn_of(hp, L);
    ue_decode_layer_args a = {
        .wq = L->wq, .wk = L->wk, .wv = L->wv, .wo = L->wo,
        .w_gate = L->w_gate, .w_up = L->w_up, .w_down = L->w_down,
        .q_norm = L->q_norm, .k_norm = L->k_norm, .post_attn_norm = L->post_attn_norm,
        .ffn_norm = L->ffn_norm, .post_ffw_norm = L->post_ffw_norm,
        .next_norm = next_norm,
        .x = ue_tensor_rows(&s->x, 0, 1), .xn = ue_tensor_rows(&s->xn, 0, 1),
        .k_cache = s->k_cache[il], .v_cache = s->v_cache[il],
        .n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .head_dim = hp->head_dim,
        .pos = pos, .window = la.window, .eps = hp->eps, .scale = hp->attn_scale,
        .base = la.base, .freq_scale = la.freq_scale,
    };
    return be->ops->decode_layer(be, &a);
}

/* Final norm (unless xn already holds it) and output projection of rows
 * [row0, row0 + n) into out's first rows, then into dst [n, n_vocab] unless dst is out's
 * own host memory. The read (or sync) waits for the ops, so it joins their submission. */
static ue_status output_rows(const ue_gemma3 *m, ue_gemma3_state *s, int row0, int n,
                             int normed, const ue_tensor *out, float *dst, ue_error *err) {
    ue_backend *be = m->be;
    ue_tensor x = ue_tensor_rows(&s->x, row0, n), xn = ue_tensor_rows(&s->xn, row0, n);
    ue_tensor logits = ue_tensor_rows(out, 0, n);
    if (!normed) be->ops->rms_norm(be, &x, &m->output_norm, m->hp.eps, &xn);
    be->ops->matmul(be, &m->output, &xn, &logits);
    if (dst == ue_tensor_host(&logits)) return be->ops->sync(be, err);
    return be->ops->read(be, logits.buf, logits.offset, dst,
                         (size_t)n * (size_t)m->hp.n_vocab * sizeof(float), err);
}

/* Fills the residual stream with the batch's input: scaled token embeddings, or the given
 * embeddings as they are. */
static ue_status embed_input(const ue_gemma3 *m, ue_gemma3_state *s, const ue_gemma3_input *in,
                             ue_error *err) {
    const ue_gemma3_hparams *hp = &m->hp;
    ue_backend *be = m->be;
    int n = in->n;
    ue_tensor x = ue_tensor_rows(&s->x, 0, n);
    if (in->embd)
        return be->ops->write(be, x.buf, x.offset, in->embd,
                              (size_t)n * (size_t)hp->n_embd * sizeof(float), err);
    for (int i = 0; i < n; i++)
        if (in->tokens[i] < 0 || in->tokens[i] >= hp->n_vocab)
            return ue_fail(err, UE_ERR_ARGUMENT, "token %d at batch index %d is outside 0..%d",
                           in->tokens[i], i, hp->n_vocab - 1);
    ue_status st = be->ops->write(be, s->ids.buf, s->ids.offset, in->tokens,
                                  (size_t)n * sizeof(int32_t), err);
    if (st != UE_OK) return st;
    ue_tensor ids = ue_tensor_reshape(&s->ids, n, 1);
    be->ops->get_rows(be, &m->tok_embd, &ids, hp->embd_scale, &x);
    return UE_OK;
}

ue_status ue_gemma3_forward(const ue_gemma3 *m, ue_gemma3_state *s, const ue_gemma3_input *in,
                            int64_t pos0, float *last_logits, ue_logits_fn all_logits,
                            void *user, ue_error *err) {
    const ue_gemma3_hparams *hp = &m->hp;
    int n = in->n;
    if ((in->tokens == NULL) == (in->embd == NULL))
        return ue_fail(err, UE_ERR_ARGUMENT, "a batch needs either tokens or embeddings");
    if (n < 1 || n > s->max_batch)
        return ue_fail(err, UE_ERR_ARGUMENT, "batch of %d tokens, expected 1..%d", n,
                       s->max_batch);
    if (pos0 < 0 || pos0 + n > s->n_ctx)
        return ue_fail(err, UE_ERR_CONTEXT_FULL,
                       "positions %lld..%lld do not fit the context of %d tokens",
                       (long long)pos0, (long long)(pos0 + n - 1), s->n_ctx);
    ue_status st = embed_input(m, s, in, err);
    if (st != UE_OK) return st;
    fusion f = fusion_of(m, s);
    if (f.norm_add) {
        ue_tensor x = ue_tensor_rows(&s->x, 0, n), xn = ue_tensor_rows(&s->xn, 0, n);
        m->be->ops->rms_norm(m->be, &x, &m->layers[0].attn_norm, hp->eps, &xn);
    }
    /* The last layer's rows past its keys and values feed only the logits: of a batch that
     * wants the last position's (or none), only that row (or none) goes on. */
    int out_rows = all_logits ? n : last_logits ? 1 : 0;
    for (int il = 0; il < hp->n_layer; il++) {
        const ue_tensor *next_norm =
            il + 1 < hp->n_layer ? &m->layers[il + 1].attn_norm : &m->output_norm;
        if (n == 1 && !in->embd && f.norm_add && decode_layer(m, s, il, pos0, next_norm)) continue;
        int r_out = il + 1 == hp->n_layer ? n - out_rows : 0;
        attention_block(m, s, il, n, pos0, in->embd != NULL, &f, r_out);
        if (r_out < n) ffn_block(m, s, il, r_out, n, &f, next_norm);
    }

    size_t vocab_bytes = (size_t)hp->n_vocab * sizeof(float);
    if (all_logits) {
        if ((st = reserve_all_logits(s, err)) != UE_OK) return st;
        float *rows_host = s->host_logits ? s->host_logits : ue_tensor_host(&s->all_logits);
        for (int r0 = 0; r0 < n; r0 += LOGIT_ROWS) {
            int rows = n - r0 < LOGIT_ROWS ? n - r0 : LOGIT_ROWS;
            if ((st = output_rows(m, s, r0, rows, f.norm_add, &s->all_logits, rows_host,
                                  err)) != UE_OK)
                return st;
            for (int r = 0; r < rows; r++)
                all_logits(user, (size_t)(pos0 + r0 + r),
                           rows_host + (size_t)r * (size_t)hp->n_vocab, hp->n_vocab);
        }
        if (last_logits)
            memcpy(last_logits, rows_host + (size_t)((n - 1) % LOGIT_ROWS) * (size_t)hp->n_vocab,
                   vocab_bytes);
        return UE_OK;
    }
    if (last_logits) {
        return output_rows(m, s, n - 1, 1, f.norm_add, &s->logits, last_logits, err);
    }
    return m->be->ops->sync(m->be, err);
}
