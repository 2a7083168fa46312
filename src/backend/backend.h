/* The one interface every compute backend implements (CPU today; Vulkan, NPU later).
 * Model code builds its forward pass from these calls only. Ops are enqueued in order on
 * the backend's stream; sync() waits for them (the CPU backend runs each op at once).
 * Tensors are views of backend buffers: contiguous rows, row-major. */
#ifndef UE_BACKEND_BACKEND_H
#define UE_BACKEND_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/types.h"

typedef struct ue_backend ue_backend;

/* Backend memory. host is non-NULL where the CPU can address the memory directly (all
 * CPU buffers; host-visible GPU memory); impl belongs to the backend. */
typedef struct ue_buffer {
    void *host;
    size_t size;
    void *impl;
    int owns_host; /* host was allocated by the backend (freed with the buffer) */
} ue_buffer;

/* A 2-D view: ne[1] rows of ne[0] elements of `type`, starting `offset` bytes into buf. */
typedef struct ue_tensor {
    ue_buffer *buf;
    size_t offset;
    ue_type type;
    int64_t ne[2];
} ue_tensor;

typedef enum ue_op {
    UE_OP_GET_ROWS,
    UE_OP_RMS_NORM,
    UE_OP_MATMUL,
    UE_OP_ROPE,
    UE_OP_ATTENTION,
    UE_OP_ADD,
    UE_OP_GELU_MUL,
    UE_OP_COPY_ROWS,
    /* Vision encoder (SigLIP) ops; a backend without them leaves the encoder on the CPU. */
    UE_OP_LAYER_NORM,
    UE_OP_ADD_BIAS,
    UE_OP_GELU,
    UE_OP_ATTENTION_FULL,
    UE_OP_AVG_POOL,
    /* Fused ops (optional; each equals a sequence of the ops above, see the ops table). */
    UE_OP_ADD_RMS_NORM,
    UE_OP_QK_NORM_ROPE,
    UE_OP_MATMUL_GELU,
    UE_OP_MATMUL_QKV,
    UE_OP_ATTENTION_ROPE,
    UE_OP_MATMUL_ADD_NORM,
    UE_OP_COUNT
} ue_op;

/* Attention of n_tokens queries at positions pos0.. over a KV cache holding positions
 * 0..pos0+n_tokens-1 (cache row = position). Causal; with window > 0 a key at position pk
 * is visible to a query at pq only when pq - pk < window. Positions inside
 * [bidir_begin, bidir_end) (one image's soft tokens) also see each other both ways. */
typedef struct ue_attention_args {
    ue_tensor q;        /* [n_tokens, n_head * head_dim] f32 */
    ue_tensor k_cache;  /* [n_ctx, n_head_kv * head_dim] */
    ue_tensor v_cache;  /* [n_ctx, n_head_kv * head_dim] */
    ue_tensor out;      /* [n_tokens, n_head * head_dim] f32 */
    int n_head, n_head_kv, head_dim;
    int64_t pos0;
    int window;         /* 0: global attention */
    float scale;        /* applied to q·k */
    int64_t bidir_begin, bidir_end; /* empty when equal */
} ue_attention_args;

/* Whether the key at position pk is visible to the query at pq (the mask rule above). */
static inline int ue_attention_visible(const ue_attention_args *a, int64_t pq, int64_t pk) {
    if (pk >= a->bidir_begin && pk < a->bidir_end && pq >= a->bidir_begin && pq < a->bidir_end)
        return 1;
    return pk <= pq && (a->window <= 0 || pq - pk < a->window);
}

/* The attention input of a batch (qk_norm_rope): q [n, n_head * head_dim] and k, v
 * [n, n_head_kv * head_dim] f32; q_norm, k_norm f32 [head_dim]; k_dst, v_dst the cache
 * rows [n, n_head_kv * head_dim] of the batch's positions. */
typedef struct ue_qk_rope_args {
    ue_tensor q, k, v, q_norm, k_norm, k_dst, v_dst;
    int head_dim;
    float eps;
    int64_t pos0;
    float base, freq_scale;
} ue_qk_rope_args;

/* One Gemma 3 layer for one token (decode_layer): with the fused norms' convention, x is
 * the residual stream and xn = rms_norm(x) * attn_norm on entry; the op runs the
 * attention block (q/k/v, QK-norm, RoPE, the cache rows of pos, attention, o, x +=
 * rms_norm(o) * post_attn_norm) and the feed-forward block (g = gelu(gate xn') * (up
 * xn') with xn' = rms_norm(x) * ffn_norm, x += rms_norm(down g) * post_ffw_norm), then
 * xn = rms_norm(x) * next_norm when next_norm is given. x, xn f32 [1, n_embd]; caches f32
 * [n_ctx, n_head_kv * head_dim]; the intermediates live in the backend's own scratch. */
