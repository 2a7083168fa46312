/* Dequantization of the 32-element "legacy" blocks: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and
 * IQ4_NL (same layout as Q4_0 with a non-linear value table).
 * Layouts: shared/docs/gemma3.md section 5 (ggml-common.h block_q4_0 ... block_iq4_nl). */
#include "core/quant_blocks.h"
#include "core/types.h"

#define QK 32

/* Element j < 16 comes from the low nibble of qs[j], element j + 16 from its high nibble. */
static void unpack_nibbles(const uint8_t *qs, uint8_t q[QK]) {
    for (int j = 0; j < QK / 2; j++) {
        q[j] = qs[j] & 0x0f;
        q[j + QK / 2] = qs[j] >> 4;
    }
}

/* Q5: bit e of the little-endian u32 qh is the fifth bit of element e. */
static void add_high_bits(const uint8_t *qh_bytes, uint8_t q[QK]) {
    uint32_t qh = ue_load_u32(qh_bytes);
    for (int e = 0; e < QK; e++) q[e] |= (uint8_t)(((qh >> e) & 1u) << 4);
}

void ue_dequant_block_q4_0(const uint8_t *src, float *dst) {
    float d = ue_f16_to_f32(ue_load_u16(src));
    uint8_t q[QK];
    unpack_nibbles(src + 2, q);
    for (int e = 0; e < QK; e++) dst[e] = d * (float)((int)q[e] - 8);
}

void ue_dequant_block_q4_1(const uint8_t *src, float *dst) {
    float d = ue_f16_to_f32(ue_load_u16(src));
    float m = ue_f16_to_f32(ue_load_u16(src + 2));
    uint8_t q[QK];
    unpack_nibbles(src + 4, q);
    for (int e = 0; e < QK; e++) {
        float scaled = d * (float)q[e];
        dst[e] = scaled + m;
    }
}

void ue_dequant_block_q5_0(const uint8_t *src, float *dst) {
    float d = ue_f16_to_f32(ue_load_u16(src));
    uint8_t q[QK];
    unpack_nibbles(src + 6, q);
    add_high_bits(src + 2, q);
    for (int e = 0; e < QK; e++) dst[e] = d * (float)((int)q[e] - 16);
}

void ue_dequant_block_q5_1(const uint8_t *src, float *dst) {
    float d = ue_f16_to_f32(ue_load_u16(src));
    float m = ue_f16_to_f32(ue_load_u16(src + 2));
    uint8_t q[QK];
    unpack_nibbles(src + 8, q);
    add_high_bits(src + 4, q);
    for (int e = 0; e < QK; e++) {
        float scaled = d * (float)q[e];
        dst[e] = scaled + m;
    }
}

void ue_dequant_block_q8_0(const uint8_t *src, float *dst) {
    float d = ue_f16_to_f32(ue_load_u16(src));
    const int8_t *qs = (const int8_t *)(src + 2);
    for (int e = 0; e < QK; e++) dst[e] = (float)qs[e] * d;
}

/* The IQ4_NL value table (ggml kvalues_iq4nl): a non-uniform 4-bit grid. */
static const int8_t k_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                          1,    13,   25,  38,  53,  69,  89,  113};

void ue_dequant_block_iq4_nl(const uint8_t *src, float *dst) {
    float d = ue_f16_to_f32(ue_load_u16(src));
    uint8_t q[QK];
    unpack_nibbles(src + 2, q);
    for (int e = 0; e < QK; e++) dst[e] = d * (float)k_iq4nl_values[q[e]];
}
