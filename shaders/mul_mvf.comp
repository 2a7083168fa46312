#version 450
// Fast matrix-vector product for decode: out[t][r] = sum_k w[r][k] x[t][k] over aligned
// items (include/mv_items.glsl). Each subgroup owns NR rows at a time: its lanes stride
// over the items of a row, load the item's x once into registers for all NR rows, and
// the sums are reduced inside the subgroup (no shared memory, no barrier). A workgroup
// covers RPW rows (its subgroups take groups of NR rows in turn, whatever the subgroup
// size); sizes are specialization constants (vk_pipelines.c). With -DGATE_UP the same
// rows of a second matrix (set 3) are summed too and gelu_tanh(first) * second is stored.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NR = 2u;
layout(constant_id = 2) const uint RPW = 8u;

#include "include/mv_items.glsl"

layout(set = 2, binding = 0) writeonly buffer OB { float of[]; };

void main() {
    uint row_base = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * RPW;
    uint t = gl_WorkGroupID.z;
    uint nitems = (p.K / QK) * IPB;
    uint xrow = (p.x_off + t * p.x_stride) >> 2;
    uint lane = gl_SubgroupInvocationID, S = gl_SubgroupSize;
    for (uint g = gl_SubgroupID; g < RPW / NR; g += gl_NumSubgroups) {
        uint row0 = row_base + g * NR;
        if (row0 >= p.N) break; // uniform in the subgroup
        float acc[NR];
        for (uint r = 0u; r < NR; r++) acc[r] = 0.0;
#ifdef GATE_UP
        float acc_u[NR];
        for (uint r = 0u; r < NR; r++) acc_u[r] = 0.0;
#endif
        for (uint it = lane; it < nitems; it += S) {
            uint b = it / IPB, ip = it % IPB;
            vec4 xa[XN];
            x_item(xrow + b * (QK / 4u), ip, xa);
            vec2 xs = x_sums(xa);
            for (uint r = 0u; r < NR; r++) {
                uint row = min(row0 + r, p.N - 1u);
                acc[r] += item_dot(0u, row, b, ip, xa, xs);
#ifdef GATE_UP
                acc_u[r] += item_dot(1u, row, b, ip, xa, xs);
#endif
            }
        }
        for (uint r = 0u; r < NR; r++) {
            float s = subgroupAdd(acc[r]);
#ifdef GATE_UP
            // gelu_tanh(gate) * up, as eltwise.comp's OP_GELU_MUL
            float u = subgroupAdd(acc_u[r]);
            float y = 0.7978845608028654 * (s + 0.044715 * s * s * s);
            s = s / (1.0 + exp(-2.0 * y)) * u;
#endif
            if (lane == 0u && row0 + r < p.N) of[p.o_off + t * p.o_stride + row0 + r] = s;
        }
    }
}
