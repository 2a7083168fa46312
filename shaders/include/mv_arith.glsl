// The float arithmetic of the mat-vec items (mv_items.glsl, dl_items.glsl): quant values
// become floats without int-to-float conversion (a quarter-rate instruction on NVIDIA): a
// field of up to 7 bits placed at bit p of a word ORed with 0x4B000000 is the float
// 2^23 + q 2^p, exact; subtracting 2^23 + off 2^p leaves (q - off) 2^p. Products are
// summed per bit position p in separate accumulators and scaled by 2^-p at the end.

const uint MAGIC = 0x4B000000u;
const float MAGICF = 8388608.0;

// q - off for a field at bit 0 / 8 / 16 of v (v holds only that field there).
float f0(uint v, float off) { return uintBitsToFloat(v | MAGIC) - (MAGICF + off); }
float f8(uint v, float off) { return uintBitsToFloat(v | MAGIC) - (MAGICF + off * 256.0); }
float f16(uint v, float off) { return uintBitsToFloat(v | MAGIC) - (MAGICF + off * 65536.0); }

// Four fields of at most 7 bits in the bytes of w, times x: sums kept per bit position
// in a (a.x: 2^0, a.y: 2^8, a.z: 2^16).
void acc4(inout vec3 a, uint w, vec4 x, float off) {
    a.x += x.x * f0(w & 0x7Fu, off);
    a.y += x.y * f8(w & 0x7F00u, off);
    a.z += x.z * f16(w & 0x7F0000u, off) + x.w * f16((w >> 8) & 0x7F0000u, off);
}
float acc_total(vec3 a) { return a.x + a.y * (1.0 / 256.0) + a.z * (1.0 / 65536.0); }

float hsum(vec4 v) { return (v.x + v.y) + (v.z + v.w); }

void scale_min_k(uvec4 h, uint b, out float sc, out float mn) {
    if (b < 4u) {
        sc = float((h.y >> (8u * b)) & 63u);
        mn = float((h.z >> (8u * b)) & 63u);
    } else {
        uint k = b - 4u;
        uint hi = (h.w >> (8u * k)) & 0xffu;
        sc = float((hi & 15u) | (((h.y >> (8u * k + 6u)) & 3u) << 4));
        mn = float((hi >> 4) | (((h.z >> (8u * k + 6u)) & 3u) << 4));
    }
}

// Four int8 in w (as unsigned + 128 after the xor) times x.
void acc4_8(inout vec2 a, uint w, vec4 x) {
    uint v = w ^ 0x80808080u;
    a.x += x.x * f0(v & 0xFFu, 128.0);
    a.y += x.y * f8(v & 0xFF00u, 128.0) + x.z * f8((v >> 8) & 0xFF00u, 128.0) +
           x.w * f8((v >> 16) & 0xFF00u, 128.0);
}

// Bits 0..3 of v spread to bit 4 of each byte.
uint spread4(uint v) { return ((v * 0x00204081u) & 0x01010101u) << 4; }
