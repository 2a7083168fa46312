#version 450
// Average pooling of the vision encoder's patch grid: x holds a side x side grid of
// c-vectors (row-major), out[oy * os + ox] the mean of the k x k block at (oy, ox),
// os = side / k. One invocation per output element; sums in the CPU reference's order.
#include "include/common.glsl"

layout(local_size_x = 256) in;

layout(set = 0, binding = 0) readonly buffer XB { float xf[]; };
layout(set = 1, binding = 0) writeonly buffer OB { float of[]; };

layout(push_constant) uniform P {
    uint x_off, x_stride, o_off, o_stride, c, side, k, os, n_rows;
} p;

void main() {
    uint i = gl_GlobalInvocationID.x, r = gl_WorkGroupID.y;
    if (i >= p.c || r >= p.n_rows) return;
    uint oy = r / p.os, ox = r % p.os;
    float s = 0.0;
    for (uint dy = 0u; dy < p.k; dy++)
        for (uint dx = 0u; dx < p.k; dx++)
            s += xf[p.x_off + ((oy * p.k + dy) * p.side + ox * p.k + dx) * p.x_stride + i];
    of[p.o_off + r * p.o_stride + i] = s * (1.0 / float(p.k * p.k));
}
