/* f32 -> GGUF block quantizers (the inverse of the dequantizers in core/types.h), used to
 * write model files. Layouts: shared/docs/gemma3.md section 5. Scales come from the
 * block's min/max (not llama.cpp's iterative search), rounded so the grid always covers
 * the data; the error bound each type guarantees is stated in quantize.c and checked by
 * tests/test_quantize.c. */
#ifndef UE_CORE_QUANTIZE_H
#define UE_CORE_QUANTIZE_H

#include <stdint.h>

#include "core/error.h"
#include "core/types.h"

/* 1 when ue_quantize_row can write `type`: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * IQ4_NL, Q4_K, Q5_K, Q6_K. */
int ue_quantize_supported(ue_type type);

/* Quantizes n floats (n > 0, a multiple of the type's block size) into
 * ue_type_row_bytes(type, n) bytes at dst (any byte address). Inputs are expected finite:
 * NaN or infinity gives unspecified block contents (never undefined behaviour). */
ue_status ue_quantize_row(ue_type type, const float *src, void *dst, int64_t n, ue_error *err);

#endif
