#version 450
// Fast matrix-vector product for decode: out[t][r] = sum_k w[r][k] x[t][k] over aligned
// items (include/mv_items.glsl). Each group of G lanes owns NR rows at a time: its lanes stride
// over the items of a row, load the item's x once into registers for all NR rows, and
// the sums are reduced inside the subgroup (no shared memory, no barrier). A workgroup
// covers RPW rows (its subgroups take groups of NR rows in turn, whatever the subgroup
// size); sizes are specialization constants (vk_pipelines.c). With -DGATE_UP the same
// rows of a second matrix (set 3) are summed too and gelu_tanh(first) * second is stored.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_shuffle : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NR = 2u;
layout(constant_id = 2) const uint RPW = 8u;
layout(constant_id = 3) const uint GL = 32u; // lanes per row group (at most the subgroup)
layout(constant_id = 4) const uint UNR = 1u;  // items per lane per iteration (loads together)

#include "include/mv_items.glsl"

layout(set = 2, binding = 0) writeonly buffer OB { float of[]; };

// Sum over each group of G lanes (G a power of two dividing the subgroup size).
float group_sum(float v, uint G) {
    if (G >= gl_SubgroupSize) return subgroupAdd(v);
    for (uint m = G >> 1; m > 0u; m >>= 1) v += subgroupShuffleXor(v, m);
    return v;
}

void main() {
    uint row_base = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * RPW;
    uint t = gl_WorkGroupID.z;
    uint nitems = (p.K / QK) * IPB;
    uint xrow = (p.x_off + t * p.x_stride) >> 2;
    // The subgroup is cut into groups of G lanes, each owning NR rows at a time; all
    // groups of a subgroup run the same trip counts, so the shuffles see every lane.
    uint S = gl_SubgroupSize, G = min(GL, S), per_sg = S / G;
    uint lane = gl_SubgroupInvocationID % G, grp = gl_SubgroupInvocationID / G;
    for (uint g0 = gl_SubgroupID * per_sg; g0 < RPW / NR; g0 += gl_NumSubgroups * per_sg) {
        uint row0 = row_base + (g0 + grp) * NR;
        if (row_base + g0 * NR >= p.N) break; // uniform in the subgroup
        bool live = g0 + grp < RPW / NR;
        float acc[NR];
        for (uint r = 0u; r < NR; r++) acc[r] = 0.0;
#ifdef GATE_UP
        float acc_u[NR];
        for (uint r = 0u; r < NR; r++) acc_u[r] = 0.0;
#endif
        for (uint it0 = lane; it0 < nitems; it0 += G * UNR) {
            for (uint u = 0u; u < UNR; u++) {
                // items past the row: a valid item, weighted 0
                uint it = min(it0 + G * u, nitems - 1u);
                float live_u = it0 + G * u < nitems ? 1.0 : 0.0;
                uint b = it / IPB, ip = it % IPB;
                XT xa[XN];
                x_item(xrow, b, ip, xa);
                vec2 xs = x_sums(xa);
                for (uint r = 0u; r < NR; r++) {
                    uint row = min(row0 + r, p.N - 1u); // rows past N: any valid row, not stored
                    acc[r] += live_u * item_dot(0u, row, b, ip, xa, xs);
#ifdef GATE_UP
                    acc_u[r] += live_u * item_dot(1u, row, b, ip, xa, xs);
#endif
                }
            }
        }
        for (uint r = 0u; r < NR; r++) {
            float s = group_sum(acc[r], G);
#ifdef GATE_UP
            // gelu_tanh(gate) * up, as eltwise.comp's OP_GELU_MUL
            float u = group_sum(acc_u[r], G);
            float y = 0.7978845608028654 * (s + 0.044715 * s * s * s);
            s = s / (1.0 + exp(-2.0 * y)) * u;
#endif
            if (lane == 0u && live && row0 + r < p.N) of[p.o_off + t * p.o_stride + row0 + r] = s;
        }
    }
}
