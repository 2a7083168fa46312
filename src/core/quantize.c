/* f32 -> block quantizers for the legacy 32-element types, IQ4_NL and the Q4_K / Q5_K /
 * Q6_K super-blocks. Layouts: shared/docs/gemma3.md section 5; every packing is the exact
 * inverse of the dequantizers in quant_legacy.c / quant_k.c. Scales come from min/max
 * and are rounded to fp16 so the grid covers the data, which gives these bounds on
 * |x - dequant(quant(x))| per element (d, dmin: the stored fp16 scales):
 *   Q8_0          <= d/2,  d >= amax/127
 *   Q4_0, Q5_0    <= |d|/2 inside the grid; the block's extreme maps to -8 (-16), so a
 *                    value of the other sign may clamp at +7 (+15): <= |d|; |d| ~ amax/8 (/16)
 *   Q4_1, Q5_1    <= d/2,  d ~ (max - min)/15 (/31); m is rounded down, d up
 *   IQ4_NL        the nearest of the 16 values d*T[k], d ~ amax/127
 *   Q4_K, Q5_K    <= max((s + d)/2, dmin/2), s = (max - min(0, min))/15 (/31) of the
 *                    32-element sub-block (its 6-bit scale is rounded up, its min to nearest)
 *   Q6_K          <= (s + d)/2, s = amax/31 of the 16-element sub-block
 *   F16, BF16     round to nearest even */
#include "core/quantize.h"

#include <math.h>
#include <string.h>

#define QK 32
#define QK_K 256

static inline void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof v); }

/* Neighbouring fp16 bit patterns toward +inf / -inf. */
static uint16_t f16_next_up(uint16_t h) {
    if (h == 0x8000) return 0x0001;
    return (h & 0x8000) ? (uint16_t)(h - 1) : (uint16_t)(h + 1);
}

static uint16_t f16_next_down(uint16_t h) {
    if (h == 0x0000) return 0x8001;
    return (h & 0x8000) ? (uint16_t)(h + 1) : (uint16_t)(h - 1);
}

/* v as fp16: dir > 0 never below v, dir < 0 never above it, 0 nearest. */
static uint16_t f16_round(float v, int dir) {
    uint16_t h = ue_f32_to_f16(v);
    if (v != v) return h;
    float back = ue_f16_to_f32(h);
    if (dir > 0 && back < v) h = f16_next_up(h);
    if (dir < 0 && back > v) h = f16_next_down(h);
    return h;
}

/* round(v) clamped to [lo, hi]; NaN gives lo. */
static inline int qround(float v, int lo, int hi) {
    if (!(v > (float)lo)) v = (float)lo;
    if (v > (float)hi) v = (float)hi;
    return (int)(v - (float)lo + 0.5f) + lo;
}

/* The element of largest magnitude, with its sign. */
static float signed_extreme(const float *x, int n) {
    float amax = 0.0f, xe = 0.0f;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax) {
            amax = a;
            xe = x[i];
        }
    }
    return xe;
}

static void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    *mn = lo;
    *mx = hi;
}

/* Element j < 16 goes to the low nibble of qs[j], element j + 16 to its high nibble. */
static void pack_nibbles(const uint8_t q[QK], uint8_t *qs) {
    for (int j = 0; j < QK / 2; j++) qs[j] = (uint8_t)((q[j] & 0x0f) | (q[j + QK / 2] << 4));
}

/* Bit e of the little-endian u32 is the fifth bit of element e. */
static void pack_high_bits(const uint8_t q[QK], uint8_t *qh) {
    uint32_t bits = 0;
    for (int e = 0; e < QK; e++) bits |= (uint32_t)((q[e] >> 4) & 1) << e;
    memcpy(qh, &bits, sizeof bits);
}

static void quant_q8_0(const float *x, uint8_t *b) {
    float amax = fabsf(signed_extreme(x, QK));
    uint16_t h = f16_round(amax / 127.0f, 1);
    float d = ue_f16_to_f32(h), id = d > 0.0f ? 1.0f / d : 0.0f;
    put_u16(b, h);
    for (int i = 0; i < QK; i++) b[2 + i] = (uint8_t)(int8_t)qround(x[i] * id, -127, 127);
}

/* Q4_0 (levels -8..7) and Q5_0 (-16..15): the extreme maps to the negative end, which
 * uses the extra level the symmetric grid leaves on that side. */
static void quant_sym(const float *x, uint8_t *b, int half, uint8_t q[QK]) {
    uint16_t h = f16_round(signed_extreme(x, QK) / (float)-half, 0);
    float d = ue_f16_to_f32(h), id = d != 0.0f ? 1.0f / d : 0.0f;
    put_u16(b, h);
    for (int i = 0; i < QK; i++) q[i] = (uint8_t)(qround(x[i] * id, -half, half - 1) + half);
}

