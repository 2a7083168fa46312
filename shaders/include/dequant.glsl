// Weight blocks of every supported GGUF type, read from the weight buffer (set 0) as
// 16-bit words, since blocks of 18, 22, 34 or 210 bytes sit at any even address.
// The type is chosen at compile time: -DTYPE_Q4_0 ... -DTYPE_BF16. Each type defines
//   QK, BB                 elements and bytes per block (1 element for F32/F16/BF16)
//   deq(bb, e)             element e of the block at byte bb (get_rows, mul_mm)
//   NPART, dot_part(...)   a block split in NPART parts for matrix-vector products:
//                          dot of part p of the block with x starting at float xi
// Layouts and the arithmetic order follow src/core/quant_legacy.c and quant_k.c.
layout(set = 0, binding = 0) readonly buffer WB16 { uint16_t w16[]; };

uint ld16(uint b) { return uint(w16[b >> 1]); }
uint ld8(uint b) { return (ld16(b & ~1u) >> ((b & 1u) << 3)) & 0xffu; }
uint ld32(uint b) { return ld16(b) | (ld16(b + 2u) << 16); }
float ldh(uint b) { return unpackHalf2x16(ld16(b)).x; }
int sext8(uint v) { return int(v << 24) >> 24; }

// x: the f32 activations (set 1).
layout(set = 1, binding = 0) readonly buffer XB { float xf[]; };

#if defined(TYPE_F32)
#define QK 1u
#define BB 4u
#define NPART 1u
float deq(uint bb, uint e) { return uintBitsToFloat(ld32(bb)); }
float dot_part(uint bb, uint p, uint xi) { return deq(bb, 0u) * xf[xi]; }

#elif defined(TYPE_F16)
#define QK 1u
#define BB 2u
#define NPART 1u
float deq(uint bb, uint e) { return ldh(bb); }
float dot_part(uint bb, uint p, uint xi) { return ldh(bb) * xf[xi]; }

#elif defined(TYPE_BF16)
#define QK 1u
#define BB 2u
#define NPART 1u
float deq(uint bb, uint e) { return uintBitsToFloat(ld16(bb) << 16); }
float dot_part(uint bb, uint p, uint xi) { return deq(bb, 0u) * xf[xi]; }

#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
// Element j < 16: low nibble of qs[j]; j + 16: its high nibble; Q5: bit e of qh.
#define QK 32u
#if defined(TYPE_Q4_0)
#define BB 18u
#define QS 2u
#elif defined(TYPE_Q4_1)
#define BB 20u
#define QS 4u
#elif defined(TYPE_Q5_0)
#define BB 22u
#define QS 6u
#define QH 2u
#else
#define BB 24u
#define QS 8u
#define QH 4u
#endif
#define NPART 4u
uint nib(uint bb, uint e) {
    uint q = (ld8(bb + QS + (e & 15u)) >> ((e >> 4) << 2)) & 15u;
#ifdef QH
    q |= ((ld32(bb + QH) >> e) & 1u) << 4;
#endif
    return q;
}
float deq(uint bb, uint e) {
    float d = ldh(bb);
#if defined(TYPE_Q4_0)
    return d * (float(nib(bb, e)) - 8.0);
#elif defined(TYPE_Q5_0)
    return d * (float(nib(bb, e)) - 16.0);
#else
    float scaled = d * float(nib(bb, e));
    return scaled + ldh(bb + 2u);
#endif
}
// Part p: bytes qs[4p .. 4p+3], i.e. elements 4p.. (low nibbles) and 16+4p.. (high).
float dot_part(uint bb, uint p, uint xi) {
    uint q4 = ld32(bb + QS + 4u * p);
#ifdef QH
    uint qh = ld32(bb + QH);
#endif
    float sq = 0.0, sx = 0.0;
    for (uint i = 0u; i < 4u; i++) {
        uint lo = (q4 >> (8u * i)) & 15u, hi = (q4 >> (8u * i + 4u)) & 15u;
#ifdef QH
        lo |= ((qh >> (4u * p + i)) & 1u) << 4;
        hi |= ((qh >> (16u + 4u * p + i)) & 1u) << 4;
#endif
        float xl = xf[xi + 4u * p + i], xh = xf[xi + 16u + 4u * p + i];
        sq += xl * float(lo) + xh * float(hi);
        sx += xl + xh;
    }
    float d = ldh(bb);
#if defined(TYPE_Q4_0)
    return d * (sq - 8.0 * sx);
#elif defined(TYPE_Q5_0)
    return d * (sq - 16.0 * sx);
#else
    return d * sq + ldh(bb + 2u) * sx;
#endif
}

