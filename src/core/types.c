/* Traits of every ggml tensor type id of the GGUF format, IEEE half / bfloat16
 * conversions, and the row-level dequantize / scalar-dot dispatch.
 * Reference: shared/docs/gemma3.md sections 4.1 and 5; sizes cross-checked against the
 * gguf Python package's GGML_QUANT_SIZES by tools/make_type_fixtures.py. */
#include "core/types.h"

#include "core/checked.h"
#include "core/quant_blocks.h"

#include <string.h>

/* Q8_1 is 36 bytes (two halves + 32 int8) as in ggml's block_q8_1; the gguf Python
 * package still lists 40 (an older float-pair layout). It never occurs in model files. */
static const ue_type_traits k_traits[UE_TYPE_COUNT] = {
    [UE_TYPE_F32] = {"F32", 1, 4, 1},
    [UE_TYPE_F16] = {"F16", 1, 2, 1},
    [UE_TYPE_Q4_0] = {"Q4_0", 32, 18, 1},
    [UE_TYPE_Q4_1] = {"Q4_1", 32, 20, 1},
    [UE_TYPE_Q5_0] = {"Q5_0", 32, 22, 1},
    [UE_TYPE_Q5_1] = {"Q5_1", 32, 24, 1},
    [UE_TYPE_Q8_0] = {"Q8_0", 32, 34, 1},
    [UE_TYPE_Q8_1] = {"Q8_1", 32, 36, 0},
    [UE_TYPE_Q2_K] = {"Q2_K", 256, 84, 1},
    [UE_TYPE_Q3_K] = {"Q3_K", 256, 110, 1},
    [UE_TYPE_Q4_K] = {"Q4_K", 256, 144, 1},
    [UE_TYPE_Q5_K] = {"Q5_K", 256, 176, 1},
    [UE_TYPE_Q6_K] = {"Q6_K", 256, 210, 1},
    [UE_TYPE_Q8_K] = {"Q8_K", 256, 292, 1},
    [UE_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66, 0},
    [UE_TYPE_IQ2_XS] = {"IQ2_XS", 256, 74, 0},
    [UE_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98, 0},
    [UE_TYPE_IQ1_S] = {"IQ1_S", 256, 50, 0},
    [UE_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18, 1},
    [UE_TYPE_IQ3_S] = {"IQ3_S", 256, 110, 0},
    [UE_TYPE_IQ2_S] = {"IQ2_S", 256, 82, 0},
    [UE_TYPE_IQ4_XS] = {"IQ4_XS", 256, 136, 0},
    [UE_TYPE_I8] = {"I8", 1, 1, 0},
    [UE_TYPE_I16] = {"I16", 1, 2, 0},
    [UE_TYPE_I32] = {"I32", 1, 4, 0},
    [UE_TYPE_I64] = {"I64", 1, 8, 0},
    [UE_TYPE_F64] = {"F64", 1, 8, 0},
    [UE_TYPE_IQ1_M] = {"IQ1_M", 256, 56, 0},
    [UE_TYPE_BF16] = {"BF16", 1, 2, 1},
    [UE_TYPE_TQ1_0] = {"TQ1_0", 256, 54, 0},
    [UE_TYPE_TQ2_0] = {"TQ2_0", 256, 66, 0},
    [UE_TYPE_MXFP4] = {"MXFP4", 32, 17, 0},
};

const ue_type_traits *ue_type_get(uint32_t type_id) {
    if (type_id >= UE_TYPE_COUNT) return NULL;
    const ue_type_traits *t = &k_traits[type_id];
    return t->name ? t : NULL; /* removed ids are left zeroed in the table */
}

size_t ue_type_row_bytes(ue_type type, int64_t n) {
    const ue_type_traits *t = ue_type_get((uint32_t)type);
    if (!t || n < 0 || n % t->block_size != 0) return 0;
    uint64_t blocks = (uint64_t)n / t->block_size;
    size_t bytes;
    if (blocks > SIZE_MAX || !ue_mul_size((size_t)blocks, t->type_size, &bytes)) return 0;
    return bytes;
}

/* ---- IEEE conversions (bit manipulation only, so every value is exact and portable) ---- */

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

