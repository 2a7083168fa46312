/* Dequantization of the 256-element K-quant super-blocks: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K
 * and the activation-side Q8_K. Layouts and element order: shared/docs/gemma3.md section 5
 * (ggml-common.h block_q2_K ... block_q8_K). Element e of a block is always written as
 * e = 32 * chunk + l, chunk 0..7, l 0..31, matching how the bits are packed. */
#include "core/quant_blocks.h"
#include "core/types.h"

#define QK_K 256

void ue_dequant_block_q2_k(const uint8_t *src, float *dst) {
    const uint8_t *scales = src;     /* [16] low nibble scale, high nibble min */
    const uint8_t *qs = src + 16;    /* [64] four 2-bit values per byte */
    float d = ue_f16_to_f32(ue_load_u16(src + 80));
    float dmin = ue_f16_to_f32(ue_load_u16(src + 82));
    for (int e = 0; e < QK_K; e++) {
        int half = e / 128, j = (e / 32) % 4, l = e % 32;
        int q = (qs[32 * half + l] >> (2 * j)) & 3;
        uint8_t sc = scales[e / 16];
        float dl = d * (float)(sc & 0x0f);
        float ml = dmin * (float)(sc >> 4);
        float scaled = dl * (float)q;
        dst[e] = scaled - ml;
    }
}

/* Q3_K's sixteen 6-bit scales: low 4 bits in bytes 0-7 (two per byte), high 2 bits in
 * bytes 8-11 (four per byte); stored with a +32 bias. */
static int q3_k_scale(const uint8_t *b, int k) {
    int lo4 = k < 8 ? (b[k] & 0x0f) : (b[k - 8] >> 4);
    int hi2 = (b[8 + k % 4] >> (2 * (k / 4))) & 3;
    return (lo4 | (hi2 << 4)) - 32;
}

void ue_dequant_block_q3_k(const uint8_t *src, float *dst) {
    const uint8_t *hmask = src;     /* [32] bit (e / 32) of hmask[e % 32] */
    const uint8_t *qs = src + 32;   /* [64] low 2 bits, as Q2_K */
    const uint8_t *scales = src + 96; /* [12] */
    float d = ue_f16_to_f32(ue_load_u16(src + 108));
    for (int e = 0; e < QK_K; e++) {
        int half = e / 128, j = (e / 32) % 4, l = e % 32;
        int low2 = (qs[32 * half + l] >> (2 * j)) & 3;
        int hbit = (hmask[l] >> (e / 32)) & 1;
        int q = low2 - (hbit ? 0 : 4); /* a set mask bit means no offset */
        float dl = d * (float)q3_k_scale(scales, e / 16);
        dst[e] = dl * (float)q;
    }
}

/* Q4_K / Q5_K: eight 6-bit (scale, min) pairs packed into 12 bytes. */
static void k_scale_min(const uint8_t *s, int k, int *sc, int *m) {
    if (k < 4) {
        *sc = s[k] & 63;
        *m = s[k + 4] & 63;
    } else {
        *sc = (s[k + 4] & 0x0f) | ((s[k - 4] >> 6) << 4);
        *m = (s[k + 4] >> 4) | ((s[k] >> 6) << 4);
    }
}

/* Shared by Q4_K and Q5_K; qh is NULL for Q4_K. Sub-block b (32 elements) takes the low
 * nibbles of qs[32 * (b / 2) ...] when b is even, the high nibbles when odd, and its fifth
 * bit (Q5_K) from bit b of qh[l]. */
static void dequant_q45_k(const uint8_t *src, const uint8_t *qh, const uint8_t *qs,
                          float *dst) {
    float d = ue_f16_to_f32(ue_load_u16(src));
    float dmin = ue_f16_to_f32(ue_load_u16(src + 2));
    const uint8_t *scales = src + 4;
    for (int b = 0; b < 8; b++) {
        int sc, m;
        k_scale_min(scales, b, &sc, &m);
        float dl = d * (float)sc;
        float ml = dmin * (float)m;
        for (int l = 0; l < 32; l++) {
            int q = (qs[32 * (b / 2) + l] >> (4 * (b % 2))) & 0x0f;
            if (qh) q |= ((qh[l] >> b) & 1) << 4;
            float scaled = dl * (float)q;
            dst[32 * b + l] = scaled - ml;
        }
    }
}

void ue_dequant_block_q4_k(const uint8_t *src, float *dst) {
    dequant_q45_k(src, NULL, src + 16, dst);
}

void ue_dequant_block_q5_k(const uint8_t *src, float *dst) {
    dequant_q45_k(src, src + 16, src + 48, dst);
}

void ue_dequant_block_q6_k(const uint8_t *src, float *dst) {
    const uint8_t *ql = src;          /* [128] low 4 bits */
    const uint8_t *qh = src + 128;    /* [64] high 2 bits */
    const int8_t *scales = (const int8_t *)(src + 192); /* [16] one per 16 elements */
    float d = ue_f16_to_f32(ue_load_u16(src + 208));
    for (int e = 0; e < QK_K; e++) {
        int half = e / 128, r = e % 128;
        int low4 = (ql[64 * half + r % 64] >> (4 * (r / 64))) & 0x0f;
        int high2 = (qh[32 * half + r % 32] >> (2 * (r / 32))) & 3;
        int q = (low4 | (high2 << 4)) - 32;
        float dl = d * (float)scales[e / 16];
        dst[e] = dl * (float)q;
    }
}

void ue_dequant_block_q8_k(const uint8_t *src, float *dst) {
    float d = ue_load_f32(src); /* Q8_K keeps an fp32 scale; bsums at +260 are not needed */
    const int8_t *qs = (const int8_t *)(src + 4);
    for (int e = 0; e < QK_K; e++) dst[e] = d * (float)qs[e];
}