typedef struct ue_decode_layer_args {
    ue_tensor wq, wk, wv, wo, w_gate, w_up, w_down;
    ue_tensor q_norm, k_norm, post_attn_norm, ffn_norm, post_ffw_norm;
    const ue_tensor *next_norm;
    ue_tensor x, xn, k_cache, v_cache;
    int n_head, n_head_kv, head_dim;
    int64_t pos;
    int window;         /* 0: global attention */
    float eps, scale;   /* scale: applied to q·k */
    float base, freq_scale;
} ue_decode_layer_args;

typedef struct ue_backend_ops {
    void (*destroy)(ue_backend *be);
    /* Whether op runs here for weights/inputs of `type`. */
    int (*supports)(const ue_backend *be, ue_op op, ue_type type);

    /* Scratch or cache memory of `size` bytes, zeroed. */
    ue_status (*buffer_create)(ue_backend *be, size_t size, ue_buffer **out, ue_error *err);
    /* Read-only weights from host memory that outlives the buffer (the model mmap): used
     * in place where the device can read host memory, copied otherwise. */
    ue_status (*buffer_from_host)(ue_backend *be, const void *data, size_t size,
                                  ue_buffer **out, ue_error *err);
    void (*buffer_destroy)(ue_backend *be, ue_buffer *buf);
    ue_status (*write)(ue_backend *be, ue_buffer *buf, size_t offset, const void *src,
                       size_t size, ue_error *err);
    ue_status (*read)(ue_backend *be, ue_buffer *buf, size_t offset, void *dst, size_t size,
                      ue_error *err);

    /* out[i] = scale * table[ids[i]] (dequantized to f32). ids: I32 [n]. */
    void (*get_rows)(ue_backend *be, const ue_tensor *table, const ue_tensor *ids, float scale,
                     const ue_tensor *out);
    /* Each row of x: out = x / sqrt(mean(x^2) + eps) * w, w of the row length. x and out
     * may be the same tensor. */
    void (*rms_norm)(ue_backend *be, const ue_tensor *x, const ue_tensor *w, float eps,
                     const ue_tensor *out);
    /* out[t][o] = sum_i w[o][i] * x[t][i]; w [n_out, n_in] any computable type, x f32. */
    void (*matmul)(ue_backend *be, const ue_tensor *w, const ue_tensor *x, const ue_tensor *out);
    /* NeoX rotary embedding in place on x [n_tokens, n_heads * head_dim], rotating the
     * first n_rot dims of each head; token t sits at position pos0 + t, angle
     * (position * freq_scale) * base^(-2i/n_rot). */
    void (*rope)(ue_backend *be, const ue_tensor *x, int head_dim, int n_rot, int64_t pos0,
                 float base, float freq_scale);
    void (*attention)(ue_backend *be, const ue_attention_args *args);
    /* x += y, same shapes. */
    void (*add)(ue_backend *be, const ue_tensor *x, const ue_tensor *y);
    /* g = gelu_tanh(g) * u, same shapes. */
    void (*gelu_mul)(ue_backend *be, const ue_tensor *g, const ue_tensor *u);
    /* dst rows = src rows (f32 source; dst f32 or f16), same shapes. */
    void (*copy_rows)(ue_backend *be, const ue_tensor *src, const ue_tensor *dst);

    /* Vision ops (UE_OP_LAYER_NORM ..): NULL where the backend lacks them.
     * Each row of x: out = (x - mean) / sqrt(var + eps) * w + b; w, b f32 of the row
     * length. x and out may be the same tensor. */
    void (*layer_norm)(ue_backend *be, const ue_tensor *x, const ue_tensor *w,
                       const ue_tensor *b, float eps, const ue_tensor *out);
    /* Every row of x += b (f32, the row length). */
    void (*add_bias)(ue_backend *be, const ue_tensor *x, const ue_tensor *b);
    /* x = gelu_tanh(x) in place. */
    void (*gelu)(ue_backend *be, const ue_tensor *x);
    /* Self-attention without mask or cache (every token sees every token): q, k, v, out
     * [n, n_head * head_dim] f32, one KV head per query head, scores scaled by scale. */
    void (*attention_full)(ue_backend *be, const ue_tensor *q, const ue_tensor *k,
                           const ue_tensor *v, const ue_tensor *out, int n_head, int head_dim,
                           float scale);
    /* x [side * side, c] is a side x side grid (row-major) of c-vectors; out
     * [(side / k)^2, c] holds the mean of each k x k block, blocks row-major. */
    void (*avg_pool)(ue_backend *be, const ue_tensor *x, int side, int k, const ue_tensor *out);

    /* Fused ops: NULL where the backend lacks them; supports() tells for which types.
     * Each gives the result of the op sequence named, so a backend may compose them.
     * add_rms_norm (UE_OP_ADD_RMS_NORM, f32): x += rms_norm(o) * w_post; then, when w_next
     * is non-NULL, xn = rms_norm(x) * w_next. o may be overwritten. */
    void (*add_rms_norm)(ue_backend *be, const ue_tensor *o, const ue_tensor *w_post,
                         const ue_tensor *x, const ue_tensor *w_next, float eps,
                         const ue_tensor *xn);
    /* qk_norm_rope (UE_OP_QK_NORM_ROPE, type: the cache's): rms_norm of every head of q
     * and k (q_norm, k_norm), rope of both (n_rot = head_dim), then copy_rows of k and v
     * into k_dst and v_dst. q is updated in place; k may be overwritten. */
    void (*qk_norm_rope)(ue_backend *be, const ue_qk_rope_args *args);
    /* matmul_gelu (UE_OP_MATMUL_GELU, type: the weights'): g = w_gate x, u = w_up x, then
     * gelu_mul(g, u). u is scratch of g's shape (may be left unwritten). */
    void (*matmul_gelu)(ue_backend *be, const ue_tensor *w_gate, const ue_tensor *w_up,
                        const ue_tensor *x, const ue_tensor *g, const ue_tensor *u);
    /* matmul_qkv (UE_OP_MATMUL_QKV, type: wq's): q = wq x, k = wk x, v = wv x (three
     * matmuls with one input; the matrices may differ in type and rows). */
    void (*matmul_qkv)(ue_backend *be, const ue_tensor *wq, const ue_tensor *wk,
                       const ue_tensor *wv, const ue_tensor *x, const ue_tensor *q,
                       const ue_tensor *k, const ue_tensor *v);
    /* attention_rope (UE_OP_ATTENTION_ROPE, type: the cache's): qk_norm_rope(r), then
     * attention(a), where a->q is r->q and a's caches hold r->k_dst and r->v_dst. r->q
     * and r->k are scratch afterwards (their contents unspecified). */
    void (*attention_rope)(ue_backend *be, const ue_qk_rope_args *r, const ue_attention_args *a);
    /* matmul_add_rms_norm (UE_OP_MATMUL_ADD_NORM, type: w's): o = w y, then
     * add_rms_norm(o, w_post, x, w_next, eps, xn) (o is scratch afterwards). */
    void (*matmul_add_rms_norm)(ue_backend *be, const ue_tensor *w, const ue_tensor *y,
                                const ue_tensor *o, const ue_tensor *w_post, const ue_tensor *x,
                                const ue_tensor *w_next, float eps, const ue_tensor *xn);

    /* decode_layer (optional): enqueues the layer as one unit and returns 1, or returns 0
     * having enqueued nothing (operands it does not serve): the caller runs the ops. */
    int (*decode_layer)(ue_backend *be, const ue_decode_layer_args *a);

    /* Waits for every enqueued op. */
    ue_status (*sync)(ue_backend *be, ue_error *err);
} ue_backend_ops;

struct ue_backend {
    const ue_backend_ops *ops;
    const char *name;        /* "cpu", "cpu-ref" */
    char description[160];   /* "CPU: 2 threads, AVX2+FMA kernels" */
};

/* Host pointer of a tensor's first element when its memory is host-visible, else NULL. */
static inline void *ue_tensor_host(const ue_tensor *t) {
    return t->buf && t->buf->host ? (char *)t->buf->host + t->offset : NULL;
}

/* A view of rows [row0, row0 + n_rows) of t. */
static inline ue_tensor ue_tensor_rows(const ue_tensor *t, int64_t row0, int64_t n_rows) {
    ue_tensor v = *t;
    v.offset += (size_t)row0 * ue_type_row_bytes(t->type, t->ne[0]);
    v.ne[1] = n_rows;
    return v;
}

/* The same bytes seen as rows of another length (ne0 must divide the row bytes). */
static inline ue_tensor ue_tensor_reshape(const ue_tensor *t, int64_t ne0, int64_t ne1) {
    ue_tensor v = *t;
    v.ne[0] = ne0;
    v.ne[1] = ne1;
    return v;
}

#endif