float ue_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (man << 13)); /* inf, NaN */
    if (exp != 0) return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
    if (man == 0) return f32_from_bits(sign);
    /* Subnormal half: normalise the mantissa; value = man * 2^-24. */
    uint32_t e = 113;
    while (!(man & 0x400)) {
        man <<= 1;
        e--;
    }
    return f32_from_bits(sign | (e << 23) | ((man & 0x3ff) << 13));
}

uint16_t ue_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t exp = (u >> 23) & 0xff;
    uint32_t man = u & 0x7fffff;
    if (exp == 0xff) {
        /* Keep NaN a NaN (quiet bit set so a payload cut to zero stays NaN). */
        if (man) return (uint16_t)(sign | 0x7e00 | (man >> 13));
        return (uint16_t)(sign | 0x7c00);
    }
    int32_t e = (int32_t)exp - 127 + 15; /* half exponent field */
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        /* Half subnormal (or zero): shift the full 24-bit significand right. */
        if (e < -10) return sign; /* below half the smallest subnormal: rounds to 0 */
        uint32_t sig = man | 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t q = sig >> shift;
        uint32_t rem = sig & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (q & 1))) q++;
        return (uint16_t)(sign | q); /* q may carry into the smallest normal: still right */
    }
    uint32_t q = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) q++; /* may carry to inf: correct */
    return (uint16_t)(sign | q);
}

float ue_bf16_to_f32(uint16_t b) {
    return f32_from_bits((uint32_t)b << 16);
}

uint16_t ue_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* ---- row dispatch ---- */

static void dequant_block_f32(const uint8_t *src, float *dst) {
    memcpy(dst, src, sizeof *dst);
}

static void dequant_block_f16(const uint8_t *src, float *dst) {
    dst[0] = ue_f16_to_f32(ue_load_u16(src));
}

static void dequant_block_bf16(const uint8_t *src, float *dst) {
    dst[0] = ue_bf16_to_f32(ue_load_u16(src));
}

typedef void (*dequant_block_fn)(const uint8_t *src, float *dst);

static dequant_block_fn block_fn(ue_type type) {
    switch (type) {
    case UE_TYPE_F32: return dequant_block_f32;
    case UE_TYPE_F16: return dequant_block_f16;
    case UE_TYPE_BF16: return dequant_block_bf16;
    case UE_TYPE_Q4_0: return ue_dequant_block_q4_0;
    case UE_TYPE_Q4_1: return ue_dequant_block_q4_1;
    case UE_TYPE_Q5_0: return ue_dequant_block_q5_0;
    case UE_TYPE_Q5_1: return ue_dequant_block_q5_1;
    case UE_TYPE_Q8_0: return ue_dequant_block_q8_0;
    case UE_TYPE_IQ4_NL: return ue_dequant_block_iq4_nl;
    case UE_TYPE_Q2_K: return ue_dequant_block_q2_k;
    case UE_TYPE_Q3_K: return ue_dequant_block_q3_k;
    case UE_TYPE_Q4_K: return ue_dequant_block_q4_k;
    case UE_TYPE_Q5_K: return ue_dequant_block_q5_k;
    case UE_TYPE_Q6_K: return ue_dequant_block_q6_k;
    case UE_TYPE_Q8_K: return ue_dequant_block_q8_k;
    default: return NULL;
    }
}

void ue_dequantize_row(ue_type type, const void *src, float *dst, int64_t n) {
    const ue_type_traits *t = ue_type_get((uint32_t)type);
    dequant_block_fn fn = block_fn(type);
    if (!t || !fn || n <= 0 || n % t->block_size != 0) return;
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i += t->block_size, p += t->type_size) fn(p, dst + i);
}

/* Accumulates in double, element by element in row order: each float*float product is
 * exact in double, so the result is the correctly rounded sequential sum and does not
 * depend on block size, alignment or build flags. */
float ue_dot_row_f32(ue_type type, const void *row, const float *x, int64_t n) {
    const ue_type_traits *t = ue_type_get((uint32_t)type);
    dequant_block_fn fn = block_fn(type);
    if (!t || !fn || n <= 0 || n % t->block_size != 0) return 0.0f;
    float tmp[UE_QK_MAX];
    double sum = 0.0;
    const uint8_t *p = row;
    for (int64_t i = 0; i < n; i += t->block_size, p += t->type_size) {
        fn(p, tmp);
        for (uint32_t j = 0; j < t->block_size; j++) sum += (double)tmp[j] * (double)x[i + j];
    }
    return (float)sum;
}
