// Items of the fast matrix-vector kernel (mul_mvf.comp): a row is cut into items of a
// few 16-byte (or 8/4-byte) aligned loads each. Types whose GGUF blocks are not 16-byte
// multiples (Q4_0..Q8_0: 18-34 bytes, Q6_K: 210) are first repacked by repack.comp into
// planes (one array per block field, blocks in row-major order), so every load is aligned;
// Q4_K / Q5_K and F16 / BF16 / F32 rows are read in place.
//
// Quant values become floats through exponent bits (mv_arith.glsl).
//
// Per type: QK (elements per block), IPB (items per block), XN (vec4s of x per item),
//   x_item(xrow, b, p, xa)     the item's x values (xrow: vec4 index of the token's x row)
//   item_dot(sel, row, b, p, xa, xs)  dot of item p of block b of a row with xa
// xsum-dependent terms (Q4_1, Q5_1, Q4_K, Q5_K mins) use x sums made once per item.

// Two matrices can be read (sel 0: set 0, sel 1: set 3, for the fused gate/up product);
// sel is a literal at every call, so the branches below fold away.
layout(set = 0, binding = 0) readonly buffer MW128 { uvec4 mw128[]; };
layout(set = 0, binding = 0) readonly buffer MW64 { uvec2 mw64[]; };
layout(set = 0, binding = 0) readonly buffer MW32 { uint mw32[]; };
layout(set = 0, binding = 0) readonly buffer MW16 { uint16_t mw16[]; };
layout(set = 3, binding = 0) readonly buffer MU128 { uvec4 mu128[]; };
layout(set = 3, binding = 0) readonly buffer MU64 { uvec2 mu64[]; };
layout(set = 3, binding = 0) readonly buffer MU32 { uint mu32[]; };
layout(set = 3, binding = 0) readonly buffer MU16 { uint16_t mu16[]; };
layout(set = 1, binding = 0) readonly buffer MX4 { vec4 mx4[]; };

layout(push_constant) uniform P {
    uint x_off, x_stride;       // floats (x_off a multiple of 4)
    uint o_off, o_stride;       // floats
    uint K, N;                  // row length, rows
    uint row_bytes;             // in-place layouts: bytes per row
    uint w_off, pl1, pl2, pl3;  // matrix 0: first row (in place) or planes 0..3 (repacked)
    uint u_off, ul1, ul2, ul3;  // matrix 1, the same
    uint n_tok;                 // mul_mmc.comp: tokens (rows of x)
#ifdef MV_PUSH_EXTRA
    MV_PUSH_EXTRA               // the including shader's own fields
#endif
} p;

#ifdef MV_SEGMENTS
// Matrix 0's first row (or plane 0) for the rows being summed: the including shader sets
// it per row group (several matrices side by side in one window).
uint g_w_off;
#endif

uvec4 ld128(uint sel, uint byte) { if (sel == 0u) return mw128[byte >> 4]; return mu128[byte >> 4]; }
uvec2 ld64(uint sel, uint byte) { if (sel == 0u) return mw64[byte >> 3]; return mu64[byte >> 3]; }
uint ld32(uint sel, uint byte) { if (sel == 0u) return mw32[byte >> 2]; return mu32[byte >> 2]; }
uint ld16(uint sel, uint byte) {
    if (sel == 0u) return uint(mw16[byte >> 1]);
    return uint(mu16[byte >> 1]);
}
uint plane(uint sel, uint i) {
#ifdef MV_SEGMENTS
    if (i == 0u && sel == 0u) return g_w_off;
#endif
    if (i == 0u) return sel == 0u ? p.w_off : p.u_off;
    if (i == 1u) return sel == 0u ? p.pl1 : p.ul1;
    if (i == 2u) return sel == 0u ? p.pl2 : p.ul2;
    return sel == 0u ? p.pl3 : p.ul3;
}

#include "mv_arith.glsl"

#if defined(TYPE_Q6_K)
// Item p of Q6_K block b of a row, from the repacked planes (ql at pl0, qh at pl1, int8
// scales at pl2, d at pl3): its two runs of 16 six-bit values as bytes (lo6: elements
// 128 h + 16 j.., hi6: 128 h + 64 + 16 j.., h = p / 4, j = p % 4), their scales and d.
void q6k_item(uint sel, uint row, uint b, uint ip, out uvec4 lo6, out uvec4 hi6, out float s_lo,
              out float s_hi, out float d) {
    uint L = row * (p.K / 256u) + b;
    uint h = ip >> 2, j = ip & 3u;
    uvec4 ql = ld128(sel, plane(sel, 0u) + L * 128u + 64u * h + 16u * j);
    uvec4 qh = ld128(sel, plane(sel, 1u) + L * 64u + 32u * h + 16u * (j & 1u));
    uvec2 sc = ld64(sel, plane(sel, 2u) + L * 16u + 8u * h);
    d = unpackHalf2x16(ld16(sel, plane(sel, 3u) + 2u * L)).x;
    uint fs = 2u * (j >> 1);
    for (uint i = 0u; i < 4u; i++) {
        uint hl = qh[i] >> fs;
        lo6[i] = (ql[i] & 0x0F0F0F0Fu) | ((hl << 4) & 0x30303030u);
        hi6[i] = ((ql[i] >> 4) & 0x0F0F0F0Fu) | (hl & 0x30303030u);
    }
    s_lo = float(int(sc.x << (24u - 8u * j)) >> 24);
    s_hi = float(int(sc.y << (24u - 8u * j)) >> 24);
}
#endif

