#version 450
// Element-wise ops over rows: -DOP_ADD x += y; -DOP_GELU_MUL g = gelu_tanh(g) * u;
// -DOP_GELU x = gelu_tanh(x) (b unused); -DOP_COPY_F32 / -DOP_COPY_F16 dst = src (f32
// source). Rows have a stride each (b_stride 0: the same b row for every row, a bias).
#include "include/common.glsl"

layout(local_size_x = 256) in;

layout(set = 0, binding = 0) buffer AB { float af[]; };
layout(set = 1, binding = 0) readonly buffer BB_ { float bf[]; };
#ifdef OP_COPY_F16
layout(set = 1, binding = 0) writeonly buffer BH { float16_t bh[]; };
#endif
#ifdef OP_COPY_F32
layout(set = 1, binding = 0) writeonly buffer BW { float bw[]; };
#endif

layout(push_constant) uniform P {
    uint a_off, a_stride, b_off, b_stride, n, n_rows;
} p;

void main() {
    uint i = gl_GlobalInvocationID.x, row = gl_WorkGroupID.y + gl_WorkGroupID.z * 65535u;
    if (i >= p.n || row >= p.n_rows) return;
    uint a = p.a_off + row * p.a_stride + i, b = p.b_off + row * p.b_stride + i;
#if defined(OP_ADD)
    af[a] += bf[b];
#elif defined(OP_GELU_MUL)
    // 0.5 g (1 + tanh y) = g / (1 + e^(-2y)): no cancellation where tanh y is near -1;
    // e^(-2y) may overflow to infinity, which gives the right limit (-0).
    float g = af[a];
    float y = 0.7978845608028654 * (g + 0.044715 * g * g * g);
    af[a] = g / (1.0 + exp(-2.0 * y)) * bf[b];
#elif defined(OP_GELU)
    float g = af[a]; // as OP_GELU_MUL, without the product
    float y = 0.7978845608028654 * (g + 0.044715 * g * g * g);
    af[a] = g / (1.0 + exp(-2.0 * y));
#elif defined(OP_COPY_F32)
    bw[b] = af[a]; // a: source, b: destination
#elif defined(OP_COPY_F16)
    bh[b] = float16_t(af[a]);
#else
#error "no op selected"
#endif
}
