// Items of the mat-vec kernels over x quantized to 16-bit integers (quant_q16.comp: per
// 32 elements a scale dx and q = round(x / dx), |q| <= 32767, the CPU backend's Q16_32),
// multiplied by integer dot products: q = 256 hi + lo with hi the signed high byte and
// lo the unsigned low byte, so w . q = 256 (w . hi) + (w . lo) exactly. Per weight byte
// that is one dot instruction per 4 weights and activation half instead of the float
// path's ~3 instructions per weight (mv_arith.glsl). Included by mv_items.glsl (-DXQ16)
// for Q4_K and Q6_K, the types of a Q4_K_M file's mat-vecs.
//
// A token's row of K elements (K a multiple of 64), in 16-byte units from xrow:
//   hi bytes [K] | lo bytes [K] | dx float[K / 32] | xs float[K / 32] (dx * sum of q)
// An item's x: xa[0], xa[1] the hi bytes of its two 16-element runs, xa[2], xa[3] their
// lo bytes, xa[4] = (dx run 0, dx run 1, xs run 0, xs run 1) as float bits.
#include "idot.glsl"

layout(set = 1, binding = 0) readonly buffer MXQ { uvec4 xq4[]; };
layout(set = 1, binding = 0) readonly buffer MXF { float xqf[]; };

#define XT uvec4
#define XN 5u
#define QK 256u
#define IPB 8u

// The x of two 16-element runs starting at elements e0 and e1 (multiples of 16).
void xq_runs(uint xrow, uint e0, uint e1, out XT xa[XN], bool sums) {
    uint lo = xrow + p.K / 16u, f = 4u * xrow + p.K / 2u, nb = p.K / 32u;
    xa[0] = xq4[xrow + e0 / 16u];
    xa[1] = xq4[xrow + e1 / 16u];
    xa[2] = xq4[lo + e0 / 16u];
    xa[3] = xq4[lo + e1 / 16u];
    vec4 v = vec4(xqf[f + e0 / 32u], xqf[f + e1 / 32u], 0.0, 0.0);
    if (sums) v.zw = vec2(xqf[f + nb + e0 / 32u], xqf[f + nb + e1 / 32u]);
    xa[4] = floatBitsToUint(v);
}
vec2 x_sums(XT xa[XN]) { return vec2(0.0); }

#if defined(TYPE_Q4_K)
// In place (mv_items.glsl's Q4_K items): item p = 16 bytes of chunk c = p / 2, its low
// nibbles elements l0.. of sub-block 2c, its high nibbles the same of sub-block 2c + 1.
// A sub-block's min term (dmin m sum x) goes with its even item, which takes the whole
// 32-element sum xs.
#define BB 144u
void x_item(uint xrow, uint b, uint ip, out XT xa[XN]) {
    uint e0 = QK * b + 64u * (ip >> 1) + ((ip & 1u) << 4);
    xq_runs(xrow, e0, e0 + 32u, xa, (ip & 1u) == 0u);
}
float item_dot(uint sel, uint row, uint b, uint ip, XT xa[XN], vec2 xs) {
    uint bb = plane(sel, 0u) + row * p.row_bytes + b * BB;
    uint c = ip >> 1, l0 = (ip & 1u) << 4;
    uvec4 h = ld128(sel, bb);
    uvec4 q = ld128(sel, bb + 16u + 32u * c + l0);
    int h0 = 0, h1 = 0;
    uint l0s = 0u, l1s = 0u;
    for (uint i = 0u; i < 4u; i++) {
        uint pl = q[i] & 0x0F0F0F0Fu, ph = (q[i] >> 4) & 0x0F0F0F0Fu;
        h0 += dot_su(xa[0][i], pl, 0);
        l0s += dot_uu(xa[2][i], pl, 0);
        h1 += dot_su(xa[1][i], ph, 0);
        l1s += dot_uu(xa[3][i], ph, 0);
    }
    // |sums| <= 16 * 15 * 32767 < 2^23: exact as floats
    float s0 = float(h0 * 256 + int(l0s)), s1 = float(h1 * 256 + int(l1s));
    float sc0, mn0, sc1, mn1;
    scale_min_k(h, 2u * c, sc0, mn0);
    scale_min_k(h, 2u * c + 1u, sc1, mn1);
    vec2 dm = unpackHalf2x16(h.x);
    vec4 f = uintBitsToFloat(xa[4]);
    return dm.x * (sc0 * f.x * s0 + sc1 * f.y * s1) - dm.y * (mn0 * f.z + mn1 * f.w);
}

#elif defined(TYPE_Q6_K)
// Repacked planes (mv_items.glsl's Q6_K items): item p = (half h = p / 4, j = p % 4),
// elements 128 h + 16 j.. (low nibbles) and 128 h + 64 + 16 j.. (high nibbles); each
// 6-bit q becomes the signed byte q - 32 ((q + 0x60) ^ 0x80: no carry between bytes).
void x_item(uint xrow, uint b, uint ip, out XT xa[XN]) {
    uint e0 = QK * b + 128u * (ip >> 2) + 16u * (ip & 3u);
    xq_runs(xrow, e0, e0 + 64u, xa, false);
}
float item_dot(uint sel, uint row, uint b, uint ip, XT xa[XN], vec2 xs) {
    uvec4 lo6, hi6;
    float s_lo, s_hi, d;
    q6k_item(sel, row, b, ip, lo6, hi6, s_lo, s_hi, d);
    int h0 = 0, h1 = 0, l0s = 0, l1s = 0;
    for (uint i = 0u; i < 4u; i++) {
        uint pl = (lo6[i] + 0x60606060u) ^ 0x80808080u;
        uint ph = (hi6[i] + 0x60606060u) ^ 0x80808080u;
        h0 += dot_ss(xa[0][i], pl, 0);
        l0s += dot_su(pl, xa[2][i], 0);
        h1 += dot_ss(xa[1][i], ph, 0);
        l1s += dot_su(ph, xa[3][i], 0);
    }
    // |sums| <= 16 * 32 * 32767 < 2^24: exact as floats
    float s0 = float(h0 * 256 + l0s), s1 = float(h1 * 256 + l1s);
    vec4 f = uintBitsToFloat(xa[4]);
    return d * (s_lo * f.x * s0 + s_hi * f.y * s1);
}

#else
#error "the integer-dot items serve Q4_K and Q6_K only"
#endif
