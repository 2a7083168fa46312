/* Vulkan backend: the vision encoder's ops of backend.h (SigLIP, gemma3.md 2.2-2.3), one
 * dispatch each: layer_norm.comp, eltwise.comp's add (bias rows, b_stride 0) and gelu,
 * attention_full.comp (flash attention over all tokens) and avg_pool.comp. Row ops and
 * pooling go in pieces where a tensor exceeds one storage-buffer window; attention_full
 * falls back on the text model's attention kernels (a bidirectional span over every
 * token) for head dims past the kernel's or devices short of shared memory. */
#ifdef UE_HAVE_VULKAN_BACKEND
#include <stdint.h>

#include "backend/vulkan/vk_internal.h"

enum {
    ATTN_FULL_BQ = 32,    /* queries per workgroup of attention_full.comp */
    ATTN_FULL_MAXD = 96,  /* its largest head_dim */
    GRID_MAX = 65535,
};

static uint32_t ceil_div(int64_t a, int64_t b) { return (uint32_t)((a + b - 1) / b); }

/* Rows per piece so that `n` tensors of the given row bytes each fit one window. */
static int64_t rows_fitting(const vk_backend *vk, const size_t *row_bytes, int n) {
    size_t widest = 1;
    for (int i = 0; i < n; i++)
        if (row_bytes[i] > widest) widest = row_bytes[i];
    int64_t rows = (int64_t)(vk_max_span(vk) / widest);
    return rows < 1 ? 1 : rows;
}

static size_t row_bytes(const ue_tensor *t) { return ue_type_row_bytes(t->type, t->ne[0]); }

static int same_shape(const ue_tensor *a, const ue_tensor *b) {
    return a->ne[0] == b->ne[0] && a->ne[1] == b->ne[1];
}

void vk_op_layer_norm(ue_backend *be, const ue_tensor *x, const ue_tensor *w, const ue_tensor *b,
                      float eps, const ue_tensor *out) {
    vk_backend *vk = (vk_backend *)be;
    if (!vk_check_type(vk, x, UE_TYPE_F32, "layer_norm input") ||
        !vk_check_type(vk, w, UE_TYPE_F32, "layer_norm weight") ||
        !vk_check_type(vk, b, UE_TYPE_F32, "layer_norm bias") ||
        !vk_check_type(vk, out, UE_TYPE_F32, "layer_norm output"))
        return;
    if (!same_shape(x, out) || w->ne[0] * w->ne[1] < x->ne[0] || b->ne[0] * b->ne[1] < x->ne[0]) {
        vk_fail_deferred(vk, UE_ERR_ARGUMENT, "Vulkan: layer_norm of rows of %lld with %lld weights",
                         (long long)x->ne[0], (long long)(w->ne[0] * w->ne[1]));
        return;
    }
    vk_bind bw = vk_bind_tensor(vk, w), bb = vk_bind_tensor(vk, b);
    size_t rb[2] = {row_bytes(x), row_bytes(out)};
    int64_t per = rows_fitting(vk, rb, 2);
    for (int64_t r0 = 0; r0 < x->ne[1]; r0 += per) {
        int64_t nr = x->ne[1] - r0 < per ? x->ne[1] - r0 : per;
        ue_tensor xv = ue_tensor_rows(x, r0, nr), ov = ue_tensor_rows(out, r0, nr);
        vk_bind bx = vk_bind_tensor(vk, &xv), bo = vk_bind_tensor(vk, &ov);
        struct {
            uint32_t x_off, x_stride, w_off, b_off, o_off, o_stride, n, n_rows;
            float eps;
        } pc = {vk_off4(vk, &xv, &bx, "layer_norm input"), (uint32_t)x->ne[0],
                vk_off4(vk, w, &bw, "layer_norm weight"), vk_off4(vk, b, &bb, "layer_norm bias"),
                vk_off4(vk, &ov, &bo, "layer_norm output"), (uint32_t)out->ne[0],
                (uint32_t)x->ne[0], (uint32_t)nr, eps};
        VkDescriptorSet sets[4] = {bx.set, bw.set, bb.set, bo.set};
        vk_range rd[3] = {vk_range_of(&xv), vk_range_of(w), vk_range_of(b)};
        vk_range wr = vk_range_of(&ov);
        uint32_t gx = nr < GRID_MAX ? (uint32_t)nr : GRID_MAX;
        vk_dispatch(vk, VK_PIPE_LAYER_NORM, sets, &pc, sizeof pc, gx, ceil_div(nr, gx), 1, rd, 3,
                    &wr, 1);
    }
}

