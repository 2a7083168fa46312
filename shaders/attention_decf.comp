#version 450
// One decode token's attention input and attention in one dispatch: attention_dec.comp's
// kernel (head dims across lanes, keys split over workgroups) that also does
// qk_norm_rope.comp's work and attn_merge.comp's. Each workgroup normalizes and rotates
// its head of q itself; the workgroups whose key range holds the new position write its
// key (normalized, rotated) and value to the cache rows before reading their keys; with
// n_split > 1 the workgroup of a head that finishes last (a counter per head in set 4)
// merges the partial results. Each lane holds NQ vec4s of a head, D = 4 S NQ with NQ even
// (a specialization constant, so the arrays are registers): dim d and its rotation
// partner d + D / 2 sit in the same lane. Grid: n_split x n_head.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x = 128) in;

layout(set = 0, binding = 0) buffer SB4 { vec4 s4[]; };         // q, k, v rows; output
layout(set = 0, binding = 0) buffer SBF { float sf[]; };
layout(set = 1, binding = 0) coherent buffer CB4 { vec4 c4[]; }; // the layer's K and V
layout(set = 2, binding = 0) readonly buffer WB4 { vec4 w4[]; }; // q_norm, k_norm
layout(set = 3, binding = 0) coherent buffer PB { float pf[]; }; // partial results
layout(set = 4, binding = 0) coherent buffer SYB { uint cnt[]; };

layout(push_constant) uniform P {
    uint q_off, k_off, v_off, o_off;  // set 0, floats (multiples of 4 but o_off)
    uint kc_off, vc_off, kv_stride;   // set 1, floats (multiples of 4)
    uint n_head, n_head_kv, head_dim;
    int pos0, window, bidir_begin, bidir_end;
    float scale;
    uint n_split;
    uint qw_off, kw_off;              // set 2, floats (multiples of 4)
    float eps, log2_base, freq_scale;
    uint slot;                        // first of n_head counters
} p;

layout(constant_id = 0) const uint NQ = 2u; // vec4s per lane (D / 4S), even
#define KPI 4      // keys per subgroup iteration
#define SH 4096u   // floats of shared memory for the merge (host: (128 / S) D <= SH)
shared float sh_acc[SH];
shared float sh_m[128], sh_l[128];
shared bool sh_last;

bool visible(int pq, int pk) {
    if (pk >= p.bidir_begin && pk < p.bidir_end && pq >= p.bidir_begin && pq < p.bidir_end)
        return true;
    return pk <= pq && (p.window <= 0 || pq - pk < p.window);
}

// cos and sin of the angle of pair i at position pos (qk_norm_rope.comp's reduction).
vec2 angle(uint pos, uint i) {
    precise float ps = float(pos) * p.freq_scale;
    precise float inv = exp2(-2.0 * float(i) / float(p.head_dim) * p.log2_base);
    precise float hi = ps * inv;
    precise float lo = fma(ps, inv, -hi);
    precise float k = round(hi * 0.15915494309189535);
    precise float r = fma(-k, 6.28318548202514648, hi);
    r = fma(-k, -1.7484556e-7, r) + lo;
    return vec2(cos(r), sin(r));
}

// NeoX rotation of dims d0..d0+3 (a) with their partners d0 + D/2.. (b).
void rope_pair(inout vec4 a, inout vec4 b, uint d0, uint pos) {
    for (uint c = 0u; c < 4u; c++) {
        vec2 cs = angle(pos, d0 + c);
        float x0 = a[c], x1 = b[c];
        a[c] = x0 * cs.x - x1 * cs.y;
        b[c] = x0 * cs.y + x1 * cs.x;
    }
}

// RMSNorm of one head (lane holds dims 4(lane + S i)..) with weights at float w0, then
// the rotation at position pos. Call from whole subgroups.
void norm_rope(inout vec4 v[NQ], uint w0, uint pos) {
    uint S = gl_SubgroupSize, lane = gl_SubgroupInvocationID;
    float ss = 0.0;
    for (uint i = 0u; i < NQ; i++) ss += dot(v[i], v[i]);
    ss = subgroupAdd(ss);
    float inv = 1.0 / sqrt(ss / float(p.head_dim) + p.eps);
    for (uint i = 0u; i < NQ; i++) v[i] = v[i] * inv * w4[(w0 >> 2) + lane + S * i];
    for (uint i = 0u; i < NQ / 2u; i++) rope_pair(v[i], v[i + NQ / 2u], 4u * (lane + S * i), pos);
}