#elif defined(TYPE_Q8_0)
#define QK 32u
#define BB 34u
#define NPART 4u
float deq(uint bb, uint e) { return float(sext8(ld8(bb + 2u + e))) * ldh(bb); }
float dot_part(uint bb, uint p, uint xi) {
    float s = 0.0;
    for (uint i = 0u; i < 4u; i++) {
        uint v = ld16(bb + 2u + 8u * p + 2u * i);
        s += float(sext8(v & 0xffu)) * xf[xi + 8u * p + 2u * i] +
             float(sext8(v >> 8)) * xf[xi + 8u * p + 2u * i + 1u];
    }
    return s * ldh(bb);
}

#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
// Eight sub-blocks of 32 with 6-bit (scale, min) pairs packed in 12 bytes at +4.
#define QK 256u
#if defined(TYPE_Q4_K)
#define BB 144u
#define QS 16u
#else
#define BB 176u
#define QS 48u
#define QH 16u
#endif
#define NPART 16u
void scale_min(uint bb, uint b, out float sc, out float mn) {
    uint s = bb + 4u;
    if (b < 4u) {
        sc = float(ld8(s + b) & 63u);
        mn = float(ld8(s + b + 4u) & 63u);
    } else {
        sc = float((ld8(s + b + 4u) & 15u) | ((ld8(s + b - 4u) >> 6) << 4));
        mn = float((ld8(s + b + 4u) >> 4) | ((ld8(s + b) >> 6) << 4));
    }
}
float deq(uint bb, uint e) {
    uint b = e >> 5, l = e & 31u;
    uint q = (ld8(bb + QS + 32u * (b >> 1) + l) >> (4u * (b & 1u))) & 15u;
#ifdef QH
    q |= ((ld8(bb + QH + l) >> b) & 1u) << 4;
#endif
    float sc, mn;
    scale_min(bb, b, sc, mn);
    float dl = ldh(bb) * sc, ml = ldh(bb + 2u) * mn;
    float scaled = dl * float(q);
    return scaled - ml;
}
// Part p: chunk c = p / 4 of 32 qs bytes, bytes l0 .. l0+7 (l0 = 8 (p % 4)): their low
// nibbles are sub-block 2c, their high nibbles sub-block 2c + 1.
float dot_part(uint bb, uint p, uint xi) {
    uint c = p >> 2, l0 = (p & 3u) << 3;
    uint qa = ld32(bb + QS + 32u * c + l0), qb = ld32(bb + QS + 32u * c + l0 + 4u);
#ifdef QH
    uint ha = ld32(bb + QH + l0), hb = ld32(bb + QH + l0 + 4u);
#endif
    uint xl = xi + 64u * c + l0, xh = xl + 32u;
    float sl = 0.0, sh = 0.0, xsl = 0.0, xsh = 0.0;
    for (uint i = 0u; i < 8u; i++) {
        uint byte = ((i < 4u ? qa : qb) >> (8u * (i & 3u))) & 0xffu;
        uint lo = byte & 15u, hi = byte >> 4;
#ifdef QH
        uint hbyte = ((i < 4u ? ha : hb) >> (8u * (i & 3u))) & 0xffu;
        lo |= ((hbyte >> (2u * c)) & 1u) << 4;
        hi |= ((hbyte >> (2u * c + 1u)) & 1u) << 4;
#endif
        float a = xf[xl + i], b = xf[xh + i];
        sl += a * float(lo);
        sh += b * float(hi);
        xsl += a;
        xsh += b;
    }
    float sc0, mn0, sc1, mn1;
    scale_min(bb, 2u * c, sc0, mn0);
    scale_min(bb, 2u * c + 1u, sc1, mn1);
    float d = ldh(bb), dm = ldh(bb + 2u);
    return d * (sc0 * sl + sc1 * sh) - dm * (mn0 * xsl + mn1 * xsh);
}