static void quant_q4_0(const float *x, uint8_t *b) {
    uint8_t q[QK];
    quant_sym(x, b, 8, q);
    pack_nibbles(q, b + 2);
}

static void quant_q5_0(const float *x, uint8_t *b) {
    uint8_t q[QK];
    quant_sym(x, b, 16, q);
    pack_high_bits(q, b + 2);
    pack_nibbles(q, b + 6);
}

/* Q4_1 / Q5_1: y = q*d + m with q in 0..levels. */
static void quant_affine(const float *x, uint8_t *b, int levels, uint8_t q[QK]) {
    float mn, mx;
    min_max(x, QK, &mn, &mx);
    uint16_t hm = f16_round(mn, -1);
    float m = ue_f16_to_f32(hm);
    uint16_t hd = f16_round((mx - m) / (float)levels, 1);
    float d = ue_f16_to_f32(hd), id = d > 0.0f ? 1.0f / d : 0.0f;
    put_u16(b, hd);
    put_u16(b + 2, hm);
    for (int i = 0; i < QK; i++) q[i] = (uint8_t)qround((x[i] - m) * id, 0, levels);
}

static void quant_q4_1(const float *x, uint8_t *b) {
    uint8_t q[QK];
    quant_affine(x, b, 15, q);
    pack_nibbles(q, b + 4);
}

static void quant_q5_1(const float *x, uint8_t *b) {
    uint8_t q[QK];
    quant_affine(x, b, 31, q);
    pack_high_bits(q, b + 4);
    pack_nibbles(q, b + 8);
}

/* The IQ4_NL grid (ggml kvalues_iq4nl), ascending. */
static const int8_t k_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                   1,    13,   25,  38,  53,  69,  89,  113};

static void quant_iq4_nl(const float *x, uint8_t *b) {
    uint16_t h = f16_round(signed_extreme(x, QK) / -127.0f, 0);
    float d = ue_f16_to_f32(h), id = d != 0.0f ? 1.0f / d : 0.0f;
    put_u16(b, h);
    uint8_t q[QK];
    for (int i = 0; i < QK; i++) {
        float v = x[i] * id;
        int best = 0;
        float best_err = fabsf(v - (float)k_iq4nl[0]);
        for (int k = 1; k < 16; k++) {
            float e = fabsf(v - (float)k_iq4nl[k]);
            if (e < best_err) {
                best_err = e;
                best = k;
            }
        }
        q[i] = (uint8_t)best;
    }
    pack_nibbles(q, b + 2);
}

/* Q4_K / Q5_K: eight sub-blocks of 32 with 6-bit (scale, min) under fp16 d, dmin.
 * Writes d, dmin and the 12 packed scale bytes at b, and q[256] in 0..levels. */
static void quant_k_affine(const float *x, uint8_t *b, int levels, uint8_t q[QK_K]) {
    float s[8], m[8], max_s = 0.0f, max_m = 0.0f;
    for (int j = 0; j < 8; j++) {
        float mn, mx;
        min_max(x + 32 * j, 32, &mn, &mx);
        if (mn > 0.0f) mn = 0.0f; /* the min field is subtracted: it cannot add an offset */
        s[j] = (mx - mn) / (float)levels;
        m[j] = -mn;
        if (s[j] > max_s) max_s = s[j];
        if (m[j] > max_m) max_m = m[j];
    }
    uint16_t hd = f16_round(max_s / 63.0f, 1), hdm = f16_round(max_m / 63.0f, 1);
    float d = ue_f16_to_f32(hd), dmin = ue_f16_to_f32(hdm);
    put_u16(b, hd);
    put_u16(b + 2, hdm);
    uint8_t sc[8], mq[8];
    for (int j = 0; j < 8; j++) {
        /* Rounding the scale up keeps the sub-block's range inside the grid. */
        float r = d > 0.0f ? ceilf(s[j] / d) : 0.0f;
        sc[j] = (uint8_t)(r > 63.0f ? 63 : (int)r);
        mq[j] = (uint8_t)(dmin > 0.0f ? qround(m[j] / dmin, 0, 63) : 0);
        float step = d * (float)sc[j], off = dmin * (float)mq[j];
        float id = step > 0.0f ? 1.0f / step : 0.0f;
        for (int i = 0; i < 32; i++)
            q[32 * j + i] = (uint8_t)qround((x[32 * j + i] + off) * id, 0, levels);
    }
    uint8_t *p = b + 4;
    for (int k = 0; k < 4; k++) {
        p[k] = (uint8_t)(sc[k] | ((sc[k + 4] >> 4) << 6));
        p[k + 4] = (uint8_t)(mq[k] | ((mq[k + 4] >> 4) << 6));
        p[k + 8] = (uint8_t)((sc[k + 4] & 0x0f) | ((mq[k + 4] & 0x0f) << 4));
    }
}

/* Chunk c of 64 elements: the first 32 in the low nibbles of qs[32c..], the next 32 in
 * the high nibbles. */
