// Weight and activation loading of the matrix-unit prefill kernels (mul_mmc.comp,
// mul_mmcb.comp): fetch() issues the block-field loads of 16 consecutive weights of a row
// from element k (k % 16 == 0; include/mv_items.glsl layouts, repacked planes where the
// type needs them), store16() dequantizes them to f16 into ws from f16vec4 index o.
// The includer declares `shared f16vec4 ws[]` and the specialization constant HDQ
// (1: Q4_K / Q6_K scaled in packed f16 pairs, half the instructions of the f32 path).

struct Raw {
    uvec4 a, b, c;
    uint s;
};

Raw fetch(uint row, uint k) {
    Raw r;
    r.b = uvec4(0u);
    r.c = uvec4(0u);
    r.s = 0u;
#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
    uint bb = p.w_off + row * p.row_bytes + (k / 256u) * BB, e0 = k % 256u;
    uint sb = e0 / 32u, l0 = e0 % 32u;
    r.a = ld128(0u, bb);
    r.b = ld128(0u, bb + QSO + 32u * (sb >> 1) + l0);
#if defined(TYPE_Q5_K)
    r.c = ld128(0u, bb + 16u + l0);
#endif
#elif defined(TYPE_Q6_K)
    uint L = row * (p.K / 256u) + k / 256u, e0 = k % 256u;
    uint h = e0 / 128u, r0 = e0 % 128u;
    r.a = ld128(0u, p.w_off + L * 128u + 64u * h + (r0 & 63u));
    r.b = ld128(0u, p.pl1 + L * 64u + 32u * h + (r0 & 31u));
    r.s = ld32(0u, p.pl2 + L * 16u + ((e0 / 16u) & ~3u));
    r.c.x = ld16(0u, p.pl3 + 2u * L);
#elif defined(TYPE_Q8_0)
    uint L = row * (p.K / 32u) + k / 32u;
    r.a = ld128(0u, p.w_off + L * 32u + (k % 32u));
    r.c.x = ld16(0u, p.pl1 + 2u * L);
#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
    uint L = row * (p.K / 32u) + k / 32u;
    r.a = ld128(0u, p.w_off + L * 16u);
#if defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
    r.s = ld32(0u, p.pl2 + 4u * L);
#endif
#if defined(TYPE_Q4_1) || defined(TYPE_Q5_1)
    r.c.x = ld32(0u, p.pl1 + 4u * L);
#else
    r.c.x = ld16(0u, p.pl1 + 2u * L);
#endif
#elif defined(TYPE_F16)
    uint b = p.w_off + row * p.row_bytes + 2u * k;
    r.a = ld128(0u, b);
    r.b = ld128(0u, b + 16u);
#else
#error "mul_mmc: type not supported"
#endif
    return r;
}

// Conversions off the quarter-rate path: small ints to float by exponent bits (as
// mv_items.glsl), floats to f16 in pairs.
float qf(uint q, float off) { return uintBitsToFloat(q | MAGIC) - (MAGICF + off); }
f16vec4 h4(vec4 v) {
    return f16vec4(unpackFloat2x16(packHalf2x16(v.xy)), unpackFloat2x16(packHalf2x16(v.zw)));
}

