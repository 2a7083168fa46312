#version 450
// Self-attention without mask or cache (the vision encoder's, backend.h attention_full):
// every query sees every key, one KV head per query head. A workgroup takes BQ queries of
// one head and walks the keys in blocks of BK held in shared memory, with an online
// softmax (flash attention). Scores: 2 queries x 4 keys per invocation (one vec2 and one
// vec4 shared load per dimension); P.V: 4 queries x every 16th output dimension (one vec4
// of probabilities per key). Any head_dim up to MAXD, power of two or not (SigLIP: 72).
// Shared memory: 32,384 bytes (vk_pipelines.c checks the device has them).

#define BQ 32u
#define BK 32u
#define MAXD 96u
#define KT_STRIDE 9u  // vec4 per row of k^T: BK / 4 and one of padding (no bank conflicts)
#define NJ (MAXD / 16u)
#define NEG_INF (-1.0 / 0.0)
layout(local_size_x = 128) in;

layout(set = 0, binding = 0) readonly buffer QB_ { float qf[]; };
layout(set = 1, binding = 0) readonly buffer KB_ { float kf[]; };
layout(set = 2, binding = 0) readonly buffer VB_ { float vf[]; };
layout(set = 3, binding = 0) writeonly buffer OB_ { float of[]; };

layout(push_constant) uniform P {
    uint q_off, q_stride, k_off, k_stride, v_off, v_stride, o_off, o_stride;
    uint n_tok, head_dim;
    float scale;
} p;

shared vec2 q_sh[MAXD * (BQ / 2u)];   // q^T of the block, scaled: [d][query pair]
shared vec4 kv_sh[MAXD * KT_STRIDE];  // k^T [d][key quad], then v as floats [key][d]
shared vec4 p_sh[BK * (BQ / 4u)];     // probabilities: [key][query quad]
shared float mx_sh[BQ * 8u];          // per query, per key quad: block maxima
shared float sm_sh[BQ * 8u];          // ... and sums of probabilities
shared float corr_sh[BQ];             // per query: rescaling of the block, at the end 1 / l

void main() {
    uint tid = gl_LocalInvocationID.x, q0 = gl_WorkGroupID.x * BQ, h = gl_WorkGroupID.y;
    uint D = p.head_dim, n = p.n_tok;
    uint qp = tid % 16u, kq = tid / 16u; // scores: query pair, key quad
    uint qq = tid % 8u, dg = tid / 8u;   // P.V: query quad, dimension group
    uint qa = 2u * qp, kc = 4u * kq;
    for (uint e = tid; e < BQ * D; e += 128u) {
        uint qi = e / D, d = e % D;
        float v = 0.0; // queries past the end: zeros (finite scores, never written)
        if (q0 + qi < n) v = qf[p.q_off + (q0 + qi) * p.q_stride + h * D + d] * p.scale;
        q_sh[d * (BQ / 2u) + qi / 2u][qi % 2u] = v;
    }
    float m[2], l[2], acc[4][NJ];
    m[0] = m[1] = NEG_INF;
    l[0] = l[1] = 0.0;
    for (uint i = 0u; i < 4u; i++)
        for (uint j = 0u; j < NJ; j++) acc[i][j] = 0.0;
    uint nj = (D + 15u - dg) / 16u; // dims dg, dg + 16, ... below D
    for (uint k0 = 0u; k0 < n; k0 += BK) {
        barrier(); // the previous block's P.V reads are done (the q tile written, at first)
        // k^T: an invocation reads one dimension of four keys (coalesced along d)
        for (uint e = tid; e < (BK / 4u) * D; e += 128u) {
            uint c = e / D, d = e % D, key = k0 + 4u * c;
            vec4 v = vec4(0.0);
            uint src = p.k_off + key * p.k_stride + h * D + d;
            for (uint u = 0u; u < 4u; u++)
                if (key + u < n) v[u] = kf[src + u * p.k_stride];
            kv_sh[d * KT_STRIDE + c] = v;
        }
        barrier();
        vec4 s0 = vec4(0.0), s1 = vec4(0.0);
        for (uint d = 0u; d < D; d++) {
            vec2 a = q_sh[d * (BQ / 2u) + qp];
            vec4 b = kv_sh[d * KT_STRIDE + kq];
            s0 += a.x * b;
            s1 += a.y * b;
        }
        for (uint u = 0u; u < 4u; u++)
            if (k0 + kc + u >= n) {
                s0[u] = NEG_INF;
                s1[u] = NEG_INF;
            }
        mx_sh[qa * 8u + kq] = max(max(s0.x, s0.y), max(s0.z, s0.w));
        mx_sh[(qa + 1u) * 8u + kq] = max(max(s1.x, s1.y), max(s1.z, s1.w));
        barrier(); // every score is in registers: the k tile's memory takes v
        for (uint e = tid; e < BK * D; e += 128u) {
            uint key = k0 + e / D;
            float v = 0.0;
            if (key < n) v = vf[p.v_off + key * p.v_stride + h * D + e % D];
            kv_sh[e / 4u][e % 4u] = v;
        }
        for (uint i = 0u; i < 2u; i++) {
            float mb = NEG_INF; // finite: every block holds at least one key
            for (uint g = 0u; g < 8u; g++) mb = max(mb, mx_sh[(qa + i) * 8u + g]);
            float mn = max(m[i], mb);
            float corr = exp(m[i] - mn); // 0 on the first block (m = -inf)
            m[i] = mn;
            vec4 e4 = exp((i == 0u ? s0 : s1) - vec4(mn)); // masked keys: exp(-inf) = 0
            for (uint u = 0u; u < 4u; u++) p_sh[(kc + u) * (BQ / 4u) + (qa + i) / 4u][(qa + i) % 4u] = e4[u];
            sm_sh[(qa + i) * 8u + kq] = (e4.x + e4.y) + (e4.z + e4.w);
            if (kq == 0u) corr_sh[qa + i] = corr;
            l[i] *= corr;
        }
        barrier();
        for (uint i = 0u; i < 2u; i++)
            for (uint g = 0u; g < 8u; g++) l[i] += sm_sh[(qa + i) * 8u + g];
        vec4 c4 = vec4(corr_sh[4u * qq], corr_sh[4u * qq + 1u], corr_sh[4u * qq + 2u],
                       corr_sh[4u * qq + 3u]);
        for (uint i = 0u; i < 4u; i++)
            for (uint j = 0u; j < NJ; j++) acc[i][j] *= c4[i];
        uint nk = min(BK, n - k0);
        for (uint kj = 0u; kj < nk; kj++) {
            vec4 pr = p_sh[kj * (BQ / 4u) + qq];
            for (uint j = 0u; j < NJ; j++)
                if (j < nj) {
                    uint f = kj * D + dg + 16u * j;
                    float v = kv_sh[f / 4u][f % 4u];
                    for (uint i = 0u; i < 4u; i++) acc[i][j] += pr[i] * v;
                }
        }
    }
    barrier(); // corr_sh's last reads are done: it takes 1 / l
    if (kq == 0u) {
        corr_sh[qa] = 1.0 / l[0];
        corr_sh[qa + 1u] = 1.0 / l[1];
    }
    barrier();
    for (uint i = 0u; i < 4u; i++) {
        uint t = q0 + 4u * qq + i;
        if (t >= n) continue;
        float inv = corr_sh[4u * qq + i];
        uint orow = p.o_off + t * p.o_stride + h * D + dg;
        for (uint j = 0u; j < NJ; j++)
            if (j < nj) of[orow + 16u * j] = acc[i][j] * inv;
    }
}
