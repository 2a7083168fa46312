/* Internal to src/core: per-block dequantizers of the quantized ggml types (one block in,
 * block_size floats out) and unaligned little-endian loads. Layouts: gemma3.md section 5.
 * Blocks may sit at any byte address, so every multi-byte field is read with memcpy. */
#ifndef UE_CORE_QUANT_BLOCKS_H
#define UE_CORE_QUANT_BLOCKS_H

#include <stdint.h>
#include <string.h>

#define UE_QK_MAX 256 /* largest block_size among the computable types (QK_K) */

/* Little-endian loads (the GGUF format and every supported host are little-endian). */
static inline uint16_t ue_load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline float ue_load_f32(const uint8_t *p) {
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline uint32_t ue_load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Each reads one block at src (any address) and writes block_size floats. The arithmetic
 * follows the gguf Python package's dequantize_blocks step for step (same operations, same
 * order), which makes results bit-identical to it. The scale products are exact in fp32
 * (fp16 scale x 6-bit sub-scale x 6-bit quant fits in 24 bits), so only the final add or
 * subtract rounds and a compiler fusing it into an FMA cannot change the result. */
void ue_dequant_block_q4_0(const uint8_t *src, float *dst);
void ue_dequant_block_q4_1(const uint8_t *src, float *dst);
void ue_dequant_block_q5_0(const uint8_t *src, float *dst);
void ue_dequant_block_q5_1(const uint8_t *src, float *dst);
void ue_dequant_block_q8_0(const uint8_t *src, float *dst);
void ue_dequant_block_iq4_nl(const uint8_t *src, float *dst);
void ue_dequant_block_q2_k(const uint8_t *src, float *dst);
void ue_dequant_block_q3_k(const uint8_t *src, float *dst);
void ue_dequant_block_q4_k(const uint8_t *src, float *dst);
void ue_dequant_block_q5_k(const uint8_t *src, float *dst);
void ue_dequant_block_q6_k(const uint8_t *src, float *dst);
void ue_dequant_block_q8_k(const uint8_t *src, float *dst);

#endif