/* eltwise.comp over the rows of x in place: x op= the single row b (b NULL: unary). */
static void rows_inplace(vk_backend *vk, int pipe, const ue_tensor *x, const ue_tensor *b) {
    vk_bind bb = {VK_NULL_HANDLE, 0};
    uint32_t b_off = 0;
    if (b) {
        bb = vk_bind_tensor(vk, b);
        b_off = vk_off4(vk, b, &bb, "bias");
    }
    size_t rb = row_bytes(x);
    int64_t per = rows_fitting(vk, &rb, 1);
    for (int64_t r0 = 0; r0 < x->ne[1]; r0 += per) {
        int64_t nr = x->ne[1] - r0 < per ? x->ne[1] - r0 : per;
        ue_tensor xv = ue_tensor_rows(x, r0, nr);
        vk_bind bx = vk_bind_tensor(vk, &xv);
        struct {
            uint32_t a_off, a_stride, b_off, b_stride, n, n_rows;
        } pc = {vk_off4(vk, &xv, &bx, "operand"), (uint32_t)x->ne[0], b_off, 0,
                (uint32_t)x->ne[0], (uint32_t)nr};
        VkDescriptorSet sets[4] = {bx.set, bb.set, VK_NULL_HANDLE, VK_NULL_HANDLE};
        vk_range rd[2] = {vk_range_of(&xv), {0}}, wr = vk_range_of(&xv);
        if (b) rd[1] = vk_range_of(b);
        uint32_t gy = nr < GRID_MAX ? (uint32_t)nr : GRID_MAX;
        vk_dispatch(vk, pipe, sets, &pc, sizeof pc, ceil_div(x->ne[0], 256), gy,
                    ceil_div(nr, GRID_MAX), rd, b ? 2 : 1, &wr, 1);
    }
}

void vk_op_add_bias(ue_backend *be, const ue_tensor *x, const ue_tensor *b) {
    vk_backend *vk = (vk_backend *)be;
    if (!vk_check_type(vk, x, UE_TYPE_F32, "add_bias input") ||
        !vk_check_type(vk, b, UE_TYPE_F32, "add_bias bias"))
        return;
    if (b->ne[0] * b->ne[1] < x->ne[0]) {
        vk_fail_deferred(vk, UE_ERR_ARGUMENT, "Vulkan: add_bias of rows of %lld with a bias of %lld",
                         (long long)x->ne[0], (long long)(b->ne[0] * b->ne[1]));
        return;
    }
    ue_tensor row = ue_tensor_reshape(b, x->ne[0], 1);
    rows_inplace(vk, VK_PIPE_ADD, x, &row);
}

void vk_op_gelu(ue_backend *be, const ue_tensor *x) {
    vk_backend *vk = (vk_backend *)be;
    if (vk_check_type(vk, x, UE_TYPE_F32, "gelu input")) rows_inplace(vk, VK_PIPE_GELU, x, NULL);
}