static void pack_k_nibbles(const uint8_t q[QK_K], uint8_t *qs) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[32 * c + l] = (uint8_t)((q[64 * c + l] & 0x0f) | ((q[64 * c + 32 + l] & 0x0f) << 4));
}

static void quant_q4_k(const float *x, uint8_t *b) {
    uint8_t q[QK_K];
    quant_k_affine(x, b, 15, q);
    pack_k_nibbles(q, b + 16);
}

static void quant_q5_k(const float *x, uint8_t *b) {
    uint8_t q[QK_K];
    quant_k_affine(x, b, 31, q);
    uint8_t *qh = b + 16;
    memset(qh, 0, 32);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            qh[l] |= (uint8_t)(((q[64 * c + l] >> 4) & 1) << (2 * c));
            qh[l] |= (uint8_t)(((q[64 * c + 32 + l] >> 4) & 1) << (2 * c + 1));
        }
    pack_k_nibbles(q, b + 48);
}

/* Q6_K: sixteen sub-blocks of 16, signed 8-bit scales under fp16 d, q - 32 in -32..31. */
static void quant_q6_k(const float *x, uint8_t *b) {
    float s[16], max_s = 0.0f;
    for (int j = 0; j < 16; j++) {
        s[j] = fabsf(signed_extreme(x + 16 * j, 16)) / 31.0f;
        if (s[j] > max_s) max_s = s[j];
    }
    uint16_t hd = f16_round(max_s / 127.0f, 1);
    float d = ue_f16_to_f32(hd);
    uint8_t q[QK_K];
    int8_t *scales = (int8_t *)(b + 192);
    for (int j = 0; j < 16; j++) {
        float r = d > 0.0f ? ceilf(s[j] / d) : 0.0f;
        int sc = r > 127.0f ? 127 : (int)r;
        scales[j] = (int8_t)sc;
        float step = d * (float)sc, id = step > 0.0f ? 1.0f / step : 0.0f;
        for (int i = 0; i < 16; i++)
            q[16 * j + i] = (uint8_t)(qround(x[16 * j + i] * id, -32, 31) + 32);
    }
    for (int h = 0; h < 2; h++) {
        uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
        const uint8_t *qq = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            uint8_t q1 = qq[l], q2 = qq[l + 32], q3 = qq[l + 64], q4 = qq[l + 96];
            ql[l] = (uint8_t)((q1 & 0x0f) | ((q3 & 0x0f) << 4));
            ql[l + 32] = (uint8_t)((q2 & 0x0f) | ((q4 & 0x0f) << 4));
            qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
        }
    }
    put_u16(b + 208, hd);
}

static void quant_f32(const float *x, uint8_t *b) { memcpy(b, x, sizeof *x); }
static void quant_f16(const float *x, uint8_t *b) { put_u16(b, ue_f32_to_f16(x[0])); }
static void quant_bf16(const float *x, uint8_t *b) { put_u16(b, ue_f32_to_bf16(x[0])); }

typedef void (*quant_block_fn)(const float *x, uint8_t *dst);

static quant_block_fn block_fn(ue_type type) {
    switch (type) {
    case UE_TYPE_F32: return quant_f32;
    case UE_TYPE_F16: return quant_f16;
    case UE_TYPE_BF16: return quant_bf16;
    case UE_TYPE_Q4_0: return quant_q4_0;
    case UE_TYPE_Q4_1: return quant_q4_1;
    case UE_TYPE_Q5_0: return quant_q5_0;
    case UE_TYPE_Q5_1: return quant_q5_1;
    case UE_TYPE_Q8_0: return quant_q8_0;
    case UE_TYPE_IQ4_NL: return quant_iq4_nl;
    case UE_TYPE_Q4_K: return quant_q4_k;
    case UE_TYPE_Q5_K: return quant_q5_k;
    case UE_TYPE_Q6_K: return quant_q6_k;
    default: return NULL;
    }
}

int ue_quantize_supported(ue_type type) { return block_fn(type) != NULL; }

ue_status ue_quantize_row(ue_type type, const float *src, void *dst, int64_t n, ue_error *err) {
    const ue_type_traits *t = ue_type_get((uint32_t)type);
    quant_block_fn fn = block_fn(type);
    if (!t || !fn)
        return ue_fail(err, UE_ERR_UNSUPPORTED, "quantize: no quantizer for type %s (id %d)",
                       t ? t->name : "?", (int)type);
    if (n <= 0 || n % t->block_size != 0)
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "quantize %s: %lld elements, expected a positive multiple of %u", t->name,
                       (long long)n, t->block_size);
    uint8_t *p = dst;
    if (type == UE_TYPE_F32) {
        memcpy(p, src, (size_t)n * sizeof *src);
        return UE_OK;
    }
    for (int64_t i = 0; i < n; i += t->block_size, p += t->type_size) fn(src + i, p);
    return UE_OK;
}