#ifdef XQ16 // x as 16-bit integers (quant_q16.comp): the integer-dot items
#include "mvq_items.glsl"
#else
#define XT vec4

#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
// In place: header uvec4 at the block (d, dmin, 12 scale bytes); item p = 16 bytes of the
// 32-byte chunk c = p / 2 (low nibbles: sub-block 2c, high: 2c + 1), x as two runs of 16.
#define QK 256u
#define IPB 8u
#define XN 8u
#if defined(TYPE_Q4_K)
#define BB 144u
#define QSO 16u
#else
#define BB 176u
#define QSO 48u
#endif
void x_item(uint xrow, uint b, uint ip, out XT xa[XN]) {
    uint xb = xrow + b * (QK / 4u);
    uint c = ip >> 1, l0 = (ip & 1u) << 2; // l0 in vec4s
    uint lo = xb + 16u * c + l0;
    for (uint i = 0u; i < 4u; i++) {
        xa[i] = mx4[lo + i];
        xa[4u + i] = mx4[lo + 8u + i];
    }
}
float item_dot(uint sel, uint row, uint b, uint ip, XT xa[XN], vec2 xs) {
    uint bb = plane(sel, 0u) + row * p.row_bytes + b * BB;
    uint c = ip >> 1, l0 = (ip & 1u) << 4;
    uvec4 h = ld128(sel, bb);
    uvec4 q = ld128(sel, bb + QSO + 32u * c + l0);
#if defined(TYPE_Q5_K)
    uvec4 qh = ld128(sel, bb + 16u + l0);
#endif
    vec3 al = vec3(0.0), ah = vec3(0.0);
    for (uint i = 0u; i < 4u; i++) {
        uint pl = q[i] & 0x0F0F0F0Fu, ph = (q[i] >> 4) & 0x0F0F0F0Fu;
#if defined(TYPE_Q5_K)
        pl |= ((qh[i] >> (2u * c)) & 0x01010101u) << 4;
        ph |= ((qh[i] >> (2u * c + 1u)) & 0x01010101u) << 4;
#endif
        acc4(al, pl, xa[i], 0.0);
        acc4(ah, ph, xa[4u + i], 0.0);
    }
    float sc0, mn0, sc1, mn1;
    scale_min_k(h, 2u * c, sc0, mn0);
    scale_min_k(h, 2u * c + 1u, sc1, mn1);
    vec2 dm = unpackHalf2x16(h.x);
    return dm.x * (sc0 * acc_total(al) + sc1 * acc_total(ah)) - dm.y * (mn0 * xs.x + mn1 * xs.y);
}
vec2 x_sums(XT xa[XN]) {
    return vec2(hsum(xa[0] + xa[1] + xa[2] + xa[3]), hsum(xa[4] + xa[5] + xa[6] + xa[7]));
}

#elif defined(TYPE_Q6_K)
// Planes: ql (128 bytes a block) at pl0, qh (64) at pl1, int8 scales (16) at pl2, d (f16)
// at pl3. Item p = (half h = p / 4, j = p % 4): ql bytes 64h + 16j.. hold elements 16j..
// (low nibbles) and 64 + 16j.. (high) of the half; their 2 high bits are field j / 2
// (and j / 2 + 2) of qh bytes 32h + 16 (j % 2)..; scales 8h + j and 8h + 4 + j.
#define QK 256u
#define IPB 8u
#define XN 8u
void x_item(uint xrow, uint b, uint ip, out XT xa[XN]) {
    uint xb = xrow + b * (QK / 4u);
    uint h = ip >> 2, j = ip & 3u;
    uint lo = xb + 32u * h + 4u * j;
    for (uint i = 0u; i < 4u; i++) {
        xa[i] = mx4[lo + i];
        xa[4u + i] = mx4[lo + 16u + i];
    }
}
vec2 x_sums(XT xa[XN]) { return vec2(0.0); }
float item_dot(uint sel, uint row, uint b, uint ip, XT xa[XN], vec2 xs) {
    uvec4 lo6, hi6;
    float s_lo, s_hi, d;
    q6k_item(sel, row, b, ip, lo6, hi6, s_lo, s_hi, d);
    vec3 al = vec3(0.0), ah = vec3(0.0);
    for (uint i = 0u; i < 4u; i++) {
        acc4(al, lo6[i], xa[i], 32.0);
        acc4(ah, hi6[i], xa[4u + i], 32.0);
    }
    return d * (s_lo * acc_total(al) + s_hi * acc_total(ah));
}

