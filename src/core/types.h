/* Tensor element types of the GGUF format (ggml type ids) and their block layouts.
 * Reference: ggml-common.h / ggml-quants.c block structs, summarised in
 * shared/docs/gemma3.md section 5. Dequantization and the scalar dot products here are
 * the oracle every faster kernel is tested against. */
#ifndef UE_CORE_TYPES_H
#define UE_CORE_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef enum ue_type {
    UE_TYPE_F32 = 0,
    UE_TYPE_F16 = 1,
    UE_TYPE_Q4_0 = 2,
    UE_TYPE_Q4_1 = 3,
    UE_TYPE_Q5_0 = 6,
    UE_TYPE_Q5_1 = 7,
    UE_TYPE_Q8_0 = 8,
    UE_TYPE_Q8_1 = 9,
    UE_TYPE_Q2_K = 10,
    UE_TYPE_Q3_K = 11,
    UE_TYPE_Q4_K = 12,
    UE_TYPE_Q5_K = 13,
    UE_TYPE_Q6_K = 14,
    UE_TYPE_Q8_K = 15,
    UE_TYPE_IQ2_XXS = 16,
    UE_TYPE_IQ2_XS = 17,
    UE_TYPE_IQ3_XXS = 18,
    UE_TYPE_IQ1_S = 19,
    UE_TYPE_IQ4_NL = 20,
    UE_TYPE_IQ3_S = 21,
    UE_TYPE_IQ2_S = 22,
    UE_TYPE_IQ4_XS = 23,
    UE_TYPE_I8 = 24,
    UE_TYPE_I16 = 25,
    UE_TYPE_I32 = 26,
    UE_TYPE_I64 = 27,
    UE_TYPE_F64 = 28,
    UE_TYPE_IQ1_M = 29,
    UE_TYPE_BF16 = 30,
    UE_TYPE_TQ1_0 = 34,
    UE_TYPE_TQ2_0 = 35,
    UE_TYPE_MXFP4 = 39,
    UE_TYPE_COUNT = 40
} ue_type;

typedef struct ue_type_traits {
    const char *name;    /* "Q4_K" */
    uint32_t block_size; /* elements per block */
    uint32_t type_size;  /* bytes per block */
    int can_compute;     /* 1: dequantize/dot implemented here */
} ue_type_traits;

/* Traits of a ggml type id, or NULL when the id is not a type of the GGUF format
 * (ids 4, 5, 31-33, 36-38 were removed from the format; >= UE_TYPE_COUNT unknown). */
const ue_type_traits *ue_type_get(uint32_t type_id);

/* Bytes of a row of n elements; 0 when n is not a multiple of the block size or the
 * type is unknown. */
size_t ue_type_row_bytes(ue_type type, int64_t n);

/* src holds n elements of `type` (n a multiple of the block size); writes n floats. */
void ue_dequantize_row(ue_type type, const void *src, float *dst, int64_t n);

/* Scalar reference dot product of one weight row (n elements of `type`) with fp32 x. */
float ue_dot_row_f32(ue_type type, const void *row, const float *x, int64_t n);

/* IEEE half and bfloat16 conversions (exact, round-to-nearest-even for f32->f16). */
float ue_f16_to_f32(uint16_t h);
uint16_t ue_f32_to_f16(float f);
float ue_bf16_to_f32(uint16_t b);
uint16_t ue_f32_to_bf16(float f);

#endif
