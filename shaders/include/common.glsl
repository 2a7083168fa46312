// Shared by every compute shader: extensions, the linear workgroup index of a 2-D grid
// (grids wider than the 65,535-workgroup minimum limit are folded into y by the host),
// and workgroup reductions (subgroup arithmetic first, then shared memory across
// subgroups; the backend requires subgroup arithmetic in compute shaders).
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

uint wg_linear() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }

// One slot per subgroup: 128 cover workgroups of up to 1024 invocations (add_rms_norm's
// wide variant) in subgroups of 8 (lavapipe) or more, and of up to 512 in subgroups of 4.
#define RED_SLOTS 128
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
