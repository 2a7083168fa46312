// Mat-vec items of decode_layer.comp, read through buffer device addresses so one kernel
// can reach every matrix of a layer. The same items and float tricks as mv_items.glsl
// (exponent-bit conversion, sums per bit position), one set of functions per weight type
// instead of one type per compiled shader, since a layer mixes types (Q4_K_M files: Q4_K
// and Q6_K; the 270M's 640-wide rows: Q5_0 and Q8_0). Per type T:
//   T_x_item(xa, xb, ip, xv)   item ip's x values (xb: vec4 index of the block's x)
//   T_load(m, row, b, ip)      the weight words of item ip of block b of a row (a TW)
//   T_dot(w, ip, xv, xs)       their dot with xv
// Repacked types (Q4_0, Q5_0, Q8_0, Q6_K) read the aligned planes of vk_repack.c.

layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer W4 { uvec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) readonly buffer W2 { uvec2 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) readonly buffer W1 { uint v[]; };
// x of a mat-vec: written before the phase that reads it and not read earlier in the
// dispatch, so it may come through the (non-coherent) L1 cache like the weights
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer X4 { vec4 v[]; };

// A weight matrix of the layer record (decode_layer.comp's Rec, vk_persist.c's dl_mat).
struct Mat {
    uint64_t base;      // row 0 (in place) or plane 0 (repacked)
    uint pl1, pl2, pl3; // planes 1..3: bytes from base
    uint type;          // DL_*
    uint rows, k, row_bytes;
    uint gl, nr;        // lanes per row group, rows per group (vk_persist.c picks them)
    uint pad;
};

#define DL_Q4K 0u
#define DL_Q6K 1u
#define DL_Q50 2u
#define DL_Q80 3u
#define DL_Q40 4u

uvec4 ld128(uint64_t a, uint byte) { return W4(a).v[byte >> 4]; }
uvec2 ld64(uint64_t a, uint byte) { return W2(a).v[byte >> 3]; }
uint ld32(uint64_t a, uint byte) { return W1(a).v[byte >> 2]; }
uint ld16(uint64_t a, uint byte) { return (ld32(a, byte) >> (8u * (byte & 2u))) & 0xFFFFu; }

#include "mv_arith.glsl"

// Q4_K in place: item ip = 16 bytes of 32-byte chunk c = ip / 2 (low nibbles: sub-block
// 2c, high: 2c + 1), x as two runs of 16 values.
void q4k_x_item(uint64_t xa, uint xb, uint ip, out vec4 xv[8]) {
    uint c = ip >> 1, l0 = (ip & 1u) << 2;
    uint lo = xb + 16u * c + l0;
    for (uint i = 0u; i < 4u; i++) {
        xv[i] = X4(xa).v[lo + i];
        xv[4u + i] = X4(xa).v[lo + 8u + i];
    }
}
vec2 q4k_x_sums(vec4 xv[8]) {
    return vec2(hsum(xv[0] + xv[1] + xv[2] + xv[3]), hsum(xv[4] + xv[5] + xv[6] + xv[7]));
}
// An item's weight words are loaded apart from their arithmetic, so a lane can have
// several items' loads in flight (dl_mv.glsl).
struct Q4KW { uvec4 h, q; };
Q4KW q4k_load(Mat m, uint row, uint b, uint ip) {
    uint bb = row * m.row_bytes + b * 144u;
    return Q4KW(ld128(m.base, bb), ld128(m.base, bb + 16u + 32u * (ip >> 1) + ((ip & 1u) << 4)));
}
float q4k_dot(Q4KW w, uint ip, vec4 xv[8], vec2 xs) {
    uint c = ip >> 1;
    vec3 al = vec3(0.0), ah = vec3(0.0);
    for (uint i = 0u; i < 4u; i++) {
        acc4(al, w.q[i] & 0x0F0F0F0Fu, xv[i], 0.0);
        acc4(ah, (w.q[i] >> 4) & 0x0F0F0F0Fu, xv[4u + i], 0.0);
    }
    float sc0, mn0, sc1, mn1;
    scale_min_k(w.h, 2u * c, sc0, mn0);
    scale_min_k(w.h, 2u * c + 1u, sc1, mn1);
    vec2 dm = unpackHalf2x16(w.h.x);
    return dm.x * (sc0 * acc_total(al) + sc1 * acc_total(ah)) - dm.y * (mn0 * xs.x + mn1 * xs.y);
}

