#version 450
// attention.comp for decode-sized batches, with the head dimension across the lanes of a
// subgroup: lane l holds q and the output for dims 4(l + S i) .. +3 (i < D / 4S <= 4), so
// a key's score is one 16-byte load per lane per quarter of D and a subgroup sum. The
// subgroups of a workgroup take keys in turn, four at a time (their K and V loads issued
// together), each with its own online softmax; the subgroups' states are merged in shared
// memory at the end. Same grid, push constants, mask rule and partial results
// (n_split > 1, merged by attn_merge.comp) as attention.comp.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x = 128) in;

layout(set = 0, binding = 0) readonly buffer QB { vec4 q4[]; };
layout(set = 1, binding = 0) readonly buffer KB { vec4 k4[]; };
layout(set = 2, binding = 0) readonly buffer VB { vec4 v4[]; };
layout(set = 3, binding = 0) writeonly buffer OB { float of[]; };

layout(push_constant) uniform P {
    uint q_off, q_stride, k_off, v_off, kv_stride, o_off, o_stride;
    uint n_head, n_head_kv, head_dim;
    int pos0, window, bidir_begin, bidir_end;
    float scale;
    uint n_split;
} p;

#define NQ 4u      // vec4s per lane at most (host: D % 4S == 0, D / 4S <= NQ)
#define KPI 4      // keys per subgroup iteration
#define SH 4096u   // floats of shared memory for the merge (host: (128 / S) D <= SH)
shared float sh_acc[SH];
shared float sh_m[128], sh_l[128];

bool visible(int pq, int pk) {
    if (pk >= p.bidir_begin && pk < p.bidir_end && pq >= p.bidir_begin && pq < p.bidir_end)
        return true;
    return pk <= pq && (p.window <= 0 || pq - pk < p.window);
}

void main() {
    uint split = gl_WorkGroupID.x, h = gl_WorkGroupID.y, t = gl_WorkGroupID.z;
    uint D = p.head_dim, S = gl_SubgroupSize, lane = gl_SubgroupInvocationID;
    uint sg = gl_SubgroupID, nsg = gl_NumSubgroups, nq = D / (4u * S);
    uint kvh = h / (p.n_head / p.n_head_kv);
    int pq = p.pos0 + int(t);
    int first = 0, last = pq;
    if (p.window > 0 && pq - p.window + 1 > 0) first = pq - p.window + 1;
    if (pq >= p.bidir_begin && pq < p.bidir_end) {
        first = min(first, p.bidir_begin);
        last = p.bidir_end - 1;
    }
    int nkeys = last - first + 1;
    int chunk = (nkeys + int(p.n_split) - 1) / int(p.n_split);
    int kb0 = first + int(split) * chunk, kend = min(kb0 + chunk, last + 1);

    uint qrow = (p.q_off + t * p.q_stride + h * D) >> 2;
    vec4 q[NQ], acc[NQ];
    for (uint i = 0u; i < NQ; i++) {
        q[i] = i < nq ? q4[qrow + lane + S * i] * p.scale : vec4(0.0);
        acc[i] = vec4(0.0);
    }
    uint kcol = (p.k_off + kvh * D) >> 2, vcol = (p.v_off + kvh * D) >> 2, st = p.kv_stride >> 2;
    float m = -1.0 / 0.0, l = 0.0;
    for (int j0 = kb0 + int(sg) * KPI; j0 < kend; j0 += int(nsg) * KPI) { // uniform per subgroup
        float s[KPI];
        bool ok[KPI];
        uint row[KPI];
        for (int u = 0; u < KPI; u++) {
            int j = j0 + u;
            ok[u] = j < kend && visible(pq, j);
            row[u] = uint(min(j, kend - 1));
        }
        vec4 kv[KPI][NQ], vv[KPI][NQ];
        for (int u = 0; u < KPI; u++)
            for (uint i = 0u; i < NQ; i++) {
                kv[u][i] = i < nq ? k4[kcol + row[u] * st + lane + S * i] : vec4(0.0);
                vv[u][i] = i < nq ? v4[vcol + row[u] * st + lane + S * i] : vec4(0.0);
            }
        float mb = m;
        for (int u = 0; u < KPI; u++) {
            float d = 0.0;
            for (uint i = 0u; i < NQ; i++) d += dot(q[i], kv[u][i]);
            s[u] = subgroupAdd(d);
            if (ok[u]) mb = max(mb, s[u]);
        }
        if (mb == -1.0 / 0.0) continue; // nothing visible yet (uniform)
        float corr = m == -1.0 / 0.0 ? 0.0 : exp(m - mb);
        l *= corr;
        for (uint i = 0u; i < NQ; i++) acc[i] *= corr;
        for (int u = 0; u < KPI; u++) {
            float pj = ok[u] ? exp(s[u] - mb) : 0.0;
            l += pj;
            for (uint i = 0u; i < NQ; i++) acc[i] += pj * vv[u][i];
        }
        m = mb;
    }
    // Merge the subgroups: M = max m, each state scaled by e^(m - M).
    if (lane == 0u) {
        sh_m[sg] = m;
        sh_l[sg] = l;
    }
    barrier();
    float M = -1.0 / 0.0;
    for (uint g = 0u; g < nsg; g++) M = max(M, sh_m[g]);
    float f = m == -1.0 / 0.0 ? 0.0 : exp(m - M);
    for (uint i = 0u; i < NQ; i++)
        if (i < nq) {
            vec4 a = acc[i] * f;
            uint d = 4u * (lane + S * i);
            sh_acc[sg * D + d] = a.x;
            sh_acc[sg * D + d + 1u] = a.y;
            sh_acc[sg * D + d + 2u] = a.z;
            sh_acc[sg * D + d + 3u] = a.w;
        }
    barrier();
    float L = 0.0;
    for (uint g = 0u; g < nsg; g++)
        if (sh_m[g] != -1.0 / 0.0) L += exp(sh_m[g] - M) * sh_l[g];
    uint tid = gl_LocalInvocationID.x;
    if (p.n_split == 1u) {
        uint orow = p.o_off + t * p.o_stride + h * D;
        float inv = L > 0.0 ? 1.0 / L : 0.0;
        for (uint d = tid; d < D; d += 128u) {
            float a = 0.0;
            for (uint g = 0u; g < nsg; g++) a += sh_acc[g * D + d];
            of[orow + d] = a * inv;
        }
    } else {
        uint base = p.o_off + ((t * p.n_head + h) * p.n_split + split) * (D + 2u);
        if (tid == 0u) {
            of[base] = M;
            of[base + 1u] = L;
        }
        for (uint d = tid; d < D; d += 128u) {
            float a = 0.0;
            for (uint g = 0u; g < nsg; g++) a += sh_acc[g * D + d];
            of[base + 2u + d] = a;
        }
    }
}
