#version 450
// The end of a Gemma block in one dispatch, one workgroup per row:
//   x += rms_norm(o) * w_post;  then, with has_next, xn = rms_norm(x) * w_next
// (the next block's input norm). Arithmetic as rms_norm.comp and eltwise.comp's add.
#include "include/common.glsl"

layout(local_size_x = 256) in;

layout(set = 0, binding = 0) readonly buffer OB { float o_[]; };
layout(set = 1, binding = 0) buffer XB { float xf[]; };
layout(set = 2, binding = 0) writeonly buffer NB { float nf[]; };
layout(set = 3, binding = 0) readonly buffer WB { float wf[]; };

layout(push_constant) uniform P {
    uint o_off, o_stride, x_off, x_stride, n_off, n_stride;
    uint wp_off, wn_off, n, n_rows, has_next;
    float eps;
} p;

void main() {
    uint row = wg_linear(), tid = gl_LocalInvocationID.x;
    if (row >= p.n_rows) return; // uniform across the workgroup
    uint orow = p.o_off + row * p.o_stride, xrow = p.x_off + row * p.x_stride;
    float s = 0.0;
    for (uint i = tid; i < p.n; i += 256u) s += o_[orow + i] * o_[orow + i];
    s = wg_sum(s);
    float inv = 1.0 / sqrt(s / float(p.n) + p.eps);
    float s2 = 0.0;
    for (uint i = tid; i < p.n; i += 256u) {
        float v = xf[xrow + i] + o_[orow + i] * inv * wf[p.wp_off + i];
        xf[xrow + i] = v;
        s2 += v * v;
    }
    if (p.has_next == 0u) return; // uniform
    s2 = wg_sum(s2);
    float inv2 = 1.0 / sqrt(s2 / float(p.n) + p.eps);
    uint nrow = p.n_off + row * p.n_stride;
    for (uint i = tid; i < p.n; i += 256u) nf[nrow + i] = xf[xrow + i] * inv2 * wf[p.wn_off + i];
}
