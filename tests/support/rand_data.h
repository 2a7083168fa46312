/* Reproducible random test data shared by the kernel and backend tests: one xorshift64*
 * stream per test binary (seeded by the test, so each keeps its own sequence),
 * activations with outlier channels and weight rows of every type. */
#ifndef UE_TEST_RAND_DATA_H
#define UE_TEST_RAND_DATA_H

#include <stdint.h>

#include "core/types.h"

/* Restarts the stream; every test seeds it in main() before its first draw. */
void rnd_seed(uint64_t seed);
uint32_t rnd_u32(void);
/* Uniform in [lo, hi) with 24 random bits. */
float rnd_f(float lo, float hi);
/* n values uniform in [-scale, scale) where one in 61 is multiplied by 8 (outlier
 * channels, as real activations have); malloc'd, fails the test when out of memory. */
float *random_f32(int64_t n, float scale);
/* The same around center: center + uniform, outliers multiplied after the shift. */
float *random_f32_about(int64_t n, float scale, float center);
/* Stores v as IEEE half at p (unaligned). */
void put_f16(uint8_t *p, float v);
/* rows rows of n values of a weight type into dst: random quant bits under finite
 * scales of realistic size (the f32, f16 and bf16 values uniform in [-1, 1)). */
void random_rows(ue_type type, uint8_t *dst, int64_t n, int64_t rows);

#endif
