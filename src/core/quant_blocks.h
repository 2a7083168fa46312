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
static inline uint32_t ue_load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#endif
