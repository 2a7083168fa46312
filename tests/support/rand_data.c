/* Reproducible random test data: xorshift64* (Marsaglia's xorshift with Vigna's
 * multiplier), so the data does not depend on libc rand's state. See rand_data.h. */
#include "rand_data.h"

#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

void rnd_seed(uint64_t seed) { g_rng = seed; }

uint32_t rnd_u32(void) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545f4914f6cdd1dull) >> 32);
}

float rnd_f(float lo, float hi) { return lo + (hi - lo) * (float)(rnd_u32() >> 8) / 16777216.0f; }

/* center 0 adds +0.0f, which leaves every draw bit-identical (a draw is never -0.0f). */
float *random_f32_about(int64_t n, float scale, float center) {
    float *x = malloc((size_t)n * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) {
        x[i] = center + rnd_f(-scale, scale);
        if (rnd_u32() % 61 == 0) x[i] *= 8.0f;
    }
    return x;
}

float *random_f32(int64_t n, float scale) { return random_f32_about(n, scale, 0.0f); }

void put_f16(uint8_t *p, float v) {
    uint16_t h = ue_f32_to_f16(v);
    memcpy(p, &h, 2);
}

void random_rows(ue_type type, uint8_t *dst, int64_t n, int64_t rows) {
    const ue_type_traits *tr = ue_type_get(type);
    size_t bytes = ue_type_row_bytes(type, n) * (size_t)rows;
    for (size_t i = 0; i < bytes; i++) dst[i] = (uint8_t)rnd_u32();
    int64_t blocks = n / tr->block_size * rows;
    for (int64_t b = 0; b < blocks; b++) {
        uint8_t *p = dst + (size_t)b * tr->type_size;
        switch (type) {
        case UE_TYPE_F32: {
            float v = rnd_f(-1.0f, 1.0f);
            memcpy(p, &v, 4);
            break;
        }
        case UE_TYPE_F16: put_f16(p, rnd_f(-1.0f, 1.0f)); break;
        case UE_TYPE_BF16: {
            uint16_t h = ue_f32_to_bf16(rnd_f(-1.0f, 1.0f));
            memcpy(p, &h, 2);
            break;
        }
        case UE_TYPE_Q4_1: /* d, then the minimum m */
        case UE_TYPE_Q5_1:
            put_f16(p, rnd_f(-0.05f, 0.05f));
            put_f16(p + 2, rnd_f(-0.5f, 0.5f));
            break;
        case UE_TYPE_Q4_K: /* d and dmin scale the 6-bit sub-block scales and minimums */
        case UE_TYPE_Q5_K:
            put_f16(p, rnd_f(0.0f, 0.01f));
            put_f16(p + 2, rnd_f(0.0f, 0.01f));
            break;
        case UE_TYPE_Q6_K: put_f16(p + 208, rnd_f(-0.005f, 0.005f)); break; /* d last */
        default: put_f16(p, rnd_f(-0.05f, 0.05f)); break;                   /* d first */
        }
    }
}