void store16(Raw r, uint k, uint o) {
    float v[16];
#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
    uint e0 = k % 256u, sb = e0 / 32u;
    float sc, mn;
    scale_min_k(r.a, sb, sc, mn);
    vec2 dm = unpackHalf2x16(r.a.x);
    float dl = dm.x * sc, ml = dm.y * mn;
    uint sh = 4u * (sb & 1u);
#if defined(TYPE_Q4_K)
    if (HDQ == 1u) { // bytes 0,2 and 1,3 of a word as two f16 pairs (1024 + q, exact)
        f16vec2 d2 = f16vec2(float16_t(dl)), m2 = f16vec2(float16_t(-ml));
        for (uint j = 0u; j < 4u; j++) {
            uint w = r.b[j] >> sh;
            f16vec2 lo = unpackFloat2x16((w & 0x000F000Fu) | 0x64006400u) - f16vec2(1024.0hf);
            f16vec2 hi = unpackFloat2x16(((w >> 8) & 0x000F000Fu) | 0x64006400u) - f16vec2(1024.0hf);
            lo = fma(lo, d2, m2);
            hi = fma(hi, d2, m2);
            ws[o + j] = f16vec4(lo.x, hi.x, lo.y, hi.y);
        }
        return;
    }
#endif
    for (uint i = 0u; i < 16u; i++) {
        uint qq = (r.b[i >> 2] >> (8u * (i & 3u) + sh)) & 15u;
#if defined(TYPE_Q5_K)
        qq |= ((r.c[i >> 2] >> (8u * (i & 3u) + sb)) & 1u) << 4;
#endif
        v[i] = dl * qf(qq, 0.0) - ml;
    }
#elif defined(TYPE_Q6_K)
    uint e0 = k % 256u, r0 = e0 % 128u;
    float sc = float(int(r.s << (24u - 8u * ((e0 / 16u) & 3u))) >> 24);
    float d = unpackHalf2x16(r.c.x).x * sc;
    uint ls = 4u * (r0 >> 6), hs = 2u * (r0 >> 5);
    if (HDQ == 1u) { // 6-bit values per byte, then as Q4_K: f16 pairs 1024 + q
        f16vec2 d2 = f16vec2(float16_t(d));
        for (uint j = 0u; j < 4u; j++) {
            uint w = ((r.a[j] >> ls) & 0x0F0F0F0Fu) | (((r.b[j] >> hs) & 0x03030303u) << 4);
            f16vec2 lo = unpackFloat2x16((w & 0x003F003Fu) | 0x64006400u) - f16vec2(1056.0hf);
            f16vec2 hi = unpackFloat2x16(((w >> 8) & 0x003F003Fu) | 0x64006400u) - f16vec2(1056.0hf);
            ws[o + j] = f16vec4(lo.x * d2.x, hi.x * d2.x, lo.y * d2.y, hi.y * d2.y);
        }
        return;
    }
    for (uint i = 0u; i < 16u; i++) {
        uint sh8 = 8u * (i & 3u);
        uint lo = (r.a[i >> 2] >> (sh8 + ls)) & 15u, hi = (r.b[i >> 2] >> (sh8 + hs)) & 3u;
        v[i] = d * qf(lo | (hi << 4), 32.0);
    }
#elif defined(TYPE_Q8_0)
    float d = unpackHalf2x16(r.c.x).x;
    for (uint i = 0u; i < 16u; i++) v[i] = d * qf(((r.a[i >> 2] >> (8u * (i & 3u))) & 0xFFu) ^ 0x80u, 128.0);
#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
    uint e0 = k % 32u;
#if defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
    uint qh = r.s >> e0;
#endif
#if defined(TYPE_Q4_1) || defined(TYPE_Q5_1)
    vec2 dm = unpackHalf2x16(r.c.x);
#else
    vec2 dm = vec2(unpackHalf2x16(r.c.x).x, 0.0);
#endif
#if defined(TYPE_Q4_0)
    const float off = 8.0;
#elif defined(TYPE_Q5_0)
    const float off = 16.0;
#else
    const float off = 0.0;
#endif
    uint sh = e0 / 4u; // 0 (low nibbles) or 4 (high)
    for (uint i = 0u; i < 16u; i++) {
        uint qq = (r.a[i >> 2] >> (8u * (i & 3u) + sh)) & 15u;
#if defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
        qq |= ((qh >> i) & 1u) << 4;
#endif
        v[i] = dm.x * qf(qq, off) + dm.y;
    }
#elif defined(TYPE_F16)
    // already f16: copied
    ws[o] = f16vec4(unpackFloat2x16(r.a.x), unpackFloat2x16(r.a.y));
    ws[o + 1u] = f16vec4(unpackFloat2x16(r.a.z), unpackFloat2x16(r.a.w));
    ws[o + 2u] = f16vec4(unpackFloat2x16(r.b.x), unpackFloat2x16(r.b.y));
    ws[o + 3u] = f16vec4(unpackFloat2x16(r.b.z), unpackFloat2x16(r.b.w));
    return;
#endif
    for (uint i = 0u; i < 4u; i++)
        ws[o + i] = h4(vec4(v[4u * i], v[4u * i + 1u], v[4u * i + 2u], v[4u * i + 3u]));
}
