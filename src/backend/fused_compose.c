/* Fused ops composed from plain ops (fused_compose.h); the order is that of the model's
 * unfused forward pass, so composed results are identical to it. */
#include "backend/fused_compose.h"

void ue_compose_add_rms_norm(ue_backend *be, const ue_tensor *o, const ue_tensor *w_post,
                             const ue_tensor *x, const ue_tensor *w_next, float eps,
                             const ue_tensor *xn) {
    const ue_backend_ops *ops = be->ops;
    ops->rms_norm(be, o, w_post, eps, o);
    ops->add(be, x, o);
    if (w_next) ops->rms_norm(be, x, w_next, eps, xn);
}

void ue_compose_qk_norm_rope(ue_backend *be, const ue_qk_rope_args *a) {
    const ue_backend_ops *ops = be->ops;
    int64_t n = a->q.ne[1];
    ue_tensor qh = ue_tensor_reshape(&a->q, a->head_dim, a->q.ne[0] / a->head_dim * n);
    ue_tensor kh = ue_tensor_reshape(&a->k, a->head_dim, a->k.ne[0] / a->head_dim * n);
    ops->rms_norm(be, &qh, &a->q_norm, a->eps, &qh);
    ops->rms_norm(be, &kh, &a->k_norm, a->eps, &kh);
    ops->rope(be, &a->q, a->head_dim, a->head_dim, a->pos0, a->base, a->freq_scale);
    ops->rope(be, &a->k, a->head_dim, a->head_dim, a->pos0, a->base, a->freq_scale);
    ops->copy_rows(be, &a->k, &a->k_dst);
    ops->copy_rows(be, &a->v, &a->v_dst);
}

void ue_compose_matmul_gelu(ue_backend *be, const ue_tensor *w_gate, const ue_tensor *w_up,
                            const ue_tensor *x, const ue_tensor *g, const ue_tensor *u) {
    const ue_backend_ops *ops = be->ops;
    ops->matmul(be, w_gate, x, g);
    ops->matmul(be, w_up, x, u);
    ops->gelu_mul(be, g, u);
}

void ue_compose_matmul_qkv(ue_backend *be, const ue_tensor *wq, const ue_tensor *wk,
                           const ue_tensor *wv, const ue_tensor *x, const ue_tensor *q,
                           const ue_tensor *k, const ue_tensor *v) {
    const ue_backend_ops *ops = be->ops;
    ops->matmul(be, wq, x, q);
    ops->matmul(be, wk, x, k);
    ops->matmul(be, wv, x, v);
}

void ue_compose_attention_rope(ue_backend *be, const ue_qk_rope_args *r,
                               const ue_attention_args *a) {
    const ue_backend_ops *ops = be->ops;
    if (ops->qk_norm_rope) ops->qk_norm_rope(be, r);
    else ue_compose_qk_norm_rope(be, r);
    ops->attention(be, a);
}

void ue_compose_matmul_add_rms_norm(ue_backend *be, const ue_tensor *w, const ue_tensor *y,
                                    const ue_tensor *o, const ue_tensor *w_post,
                                    const ue_tensor *x, const ue_tensor *w_next, float eps,
                                    const ue_tensor *xn) {
    const ue_backend_ops *ops = be->ops;
    ops->matmul(be, w, y, o);
    if (ops->add_rms_norm) ops->add_rms_norm(be, o, w_post, x, w_next, eps, xn);
    else ue_compose_add_rms_norm(be, o, w_post, x, w_next, eps, xn);
}
