/* The fused ops of backend.h composed from the plain ops of the same backend: the CPU
 * backend's implementation, and the fallback of backends whose fused kernels cannot take
 * some operands. Results equal the op sequences backend.h names, op for op. */
#ifndef UE_BACKEND_FUSED_COMPOSE_H
#define UE_BACKEND_FUSED_COMPOSE_H

#include "backend/backend.h"

void ue_compose_add_rms_norm(ue_backend *be, const ue_tensor *o, const ue_tensor *w_post,
                             const ue_tensor *x, const ue_tensor *w_next, float eps,
                             const ue_tensor *xn);
void ue_compose_qk_norm_rope(ue_backend *be, const ue_qk_rope_args *a);
void ue_compose_matmul_gelu(ue_backend *be, const ue_tensor *w_gate, const ue_tensor *w_up,
                            const ue_tensor *x, const ue_tensor *g, const ue_tensor *u);
void ue_compose_matmul_qkv(ue_backend *be, const ue_tensor *wq, const ue_tensor *wk,
                           const ue_tensor *wv, const ue_tensor *x, const ue_tensor *q,
                           const ue_tensor *k, const ue_tensor *v);
void ue_compose_attention_rope(ue_backend *be, const ue_qk_rope_args *r,
                               const ue_attention_args *a);
void ue_compose_matmul_add_rms_norm(ue_backend *be, const ue_tensor *w, const ue_tensor *y,
                                    const ue_tensor *o, const ue_tensor *w_post,
                                    const ue_tensor *x, const ue_tensor *w_next, float eps,
                                    const ue_tensor *xn);

#endif
