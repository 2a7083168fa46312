#version 450
// attention.comp for prefill: a workgroup takes QB consecutive queries of one head, so
// every key and value row read from memory serves QB queries (the per-query kernel reads
// each row once per query). Blocks of 128 keys: scores with one key per invocation for
// all QB queries (16-byte key loads, q from shared memory), per-query online softmax, then
// P.V with output dimensions across invocations. Same mask rule and push constants as
// attention.comp, no split (n_split must be 1). Needs D % 4 == 0 and 16-byte rows.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

#define WG 128u
layout(constant_id = 0) const uint QB = 4u; // queries per workgroup (vk_pipelines.c)
#define MAXD 512u
#define NEG_INF (-1.0 / 0.0)
layout(local_size_x = 128) in;

layout(set = 0, binding = 0) readonly buffer QB_ { float qf[]; };
layout(set = 1, binding = 0) readonly buffer KB4 { vec4 kf4[]; };
layout(set = 2, binding = 0) readonly buffer VB { float vf[]; };
layout(set = 3, binding = 0) writeonly buffer OB { float of[]; };

layout(push_constant) uniform P {
    uint q_off, q_stride, k_off, v_off, kv_stride, o_off, o_stride;
    uint n_head, n_head_kv, head_dim;
    int pos0, window, bidir_begin, bidir_end;
    float scale;
    uint n_split;
    uint n_tok;
} p;

shared vec4 q_sh[QB * (MAXD / 4u)];
shared float p_sh[QB * WG];
shared float red_sh[QB * 32u]; // per query, per subgroup (up to 32 subgroups)

bool visible(int pq, int pk) {
    if (pk >= p.bidir_begin && pk < p.bidir_end && pq >= p.bidir_begin && pq < p.bidir_end)
        return true;
    return pk <= pq && (p.window <= 0 || pq - pk < p.window);
}

// Keys query pq can see: [first, last].
void key_range(int pq, out int first, out int last) {
    first = 0;
    last = pq;
    if (p.window > 0 && pq - p.window + 1 > 0) first = pq - p.window + 1;
    if (pq >= p.bidir_begin && pq < p.bidir_end) {
        first = min(first, p.bidir_begin);
        last = p.bidir_end - 1;
    }
}