void vk_op_attention_full(ue_backend *be, const ue_tensor *q, const ue_tensor *k,
                          const ue_tensor *v, const ue_tensor *out, int n_head, int head_dim,
                          float scale) {
    vk_backend *vk = (vk_backend *)be;
    if (!vk_check_type(vk, q, UE_TYPE_F32, "attention q") ||
        !vk_check_type(vk, k, UE_TYPE_F32, "attention k") ||
        !vk_check_type(vk, v, UE_TYPE_F32, "attention v") ||
        !vk_check_type(vk, out, UE_TYPE_F32, "attention output"))
        return;
    int64_t n = q->ne[1], width = (int64_t)n_head * head_dim;
    if (n_head < 1 || head_dim < 1 || q->ne[0] < width || k->ne[0] < width || v->ne[0] < width ||
        out->ne[0] < width || k->ne[1] != n || v->ne[1] != n || out->ne[1] != n ||
        n > (int64_t)GRID_MAX * ATTN_FULL_BQ) {
        vk_fail_deferred(vk, UE_ERR_ARGUMENT,
                         "Vulkan: attention_full of %lld tokens, %d heads of %d over rows of %lld",
                         (long long)n, n_head, head_dim, (long long)q->ne[0]);
        return;
    }
    if (!vk->pipes[VK_PIPE_ATTN_FULL] || head_dim > ATTN_FULL_MAXD) {
        /* the causal kernels with every token inside one bidirectional span */
        ue_attention_args a = {.q = *q, .k_cache = *k, .v_cache = *v, .out = *out,
                               .n_head = n_head, .n_head_kv = n_head, .head_dim = head_dim,
                               .pos0 = 0, .window = 0, .scale = scale,
                               .bidir_begin = 0, .bidir_end = n};
        vk_op_attention(be, &a);
        return;
    }
    vk_bind bq = vk_bind_tensor(vk, q), bk = vk_bind_tensor(vk, k), bv = vk_bind_tensor(vk, v);
    vk_bind bo = vk_bind_tensor(vk, out);
    struct {
        uint32_t q_off, q_stride, k_off, k_stride, v_off, v_stride, o_off, o_stride;
        uint32_t n_tok, head_dim;
        float scale;
    } pc = {vk_off4(vk, q, &bq, "attention q"), (uint32_t)q->ne[0],
            vk_off4(vk, k, &bk, "attention k"), (uint32_t)k->ne[0],
            vk_off4(vk, v, &bv, "attention v"), (uint32_t)v->ne[0],
            vk_off4(vk, out, &bo, "attention output"), (uint32_t)out->ne[0], (uint32_t)n,
            (uint32_t)head_dim, scale};
    VkDescriptorSet sets[4] = {bq.set, bk.set, bv.set, bo.set};
    vk_range rd[3] = {vk_range_of(q), vk_range_of(k), vk_range_of(v)}, wr = vk_range_of(out);
    vk_dispatch(vk, VK_PIPE_ATTN_FULL, sets, &pc, sizeof pc, ceil_div(n, ATTN_FULL_BQ),
                (uint32_t)n_head, 1, rd, 3, &wr, 1);
}

void vk_op_avg_pool(ue_backend *be, const ue_tensor *x, int side, int k, const ue_tensor *out) {
    vk_backend *vk = (vk_backend *)be;
    if (!vk_check_type(vk, x, UE_TYPE_F32, "avg_pool input") ||
        !vk_check_type(vk, out, UE_TYPE_F32, "avg_pool output"))
        return;
    int os = k > 0 ? side / k : 0;
    if (side < 1 || k < 1 || os < 1 || x->ne[1] != (int64_t)side * side ||
        out->ne[1] != (int64_t)os * os || out->ne[0] != x->ne[0] || os > GRID_MAX) {
        vk_fail_deferred(vk, UE_ERR_ARGUMENT,
                         "Vulkan: avg_pool %d x %d by %d from %lld rows into %lld", side, side, k,
                         (long long)x->ne[1], (long long)out->ne[1]);
        return;
    }
    /* In bands of output rows (oy) whose k * side input rows fit one window. */
    size_t band[2] = {row_bytes(x) * (size_t)k * (size_t)side, row_bytes(out) * (size_t)os};
    int64_t per = rows_fitting(vk, band, 2);
    if (per > GRID_MAX / os) per = GRID_MAX / os;
    for (int64_t oy0 = 0; oy0 < os; oy0 += per) {
        int64_t nb = os - oy0 < per ? os - oy0 : per;
        ue_tensor xv = ue_tensor_rows(x, oy0 * k * side, nb * k * side);
        ue_tensor ov = ue_tensor_rows(out, oy0 * os, nb * os);
        vk_bind bx = vk_bind_tensor(vk, &xv), bo = vk_bind_tensor(vk, &ov);
        struct {
            uint32_t x_off, x_stride, o_off, o_stride, c, side, k, os, n_rows;
        } pc = {vk_off4(vk, &xv, &bx, "avg_pool input"), (uint32_t)x->ne[0],
                vk_off4(vk, &ov, &bo, "avg_pool output"), (uint32_t)out->ne[0],
                (uint32_t)x->ne[0], (uint32_t)side, (uint32_t)k, (uint32_t)os,
                (uint32_t)(nb * os)};
        VkDescriptorSet sets[4] = {bx.set, bo.set, VK_NULL_HANDLE, VK_NULL_HANDLE};
        vk_range rd = vk_range_of(&xv), wr = vk_range_of(&ov);
        vk_dispatch(vk, VK_PIPE_AVG_POOL, sets, &pc, sizeof pc, ceil_div(x->ne[0], 256),
                    (uint32_t)(nb * os), 1, &rd, 1, &wr, 1);
    }
}

#else
typedef int ue_vk_ops_vision_not_built;
#endif