#elif defined(TYPE_Q8_0)
// Planes: qs (32 bytes a block) at pl0, d (f16) at pl1. Item p: bytes 8p .. 8p+7.
#define QK 32u
#define IPB 4u
#define XN 2u
void x_item(uint xrow, uint b, uint ip, out XT xa[XN]) {
    uint xb = xrow + b * (QK / 4u);
    xa[0] = mx4[xb + 2u * ip];
    xa[1] = mx4[xb + 2u * ip + 1u];
}
vec2 x_sums(XT xa[XN]) { return vec2(0.0); }
float item_dot(uint sel, uint row, uint b, uint ip, XT xa[XN], vec2 xs) {
    uint L = row * (p.K / QK) + b;
    uvec2 q = ld64(sel, plane(sel, 0u) + L * 32u + 8u * ip);
    float d = unpackHalf2x16(ld16(sel, plane(sel, 1u) + 2u * L)).x;
    vec2 a = vec2(0.0);
    acc4_8(a, q.x, xa[0]);
    acc4_8(a, q.y, xa[1]);
    return d * (a.x + a.y * (1.0 / 256.0));
}

#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
// Planes: qs (16 bytes a block) at pl0; d (f16) or d, m (f16 pair) at pl1; Q5: qh (one
// word a block) at pl2. Item p: qs bytes 4p .. 4p+3, i.e. elements 4p.. (low nibbles,
// qh bits 4p..) and 16 + 4p.. (high nibbles, qh bits 16 + 4p..).
#define QK 32u
#define IPB 4u
#define XN 2u
void x_item(uint xrow, uint b, uint ip, out XT xa[XN]) {
    uint xb = xrow + b * (QK / 4u);
    xa[0] = mx4[xb + ip];
    xa[1] = mx4[xb + 4u + ip];
}
#if defined(TYPE_Q4_1) || defined(TYPE_Q5_1)
vec2 x_sums(XT xa[XN]) { return vec2(hsum(xa[0] + xa[1]), 0.0); }
#else
vec2 x_sums(XT xa[XN]) { return vec2(0.0); }
#endif
float item_dot(uint sel, uint row, uint b, uint ip, XT xa[XN], vec2 xs) {
    uint L = row * (p.K / QK) + b;
    uint w = ld32(sel, plane(sel, 0u) + L * 16u + 4u * ip);
    uint pl = w & 0x0F0F0F0Fu, ph = (w >> 4) & 0x0F0F0F0Fu;
#if defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
    uint qh = ld32(sel, plane(sel, 2u) + 4u * L);
    pl |= spread4((qh >> (4u * ip)) & 15u);
    ph |= spread4((qh >> (16u + 4u * ip)) & 15u);
#endif
#if defined(TYPE_Q4_0)
    const float off = 8.0;
#elif defined(TYPE_Q5_0)
    const float off = 16.0;
#else
    const float off = 0.0;
#endif
    vec3 a = vec3(0.0);
    acc4(a, pl, xa[0], off);
    acc4(a, ph, xa[1], off);
#if defined(TYPE_Q4_1) || defined(TYPE_Q5_1)
    vec2 dm = unpackHalf2x16(ld32(sel, plane(sel, 1u) + 4u * L));
    return dm.x * acc_total(a) + dm.y * xs.x;
#else
    return unpackHalf2x16(ld16(sel, plane(sel, 1u) + 2u * L)).x * acc_total(a);
#endif
}

#elif defined(TYPE_F16) || defined(TYPE_BF16)
// In place: item = 8 elements, one 16-byte load (rows of a multiple of 8 elements).
#define QK 8u
#define IPB 1u
#define XN 2u
void x_item(uint xrow, uint b, uint ip, out XT xa[XN]) {
    uint xb = xrow + b * (QK / 4u);
    xa[0] = mx4[xb];
    xa[1] = mx4[xb + 1u];
}
vec2 x_sums(XT xa[XN]) { return vec2(0.0); }
vec2 two(uint w) {
#if defined(TYPE_F16)
    return unpackHalf2x16(w);
#else
    return vec2(uintBitsToFloat(w << 16), uintBitsToFloat(w & 0xFFFF0000u));
#endif
}
float item_dot(uint sel, uint row, uint b, uint ip, XT xa[XN], vec2 xs) {
    uvec4 q = ld128(sel, plane(sel, 0u) + row * p.row_bytes + 16u * b);
    return dot(vec4(two(q.x), two(q.y)), xa[0]) + dot(vec4(two(q.z), two(q.w)), xa[1]);
}

#elif defined(TYPE_F32)
#define QK 4u
#define IPB 1u
#define XN 1u
void x_item(uint xrow, uint b, uint ip, out XT xa[XN]) { xa[0] = mx4[xrow + b]; }
vec2 x_sums(XT xa[XN]) { return vec2(0.0); }
float item_dot(uint sel, uint row, uint b, uint ip, XT xa[XN], vec2 xs) {
    return dot(uintBitsToFloat(ld128(sel, plane(sel, 0u) + row * p.row_bytes + 16u * b)), xa[0]);
}

#else
#error "no weight type selected (-DTYPE_...)"
#endif
#endif // XQ16