#elif defined(TYPE_Q6_K)
// ql[128] at 0, qh[64] at 128, int8 scales[16] at 192 (one per 16 elements), d at 208.
#define QK 256u
#define BB 210u
#define NPART 16u
float deq(uint bb, uint e) {
    uint half_ = e >> 7, r = e & 127u;
    uint low4 = (ld8(bb + 64u * half_ + (r & 63u)) >> (4u * (r >> 6))) & 15u;
    uint high2 = (ld8(bb + 128u + 32u * half_ + (r & 31u)) >> (2u * (r >> 5))) & 3u;
    int q = int(low4 | (high2 << 4)) - 32;
    float dl = ldh(bb + 208u) * float(sext8(ld8(bb + 192u + (e >> 4))));
    return dl * float(q);
}
// Part p: elements 16p .. 16p+15, which share one scale and one shift of ql and qh.
float dot_part(uint bb, uint p, uint xi) {
    uint half_ = p >> 3, r0 = (p & 7u) << 4;
    uint lb = bb + 64u * half_ + (r0 & 63u), hb = bb + 128u + 32u * half_ + (r0 & 31u);
    uint ls = 4u * (r0 >> 6), hs = 2u * (r0 >> 5);
    float s = 0.0;
    for (uint i = 0u; i < 16u; i += 2u) {
        uint l2 = ld16(lb + i), h2 = ld16(hb + i);
        int q0 = int(((l2 >> ls) & 15u) | (((h2 >> hs) & 3u) << 4)) - 32;
        int q1 = int(((l2 >> (8u + ls)) & 15u) | (((h2 >> (8u + hs)) & 3u) << 4)) - 32;
        s += float(q0) * xf[xi + 16u * p + i] + float(q1) * xf[xi + 16u * p + i + 1u];
    }
    return s * (ldh(bb + 208u) * float(sext8(ld8(bb + 192u + p))));
}

#else
#error "no weight type selected (-DTYPE_...)"
#endif

// Matrix-vector parts (mul_mv.comp): the same products with wider loads where the block
// layout allows. Q4_K / Q5_K blocks (144 / 176 bytes) are 16-byte aligned in any row that
// starts 16-byte aligned, so a part is one 16-byte load of qs (32 elements: 16 bytes of a
// 32-byte chunk, low nibbles one sub-block, high nibbles the next) and x as vec4.
layout(set = 0, binding = 0) readonly buffer WB128 { uvec4 w128[]; };
layout(set = 0, binding = 0) readonly buffer WB32 { uint w32[]; };
layout(set = 1, binding = 0) readonly buffer XB4 { vec4 xf4[]; };

#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#define NPART_MV 8u
#include "mv_arith.glsl"
// 6-bit scale and min of sub-block b from the 12 scale bytes held as three words.
void scale_min_w(uvec3 s, uint b, out float sc, out float mn) {
    scale_min_k(uvec4(0u, s), b, sc, mn);
}
float dot_part_mv(uint bb, uint p, uint xi) {
    if (((bb & 15u) | (xi & 3u)) != 0u) { // unaligned: two narrow parts
        return dot_part(bb, 2u * p, xi) + dot_part(bb, 2u * p + 1u, xi);
    }
    uint c = p >> 1, l0 = (p & 1u) << 4;
    uvec4 q = w128[(bb + QS + 32u * c + l0) >> 4];
#ifdef QH
    uvec4 h = w128[(bb + QH + l0) >> 4];
#endif
    uvec3 s = uvec3(w32[(bb + 4u) >> 2], w32[(bb + 8u) >> 2], w32[(bb + 12u) >> 2]);
    uint xl = (xi + 64u * c + l0) >> 2, xh = xl + 8u;
    float sl = 0.0, sh = 0.0, xsl = 0.0, xsh = 0.0;
    for (uint i = 0u; i < 4u; i++) {
        vec4 a = xf4[xl + i], b = xf4[xh + i];
        uint w = q[i];
        vec4 lo = vec4(w & 15u, (w >> 8) & 15u, (w >> 16) & 15u, (w >> 24) & 15u);
        vec4 hi = vec4((w >> 4) & 15u, (w >> 12) & 15u, (w >> 20) & 15u, w >> 28);
#ifdef QH
        uint hw = h[i];
        uint sl_ = 2u * c, sh_ = 2u * c + 1u;
        lo += 16.0 * vec4((hw >> sl_) & 1u, (hw >> (8u + sl_)) & 1u, (hw >> (16u + sl_)) & 1u, (hw >> (24u + sl_)) & 1u);
        hi += 16.0 * vec4((hw >> sh_) & 1u, (hw >> (8u + sh_)) & 1u, (hw >> (16u + sh_)) & 1u, (hw >> (24u + sh_)) & 1u);
#endif
        sl += dot(a, lo);
        sh += dot(b, hi);
        xsl += a.x + a.y + a.z + a.w;
        xsh += b.x + b.y + b.z + b.w;
    }
    float sc0, mn0, sc1, mn1;
    scale_min_w(s, 2u * c, sc0, mn0);
    scale_min_w(s, 2u * c + 1u, sc1, mn1);
    vec2 dm = unpackHalf2x16(w32[bb >> 2]);
    return dm.x * (sc0 * sl + sc1 * sh) - dm.y * (mn0 * xsl + mn1 * xsh);
}
#else
#define NPART_MV NPART
float dot_part_mv(uint bb, uint p, uint xi) { return dot_part(bb, p, xi); }
#endif
