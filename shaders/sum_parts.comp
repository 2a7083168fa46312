#version 450
// Adds the split-K partial results of mul_mmc.comp: out[t][r] = sum over s of
// part[s][t][r] (partials [splits][n_tok][N], part_stride floats apart), in split order.
layout(local_size_x = 256) in;

layout(set = 0, binding = 0) readonly buffer PB { float pf[]; };
layout(set = 2, binding = 0) writeonly buffer OB { float of[]; };

layout(push_constant) uniform P {
    uint p_off, part_stride, N, o_off, o_stride, splits;
} p;

void main() {
    uint r = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y;
    if (r >= p.N) return;
    uint at = p.p_off + t * p.N + r;
    float s = 0.0;
    for (uint i = 0u; i < p.splits; i++) s += pf[at + i * p.part_stride];
    of[p.o_off + t * p.o_stride + r] = s;
}