// Q6_K planes: ql (128 bytes a block), qh (64), int8 scales (16), d (f16). Item ip =
// (half h = ip / 4, j = ip % 4), as mv_items.glsl.
void q6k_x_item(uint64_t xa, uint xb, uint ip, out vec4 xv[8]) {
    uint h = ip >> 2, j = ip & 3u;
    uint lo = xb + 32u * h + 4u * j;
    for (uint i = 0u; i < 4u; i++) {
        xv[i] = X4(xa).v[lo + i];
        xv[4u + i] = X4(xa).v[lo + 16u + i];
    }
}
struct Q6KW { uvec4 ql, qh; uvec2 sc; uint d; };
Q6KW q6k_load(Mat m, uint row, uint b, uint ip) {
    uint L = row * (m.k / 256u) + b, h = ip >> 2, j = ip & 3u;
    return Q6KW(ld128(m.base, L * 128u + 64u * h + 16u * j),
                ld128(m.base, m.pl1 + L * 64u + 32u * h + 16u * (j & 1u)),
                ld64(m.base, m.pl2 + L * 16u + 8u * h), ld16(m.base, m.pl3 + 2u * L));
}
float q6k_dot(Q6KW w, uint ip, vec4 xv[8], vec2 xs) {
    uint j = ip & 3u, fs = 2u * (j >> 1);
    vec3 al = vec3(0.0), ah = vec3(0.0);
    for (uint i = 0u; i < 4u; i++) {
        uint hl = w.qh[i] >> fs;
        acc4(al, (w.ql[i] & 0x0F0F0F0Fu) | ((hl << 4) & 0x30303030u), xv[i], 32.0);
        acc4(ah, ((w.ql[i] >> 4) & 0x0F0F0F0Fu) | (hl & 0x30303030u), xv[4u + i], 32.0);
    }
    float s_lo = float(int(w.sc.x << (24u - 8u * j)) >> 24);
    float s_hi = float(int(w.sc.y << (24u - 8u * j)) >> 24);
    return unpackHalf2x16(w.d).x * (s_lo * acc_total(al) + s_hi * acc_total(ah));
}

// Q8_0 planes: qs (32 bytes a block), d (f16). Item ip: bytes 8 ip .. 8 ip + 7.
void q80_x_item(uint64_t xa, uint xb, uint ip, out vec4 xv[2]) {
    xv[0] = X4(xa).v[xb + 2u * ip];
    xv[1] = X4(xa).v[xb + 2u * ip + 1u];
}
struct Q80W { uvec2 q; uint d; };
Q80W q80_load(Mat m, uint row, uint b, uint ip) {
    uint L = row * (m.k / 32u) + b;
    return Q80W(ld64(m.base, L * 32u + 8u * ip), ld16(m.base, m.pl1 + 2u * L));
}
float q80_dot(Q80W w, uint ip, vec4 xv[2], vec2 xs) {
    vec2 a = vec2(0.0);
    acc4_8(a, w.q.x, xv[0]);
    acc4_8(a, w.q.y, xv[1]);
    return unpackHalf2x16(w.d).x * (a.x + a.y * (1.0 / 256.0));
}

// Q4_0 / Q5_0 planes: qs (16 bytes a block), d (f16), Q5_0: qh (a word a block). Item ip:
// qs bytes 4 ip.., elements 4 ip.. (low nibbles) and 16 + 4 ip.. (high).
void q50_x_item(uint64_t xa, uint xb, uint ip, out vec4 xv[2]) {
    xv[0] = X4(xa).v[xb + ip];
    xv[1] = X4(xa).v[xb + 4u + ip];
}
// qh: 0 for Q4_0 (whose values are offset by 8, Q5_0's by 16: the off field)
struct Q50W { uint w, qh, d; float off; };
Q50W q50_load(Mat m, uint row, uint b, uint ip) {
    uint L = row * (m.k / 32u) + b;
    bool q5 = m.type == DL_Q50;
    return Q50W(ld32(m.base, L * 16u + 4u * ip), q5 ? ld32(m.base, m.pl2 + 4u * L) : 0u,
                ld16(m.base, m.pl1 + 2u * L), q5 ? 16.0 : 8.0);
}
float q50_dot(Q50W w, uint ip, vec4 xv[2], vec2 xs) {
    uint pl = (w.w & 0x0F0F0F0Fu) | spread4((w.qh >> (4u * ip)) & 15u);
    uint ph = ((w.w >> 4) & 0x0F0F0F0Fu) | spread4((w.qh >> (16u + 4u * ip)) & 15u);
    vec3 a = vec3(0.0);
    acc4(a, pl, xv[0], w.off);
    acc4(a, ph, xv[1], w.off);
    return unpackHalf2x16(w.d).x * acc_total(a);
}
vec2 no_x_sums2(vec4 xv[2]) { return vec2(0.0); }
vec2 no_x_sums8(vec4 xv[8]) { return vec2(0.0); }
