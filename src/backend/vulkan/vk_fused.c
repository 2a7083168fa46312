/* Vulkan backend: the fused ops of backend.h, one dispatch each (add_rms_norm.comp,
 * qk_norm_rope.comp, mul_mvf.comp's gate/up variant). Operands the kernels cannot bind
 * together (weights in different storage-buffer windows, f16 caches, prefill batches for
 * the gate/up product) take the composed path of fused_compose.c instead. */
#ifdef UE_HAVE_VULKAN_BACKEND
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/fused_compose.h"
#include "backend/vulkan/vk_internal.h"

int vk_window_all(const ue_tensor *const *ts, int n, vk_bind *out) {
    size_t lo = SIZE_MAX, hi = 0;
    for (int i = 0; i < n; i++) {
        vk_range r = vk_range_of(ts[i]);
        if (ts[i]->buf != ts[0]->buf || ts[i]->offset % 4) return 0;
        if (r.lo < lo) lo = r.lo;
        if (r.hi > hi) hi = r.hi;
    }
    const vk_buf *b = ts[0]->buf->impl;
    size_t w = b->n_sets > 1 ? lo / b->step : 0;
    if (w >= (size_t)b->n_sets) w = (size_t)b->n_sets - 1;
    if (hi > w * b->step + b->range) return 0;
    out->set = b->sets[w];
    out->base = w * b->step;
    return 1;
}

static uint32_t off4(const ue_tensor *t, const vk_bind *b) {
    return (uint32_t)((t->offset - b->base) / 4);
}

static int is_f32(const ue_tensor *t) { return t->type == UE_TYPE_F32; }

void vk_op_add_rms_norm(ue_backend *be, const ue_tensor *o, const ue_tensor *w_post,
                        const ue_tensor *x, const ue_tensor *w_next, float eps,
                        const ue_tensor *xn) {
    vk_backend *vk = (vk_backend *)be;
    if (w_next) { /* weights in two windows: the norm of the sum as a second dispatch */
        const ue_tensor *pair[2] = {w_post, w_next};
        vk_bind b;
        if (!vk_window_all(pair, 2, &b) && is_f32(w_next)) {
            vk_op_add_rms_norm(be, o, w_post, x, NULL, eps, xn);
            vk_op_rms_norm(be, x, w_next, eps, xn);
            return;
        }
    }
    const ue_tensor *ws[2] = {w_post, w_next ? w_next : w_post};
    const ue_tensor *one_o[1] = {o}, *one_x[1] = {x}, *one_n[1] = {xn};
    vk_bind bo, bx, bn, bw;
    int64_t n = x->ne[0];
    if (!is_f32(o) || !is_f32(x) || !is_f32(xn) || !is_f32(w_post) || (w_next && !is_f32(w_next)) ||
        o->ne[0] != n || xn->ne[0] != n || w_post->ne[0] != n || (w_next && w_next->ne[0] != n) ||
        o->ne[1] != x->ne[1] || xn->ne[1] != x->ne[1] || !vk_window_all(ws, 2, &bw) ||
        !vk_window_all(one_o, 1, &bo) || !vk_window_all(one_x, 1, &bx) ||
        !vk_window_all(one_n, 1, &bn)) {
        ue_compose_add_rms_norm(be, o, w_post, x, w_next, eps, xn);
        return;
    }
    struct {
        uint32_t o_off, o_stride, x_off, x_stride, n_off, n_stride, wp_off, wn_off, n, n_rows,
            has_next;
        float eps;
        uint32_t q_off, q_stride;
    } pc = {off4(o, &bo), (uint32_t)n, off4(x, &bx), (uint32_t)n, off4(xn, &bn), (uint32_t)n,
            off4(w_post, &bw), off4(ws[1], &bw), (uint32_t)n, (uint32_t)x->ne[1], w_next != NULL,
            eps, 0, 0};
    VkDescriptorSet sets[4] = {bo.set, bx.set, bn.set, bw.set};
    vk_range rd[4] = {vk_range_of(o), vk_range_of(x), vk_range_of(w_post), vk_range_of(ws[1])};
    vk_range wr[3] = {vk_range_of(x), vk_range_of(xn)};
    uint32_t rows = (uint32_t)x->ne[1], gx = rows < 65535 ? rows : 65535;
    int wide = n > 4096, pipe = wide ? VK_PIPE_ADD_RMS_NORM_W : VK_PIPE_ADD_RMS_NORM;
    /* a decode step's xn also as 16-bit integers for the integer-dot mat-vecs reading it */
    int qpipe = wide ? VK_PIPE_ADD_RMS_NORM_WQ : VK_PIPE_ADD_RMS_NORM_Q;
    vk_bind bq;
    int q16 = vk->idot && w_next && vk->n_sets >= 5 && n % 64 == 0 && n <= 8192 && rows <= 4 &&
              vk->pipes[qpipe] && vk_q16_room(vk, n, rows, &bq, &wr[2]);
    if (q16) {
        pipe = qpipe;
        pc.q_off = (uint32_t)((wr[2].lo - bq.base) / 16);
        pc.q_stride = (uint32_t)(vk_q16_row_bytes(n) / 16);
    }
    vk_dispatch5(vk, pipe, sets, q16 ? bq.set : VK_NULL_HANDLE, &pc, sizeof pc, gx,
                 (rows + gx - 1) / gx, 1, rd, 4, wr, q16 ? 3 : w_next ? 2 : 1);
    if (q16) vk_q16_keep(vk, wr[1], wr[2], bq);
}