void main() {
    uint split = gl_WorkGroupID.x, h = gl_WorkGroupID.y;
    uint D = p.head_dim, S = gl_SubgroupSize, lane = gl_SubgroupInvocationID;
    uint sg = gl_SubgroupID, nsg = gl_NumSubgroups;
    uint tid = gl_LocalInvocationID.x;
    uint kvh = h / (p.n_head / p.n_head_kv);
    int pq = p.pos0;
    int first = 0, last = pq;
    if (p.window > 0 && pq - p.window + 1 > 0) first = pq - p.window + 1;
    if (pq >= p.bidir_begin && pq < p.bidir_end) {
        first = min(first, p.bidir_begin);
        last = p.bidir_end - 1;
    }
    int nkeys = last - first + 1;
    int chunk = (nkeys + int(p.n_split) - 1) / int(p.n_split);
    int kb0 = first + int(split) * chunk, kend = min(kb0 + chunk, last + 1);

    vec4 q[NQ], acc[NQ];
    uint qv = (p.q_off + h * D) >> 2;
    for (uint i = 0u; i < NQ; i++) {
        q[i] = s4[qv + lane + S * i];
        acc[i] = vec4(0.0);
    }
    norm_rope(q, p.qw_off, uint(pq));
    for (uint i = 0u; i < NQ; i++) q[i] *= p.scale;

    uint kcol = (p.kc_off + kvh * D) >> 2, vcol = (p.vc_off + kvh * D) >> 2, st = p.kv_stride >> 2;
    if (kb0 <= pq && pq < kend && sg == 0u) { // this range holds the new key (uniform)
        vec4 kn[NQ];
        uint kr = (p.k_off + kvh * D) >> 2, vr = (p.v_off + kvh * D) >> 2;
        for (uint i = 0u; i < NQ; i++) kn[i] = s4[kr + lane + S * i];
        norm_rope(kn, p.kw_off, uint(pq));
        for (uint i = 0u; i < NQ; i++) {
            c4[kcol + uint(pq) * st + lane + S * i] = kn[i];
            c4[vcol + uint(pq) * st + lane + S * i] = s4[vr + lane + S * i];
        }
    }
    memoryBarrierBuffer();
    barrier();

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
                kv[u][i] = c4[kcol + row[u] * st + lane + S * i];
                vv[u][i] = c4[vcol + row[u] * st + lane + S * i];
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
    for (uint i = 0u; i < NQ; i++) {
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
    uint orow = p.o_off + h * D;
    if (p.n_split == 1u) {
        float inv = L > 0.0 ? 1.0 / L : 0.0;
        for (uint d = tid; d < D; d += 128u) {
            float a = 0.0;
            for (uint g = 0u; g < nsg; g++) a += sh_acc[g * D + d];
            sf[orow + d] = a * inv;
        }
        return;
    }
    uint base = (h * p.n_split + split) * (D + 2u);
    if (tid == 0u) {
        pf[base] = M;
        pf[base + 1u] = L;
    }
    for (uint d = tid; d < D; d += 128u) {
        float a = 0.0;
        for (uint g = 0u; g < nsg; g++) a += sh_acc[g * D + d];
        pf[base + 2u + d] = a;
    }
    // The head's last workgroup merges: out = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s.
    memoryBarrierBuffer();
    barrier();
    if (tid == 0u) sh_last = atomicAdd(cnt[p.slot + h], 1u) == p.n_split - 1u;
    barrier();
    if (!sh_last) return; // uniform
    memoryBarrierBuffer();
    if (tid == 0u) cnt[p.slot + h] = 0u; // ready for the next use
    uint hb = h * p.n_split * (D + 2u);
    float MM = -1.0 / 0.0;
    for (uint s = 0u; s < p.n_split; s++) MM = max(MM, pf[hb + s * (D + 2u)]);
    float LL = 0.0;
    for (uint s = 0u; s < p.n_split; s++) {
        float ms = pf[hb + s * (D + 2u)];
        if (ms != -1.0 / 0.0) LL += exp(ms - MM) * pf[hb + s * (D + 2u) + 1u];
    }
    float inv = LL > 0.0 ? 1.0 / LL : 0.0;
    for (uint d = tid; d < D; d += 128u) {
        float a = 0.0;
        for (uint s = 0u; s < p.n_split; s++) {
            float ms = pf[hb + s * (D + 2u)];
            if (ms != -1.0 / 0.0) a += exp(ms - MM) * pf[hb + s * (D + 2u) + 2u + d];
        }
        sf[orow + d] = a * inv;
    }
}
