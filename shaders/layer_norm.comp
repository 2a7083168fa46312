#version 450
// LayerNorm of each row (the vision encoder's): out = (x - mean) / sqrt(var + eps) * w + b,
// mean and variance over the row (two passes over x, as the CPU reference). One workgroup
// per row; x and out may be the same memory (each invocation rewrites only what it read).
#include "include/common.glsl"

layout(local_size_x = 256) in;

layout(set = 0, binding = 0) readonly buffer XB { float xf[]; };
layout(set = 1, binding = 0) readonly buffer WB { float wf[]; };
layout(set = 2, binding = 0) readonly buffer BB { float bf[]; };
layout(set = 3, binding = 0) buffer OB { float of[]; };

layout(push_constant) uniform P {
    uint x_off, x_stride, w_off, b_off, o_off, o_stride, n, n_rows;
    float eps;
} p;

void main() {
    uint row = wg_linear(), tid = gl_LocalInvocationID.x;
    if (row >= p.n_rows) return; // uniform across the workgroup
    uint xr = p.x_off + row * p.x_stride;
    float s = 0.0;
    for (uint i = tid; i < p.n; i += 256u) s += xf[xr + i];
    float mean = wg_sum(s) / float(p.n);
    float v = 0.0;
    for (uint i = tid; i < p.n; i += 256u) {
        float d = xf[xr + i] - mean;
        v += d * d;
    }
    float inv = 1.0 / sqrt(wg_sum(v) / float(p.n) + p.eps);
    uint orow = p.o_off + row * p.o_stride;
    for (uint i = tid; i < p.n; i += 256u)
        of[orow + i] = (xf[xr + i] - mean) * inv * wf[p.w_off + i] + bf[p.b_off + i];
}
