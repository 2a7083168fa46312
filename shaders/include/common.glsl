// Shared by every compute shader: extensions, the linear workgroup index of a 2-D grid
// (grids wider than the 65,535-workgroup minimum limit are folded into y by the host),
// and workgroup reductions (subgroup arithmetic first, then shared memory across
// subgroups; the backend requires subgroup arithmetic in compute shaders).
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

uint wg_linear() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }

// Subgroups of at least 4 lanes are assumed: 64 slots cover workgroups of up to 256.
#define RED_SLOTS 64
shared float red_sh[RED_SLOTS];

// Sum of v over the workgroup, returned to every invocation. Contains barriers: call it
// from uniform control flow only.
float wg_sum(float v) {
    float s = subgroupAdd(v);
    if (subgroupElect()) red_sh[gl_SubgroupID] = s;
    barrier();
    float t = 0.0;
    for (uint i = 0; i < gl_NumSubgroups; i++) t += red_sh[i];
    barrier();
    return t;
}

float wg_max(float v) {
    float s = subgroupMax(v);
    if (subgroupElect()) red_sh[gl_SubgroupID] = s;
    barrier();
    float t = red_sh[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) t = max(t, red_sh[i]);
    barrier();
    return t;
}
