#version 450
// Embedding lookup: out[i][e] = scale * dequant(table[ids[i]])[e]; ids outside the
// table give zeros (the model validates ids first; a shader must never read past it).
#include "include/common.glsl"
#include "include/dequant.glsl"

layout(local_size_x = 256) in;

layout(set = 2, binding = 0) writeonly buffer OB { float of[]; };
layout(set = 3, binding = 0) readonly buffer IB { int ids[]; };

layout(push_constant) uniform P {
    uint t_off, row_bytes;  // table: bytes
    uint id_off;            // ints
    uint o_off, o_stride;   // floats
    uint ne0, n_rows;       // row length, rows of the table
    float scale;
    // A table larger than one storage-buffer window is read in pieces: this dispatch
    // sees rows [row_lo, row_hi) at t_off; the one with zero_bad = 1 writes the zeros.
    uint row_lo, row_hi, zero_bad;
} p;

void main() {
    uint e = gl_GlobalInvocationID.x, i = gl_WorkGroupID.y;
    if (e >= p.ne0) return;
    int id = ids[p.id_off + i];
    float v = 0.0;
    if (id >= int(p.row_lo) && id < int(p.row_hi))
        v = deq(p.t_off + uint(id - int(p.row_lo)) * p.row_bytes + (e / QK) * BB, e % QK) * p.scale;
    else if (p.zero_bad == 0u || (id >= 0 && uint(id) < p.n_rows))
        return; // a row of another piece
    of[p.o_off + i * p.o_stride + e] = v;
}