void vk_op_qk_norm_rope(ue_backend *be, const ue_qk_rope_args *a) {
    vk_backend *vk = (vk_backend *)be;
    int D = a->head_dim;
    int64_t n = a->q.ne[1];
    const ue_tensor *qs[1] = {&a->q}, *kv[2] = {&a->k, &a->v}, *dst[2] = {&a->k_dst, &a->v_dst};
    const ue_tensor *ws[2] = {&a->q_norm, &a->k_norm};
    vk_bind bq, bkv, bd, bw;
    if (D < 2 || D > 512 || D % 2 || a->q.ne[0] % D || a->k.ne[0] % D || a->pos0 < 0 ||
        a->pos0 + n > UINT32_MAX || !is_f32(&a->q) || !is_f32(&a->k) || !is_f32(&a->v) ||
        !is_f32(&a->k_dst) || !is_f32(&a->v_dst) || !is_f32(&a->q_norm) || !is_f32(&a->k_norm) ||
        a->v.ne[0] != a->k.ne[0] || a->k_dst.ne[0] != a->k.ne[0] || a->v_dst.ne[0] != a->k.ne[0] ||
        a->k.ne[1] != n || a->v.ne[1] != n || a->k_dst.ne[1] != n || a->v_dst.ne[1] != n ||
        !vk_window_all(qs, 1, &bq) || !vk_window_all(kv, 2, &bkv) || !vk_window_all(dst, 2, &bd) ||
        !vk_window_all(ws, 2, &bw)) {
        ue_compose_qk_norm_rope(be, a);
        return;
    }
    uint32_t n_head = (uint32_t)(a->q.ne[0] / D), n_kv = (uint32_t)(a->k.ne[0] / D);
    struct {
        uint32_t q_off, q_stride, k_off, k_stride, v_off, v_stride;
        uint32_t kd_off, kd_stride, vd_off, vd_stride, qw_off, kw_off;
        uint32_t n_head, n_head_kv, head_dim, pos0;
        float log2_base, freq_scale, eps;
    } pc = {off4(&a->q, &bq), (uint32_t)a->q.ne[0], off4(&a->k, &bkv), (uint32_t)a->k.ne[0],
            off4(&a->v, &bkv), (uint32_t)a->v.ne[0], off4(&a->k_dst, &bd), (uint32_t)a->k_dst.ne[0],
            off4(&a->v_dst, &bd), (uint32_t)a->v_dst.ne[0], off4(&a->q_norm, &bw),
            off4(&a->k_norm, &bw), n_head, n_kv, (uint32_t)D, (uint32_t)a->pos0,
            (float)log2((double)a->base), a->freq_scale, a->eps};
    VkDescriptorSet sets[4] = {bq.set, bkv.set, bd.set, bw.set};
    vk_range rd[5] = {vk_range_of(&a->q), vk_range_of(&a->k), vk_range_of(&a->v),
                      vk_range_of(&a->q_norm), vk_range_of(&a->k_norm)};
    vk_range wr[3] = {vk_range_of(&a->q), vk_range_of(&a->k_dst), vk_range_of(&a->v_dst)};
    vk_dispatch(vk, VK_PIPE_QK_NORM_ROPE, sets, &pc, sizeof pc, n_head + 2 * n_kv, (uint32_t)n, 1,
                rd, 5, wr, 3);
}

void vk_op_matmul_gelu(ue_backend *be, const ue_tensor *w_gate, const ue_tensor *w_up,
                       const ue_tensor *x, const ue_tensor *g, const ue_tensor *u) {
    vk_backend *vk = (vk_backend *)be;
    /* One dispatch for a decode step whose matrices fit one window each; else composed. */
    if (x->ne[1] <= 4 && is_f32(x) && is_f32(g) && g->ne[0] == w_gate->ne[1] &&
        g->ne[1] == x->ne[1] && x->ne[0] == w_gate->ne[0] &&
        vk_tensor_bytes(w_gate) <= vk_max_span(vk) && vk_tensor_bytes(w_up) <= vk_max_span(vk)) {
        const ue_tensor *one_x[1] = {x}, *one_g[1] = {g};
        vk_bind bx, bg;
        if (vk_matvec_split_gelu(vk, w_gate, w_up, x, g)) return; /* UE_VK_MVS rows */
        if (vk_window_all(one_x, 1, &bx) && vk_window_all(one_g, 1, &bg) &&
            vk_matvec_fast(vk, w_gate, w_up, x, g, 0, &bx, &bg))
            return;
    }
    ue_compose_matmul_gelu(be, w_gate, w_up, x, g, u);
}

#else
typedef int ue_vk_fused_not_built;
#endif
