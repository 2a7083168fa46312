// One mat-vec routine of decode_layer.comp, instantiated per weight type: the including
// shader defines MV_FN (name), MV_QK / MV_IPB / MV_XN (block size, items per block, x
// vec4s per item), MV_WT / MV_LOAD / MV_XITEM / MV_XSUMS / MV_DOT (dl_items.glsl) and
// MV_PAIR (1: the same rows of a second matrix u are summed too and gelu_tanh(m x) *
// (u x) is stored, the gate/up product; the host gives pairs one row per group).
//
// Rows are spread over the whole grid as mul_mvs.comp spreads them over its workgroups:
// a row group of m.gl lanes owns m.nr rows (1 or 2), a workgroup owns nr * (WG / gl) rows
// per unit, and unit i runs on workgroup (i + rot) % G, so matrices summed one after the
// other in a phase start where the previous one ended. Groups wider than a subgroup add
// their subgroups' sums in shared memory (the unit loop is uniform per workgroup).
// A lane loads the weights of two items per row before any arithmetic, so every lane
// has 2 x nr (pairs: 4) items in flight: with a grid of a few workgroups per
// multiprocessor, latency and not bandwidth bounded one item at a time.
void MV_FN(Mat m, Mat u, uint64_t xa, uint64_t oa, uint rot) {
    uint WG = gl_WorkGroupSize.x, S = gl_SubgroupSize, GL = m.gl, NR = m.nr;
    uint sg = gl_SubgroupID, nsg = gl_NumSubgroups, sl = gl_SubgroupInvocationID;
    uint grp, lane;
    if (GL >= S) {
        grp = sg / (GL / S);
        lane = (sg % (GL / S)) * S + sl;
    } else {
        grp = sg * (S / GL) + sl / GL;
        lane = sl % GL;
    }
    uint rpw = NR * (WG / GL), n_units = (m.rows + rpw - 1u) / rpw;
    uint G = gl_NumWorkGroups.x, nitems = (m.k / MV_QK) * MV_IPB;
    for (uint unit = (gl_WorkGroupID.x + G - rot % G) % G; unit < n_units; unit += G) {
        uint r0 = unit * rpw + grp * NR;
        uint ra = min(r0, m.rows - 1u), rb = min(r0 + 1u, m.rows - 1u);
        float a0 = 0.0, a1 = 0.0, u0 = 0.0;
        for (uint i0 = lane; i0 < nitems; i0 += 2u * GL) {
            uint i1 = min(i0 + GL, nitems - 1u); // past the row: a valid item, weighted 0
            float live1 = i0 + GL < nitems ? 1.0 : 0.0;
            uint b0 = i0 / MV_IPB, p0 = i0 % MV_IPB, b1 = i1 / MV_IPB, p1 = i1 % MV_IPB;
            MV_WT wa0 = MV_LOAD(m, ra, b0, p0), wa1 = MV_LOAD(m, ra, b1, p1);
            MV_WT wb0 = wa0, wb1 = wa1;
            if (NR == 2u) {
                wb0 = MV_LOAD(m, rb, b0, p0);
                wb1 = MV_LOAD(m, rb, b1, p1);
            }
#if MV_PAIR
            MV_WT ua0 = MV_LOAD(u, ra, b0, p0), ua1 = MV_LOAD(u, ra, b1, p1);
#endif
            vec4 xv[MV_XN];
            MV_XITEM(xa, b0 * (MV_QK / 4u), p0, xv);
            vec2 xs = MV_XSUMS(xv);
            a0 += MV_DOT(wa0, p0, xv, xs);
            if (NR == 2u) a1 += MV_DOT(wb0, p0, xv, xs);
#if MV_PAIR
            u0 += MV_DOT(ua0, p0, xv, xs);
#endif
            MV_XITEM(xa, b1 * (MV_QK / 4u), p1, xv);
            xs = MV_XSUMS(xv);
            a0 += live1 * MV_DOT(wa1, p1, xv, xs);
            if (NR == 2u) a1 += live1 * MV_DOT(wb1, p1, xv, xs);
#if MV_PAIR
            u0 += live1 * MV_DOT(ua1, p1, xv, xs);
#endif
        }
        if (GL <= S) { // uniform
            for (uint k = GL >> 1; k > 0u; k >>= 1) {
                a0 += subgroupShuffleXor(a0, k);
                a1 += subgroupShuffleXor(a1, k);
#if MV_PAIR
                u0 += subgroupShuffleXor(u0, k);
#endif
            }
        } else {
            vec4 t = vec4(subgroupAdd(a0), subgroupAdd(a1), subgroupAdd(u0), 0.0);
            if (subgroupElect()) sh_part[sg] = t;
            barrier();
            uint spg = GL / S, first = grp * spg;
            t = vec4(0.0);
            for (uint j = 0u; j < spg; j++) t += sh_part[first + j];
            a0 = t.x, a1 = t.y, u0 = t.z;
            barrier(); // sh_part is rewritten by the next unit
        }
        if (lane == 0u) {
#if MV_PAIR
            a0 = gelu_tanh(a0) * u0;
#endif
            if (r0 < m.rows) A1(oa).v[r0] = a0;
            if (NR == 2u && r0 + 1u < m.rows) A1(oa).v[r0 + 1u] = a1;
        }
    }
}