void main() {
    uint t0 = gl_WorkGroupID.x * QB, h = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
    uint D = p.head_dim, D4 = D / 4u, sg = gl_SubgroupID, nsg = gl_NumSubgroups;
    uint nq = min(QB, p.n_tok - t0);
    uint kvh = h / (p.n_head / p.n_head_kv);
    int lo = 1 << 30, hi = -1;
    for (uint qi = 0u; qi < nq; qi++) {
        int f, l;
        key_range(p.pos0 + int(t0 + qi), f, l);
        lo = min(lo, f);
        hi = max(hi, l);
    }
    for (uint e = tid; e < QB * D4; e += WG) {
        uint qi = e / D4, d4 = e % D4;
        vec4 v = vec4(0.0);
        if (qi < nq) {
            uint b = p.q_off + (t0 + qi) * p.q_stride + h * D + 4u * d4;
            v = vec4(qf[b], qf[b + 1u], qf[b + 2u], qf[b + 3u]) * p.scale;
        }
        q_sh[qi * (MAXD / 4u) + d4] = v;
    }
    barrier();

    float m[QB], l[QB], acc[QB][MAXD / WG];
    for (uint qi = 0u; qi < QB; qi++) {
        m[qi] = NEG_INF;
        l[qi] = 0.0;
        for (uint i = 0u; i < MAXD / WG; i++) acc[qi][i] = 0.0;
    }
    uint kcol = (p.k_off + kvh * D) >> 2, st4 = p.kv_stride >> 2;
    for (int kb = lo; kb <= hi; kb += int(WG)) {
        int j = kb + int(tid);
        float s[QB];
        for (uint qi = 0u; qi < QB; qi++) s[qi] = NEG_INF;
        bool any = false;
        for (uint qi = 0u; qi < nq; qi++) any = any || (j <= hi && visible(p.pos0 + int(t0 + qi), j));
        if (any) {
            vec4 s4[QB];
            for (uint qi = 0u; qi < QB; qi++) s4[qi] = vec4(0.0);
            uint kr = kcol + uint(j) * st4;
            uint d4 = 0u;
            for (; d4 + 16u <= D4; d4 += 16u) { // sixteen key loads in flight at a time
                vec4 kv[16];
                for (uint u = 0u; u < 16u; u++) kv[u] = kf4[kr + d4 + u];
                for (uint u = 0u; u < 16u; u++)
                    for (uint qi = 0u; qi < QB; qi++)
                        s4[qi] += q_sh[qi * (MAXD / 4u) + d4 + u] * kv[u];
            }
            for (; d4 < D4; d4++) {
                vec4 kv = kf4[kr + d4];
                for (uint qi = 0u; qi < QB; qi++) s4[qi] += q_sh[qi * (MAXD / 4u) + d4] * kv;
            }
            for (uint qi = 0u; qi < nq; qi++)
                if (visible(p.pos0 + int(t0 + qi), j)) s[qi] = (s4[qi].x + s4[qi].y) + (s4[qi].z + s4[qi].w);
        }
        // block maxima per query
        for (uint qi = 0u; qi < QB; qi++) {
            float mx = subgroupMax(s[qi]);
            if (subgroupElect()) red_sh[qi * 32u + sg] = mx;
        }
        barrier();
        float mb[QB];
        bool live = false;
        for (uint qi = 0u; qi < QB; qi++) {
            mb[qi] = NEG_INF;
            for (uint g = 0u; g < nsg; g++) mb[qi] = max(mb[qi], red_sh[qi * 32u + g]);
            live = live || mb[qi] != NEG_INF;
        }
        barrier();
        if (!live) continue; // no query sees a key of this block (uniform)
        float corr[QB];
        for (uint qi = 0u; qi < QB; qi++) {
            float mn = max(m[qi], mb[qi]);
            float pj = s[qi] == NEG_INF ? 0.0 : exp(s[qi] - mn);
            corr[qi] = m[qi] == NEG_INF ? 0.0 : exp(m[qi] - mn);
            m[qi] = mn;
            p_sh[qi * WG + tid] = pj;
            float sum = subgroupAdd(pj);
            if (subgroupElect()) red_sh[qi * 32u + sg] = sum;
        }
        barrier();
        for (uint qi = 0u; qi < QB; qi++) {
            float sb = 0.0;
            for (uint g = 0u; g < nsg; g++) sb += red_sh[qi * 32u + g];
            l[qi] = l[qi] * corr[qi] + sb;
        }
        int nb = min(int(WG), hi + 1 - kb);
        for (uint i = 0u; i < MAXD / WG; i++) {
            uint d = tid + WG * i;
            if (d >= D) break;
            float a[QB];
            for (uint qi = 0u; qi < QB; qi++) a[qi] = acc[qi][i] * corr[qi];
            uint vr = p.v_off + uint(kb) * p.kv_stride + kvh * D + d, st = p.kv_stride;
            int jj = 0;
            for (; jj + 8 <= nb; jj += 8) { // eight value loads issued together
                float v[8];
                for (uint u = 0u; u < 8u; u++) v[u] = vf[vr + (uint(jj) + u) * st];
                for (uint u = 0u; u < 8u; u++)
                    for (uint qi = 0u; qi < QB; qi++) a[qi] += p_sh[qi * WG + uint(jj) + u] * v[u];
            }
            for (; jj < nb; jj++) {
                float v = vf[vr + uint(jj) * st];
                for (uint qi = 0u; qi < QB; qi++) a[qi] += p_sh[qi * WG + uint(jj)] * v;
            }
            for (uint qi = 0u; qi < QB; qi++) acc[qi][i] = a[qi];
        }
        barrier(); // p_sh and red_sh are rewritten by the next block
    }
    for (uint qi = 0u; qi < nq; qi++) {
        uint orow = p.o_off + (t0 + qi) * p.o_stride + h * D;
        float inv = l[qi] > 0.0 ? 1.0 / l[qi] : 0.0;
        for (uint i = 0u; i < MAXD / WG; i++) {
            uint d = tid + WG * i;
            if (d < D) of[orow + d] = acc[qi][i] * inv;
        }
    }
}
