#version 450
// Repacks GGUF blocks whose size is not a multiple of 16 bytes (Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q6_K) into planes, one per block field, so that mul_mvf.comp reads them with
// aligned 16/8/4-byte loads (plane layouts: include/mv_items.glsl). One invocation per
// block; run once per weight matrix, the result cached by the backend (vk_repack.c).
#extension GL_EXT_shader_16bit_storage : require

layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer SB { uint16_t s16[]; };
layout(set = 2, binding = 0) writeonly buffer DB { uint d32[]; };
layout(set = 2, binding = 0) writeonly buffer DH { uint16_t d16[]; };

layout(push_constant) uniform P {
    uint src_off, row_bytes, nb, n_blocks;
    uint pl0, pl1, pl2, pl3;
} p;

uint ld16(uint b) { return uint(s16[b >> 1]); }
uint ld32(uint b) { return ld16(b) | (ld16(b + 2u) << 16); }
void copy_words(uint src, uint dst, uint n) {
    for (uint i = 0u; i < n; i++) d32[(dst >> 2) + i] = ld32(src + 4u * i);
}

void main() {
    uint L = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (L >= p.n_blocks) return;
    uint src = p.src_off + (L / p.nb) * p.row_bytes;
#if defined(TYPE_Q4_0)
    src += (L % p.nb) * 18u;
    copy_words(src + 2u, p.pl0 + 16u * L, 4u);
    d16[(p.pl1 >> 1) + L] = uint16_t(ld16(src));
#elif defined(TYPE_Q4_1)
    src += (L % p.nb) * 20u;
    copy_words(src + 4u, p.pl0 + 16u * L, 4u);
    d32[(p.pl1 >> 2) + L] = ld32(src);
#elif defined(TYPE_Q5_0)
    src += (L % p.nb) * 22u;
    copy_words(src + 6u, p.pl0 + 16u * L, 4u);
    d16[(p.pl1 >> 1) + L] = uint16_t(ld16(src));
    d32[(p.pl2 >> 2) + L] = ld32(src + 2u);
#elif defined(TYPE_Q5_1)
    src += (L % p.nb) * 24u;
    copy_words(src + 8u, p.pl0 + 16u * L, 4u);
    d32[(p.pl1 >> 2) + L] = ld32(src);
    d32[(p.pl2 >> 2) + L] = ld32(src + 4u);
#elif defined(TYPE_Q8_0)
    src += (L % p.nb) * 34u;
    copy_words(src + 2u, p.pl0 + 32u * L, 8u);
    d16[(p.pl1 >> 1) + L] = uint16_t(ld16(src));
#elif defined(TYPE_Q6_K)
    src += (L % p.nb) * 210u;
    copy_words(src, p.pl0 + 128u * L, 32u);
    copy_words(src + 128u, p.pl1 + 64u * L, 16u);
    copy_words(src + 192u, p.pl2 + 16u * L, 4u);
    d16[(p.pl3 >> 1) + L] = uint16_t(ld16(src + 208u));
#else
#error "no repacked type selected (-DTYPE_...)"
#endif
}
