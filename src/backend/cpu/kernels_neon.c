/* arm64 NEON kernel set (Advanced SIMD is part of every AArch64 CPU): the exact path only,
 * that is decode with 16-bit activations (widening multiply-accumulate of int16 weights and
 * Q16_32 activations, one float scale per 32-block or 16-group) and prefill through f32
 * dequantization and F32 tiles; attention blocks, exp and GELU. The int8 mode (gemm) is
 * left to the portable f32 path here. Layouts: shared/docs/gemma3.md section 5. */
#if defined(__aarch64__)

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"

#define INLINE static inline __attribute__((always_inline))
/* Loops over the R rows and T tokens of a tile must unroll, so the arrays stay in registers. */
#define UNROLL _Pragma("GCC unroll 4")

INLINE float h2f(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return ue_f16_to_f32(h);
}

/* ---------------------------------------------------------------- quantizer */

static void quant_q16_32(const float *x, void *dst, int64_t n) {
    int16_t *qs = dst;
    float *d = (float *)(qs + n), *xs = d + n / 32;
    for (int64_t b = 0; b < n / 32; b++) {
        const float *xb = x + 32 * b;
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int i = 0; i < 32; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(xb + i)));
        float dd = vmaxvq_f32(m) / 32767.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
        int32x4_t sum = vdupq_n_s32(0);
        for (int i = 0; i < 32; i += 8) {
            int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(xb + i), id));
            int32x4_t c = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(xb + i + 4), id));
            vst1q_s16(qs + 32 * b + i, vcombine_s16(vqmovn_s32(a), vqmovn_s32(c)));
            sum = vaddq_s32(sum, vaddq_s32(a, c));
        }
        d[b] = dd;
        xs[b] = dd * (float)vaddvq_s32(sum);
    }
}

/* ---------------------------------------------------------------- weight unpacking */

enum { LEG_Q4_0, LEG_Q4_1, LEG_Q5_0, LEG_Q5_1, LEG_Q8_0 };

INLINE size_t leg_bytes(int kind) {
    return kind == LEG_Q4_0 ? 18 : kind == LEG_Q4_1 ? 20 : kind == LEG_Q5_0 ? 22 : kind == LEG_Q5_1 ? 24 : 34;
}

/* Bit e of the 16 bits h as 0x10 in byte e. */
INLINE uint8x16_t q5_high(uint16_t h) {
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x16_t v = vcombine_u8(vdup_n_u8((uint8_t)(h & 0xff)), vdup_n_u8((uint8_t)(h >> 8)));
    return vandq_u8(vtstq_u8(v, vld1q_u8(bits)), vdupq_n_u8(16));
}

/* One legacy block as two registers of 16 weights in element order (0..31, or the raw
 * signed bytes for Q8_0). */
INLINE void leg_unpack(int kind, const uint8_t *p, uint8x16_t v[2]) {
    if (kind == LEG_Q8_0) {
        v[0] = vld1q_u8(p + 2);
        v[1] = vld1q_u8(p + 18);
        return;
    }
    int qoff = kind == LEG_Q4_0 ? 2 : kind == LEG_Q4_1 ? 4 : kind == LEG_Q5_0 ? 6 : 8;
    uint8x16_t q = vld1q_u8(p + qoff);
    v[0] = vandq_u8(q, vdupq_n_u8(0x0f));
    v[1] = vshrq_n_u8(q, 4);
    if (kind == LEG_Q5_0 || kind == LEG_Q5_1) {
        uint32_t h;
        memcpy(&h, p + (kind == LEG_Q5_0 ? 2 : 4), 4);
        v[0] = vorrq_u8(v[0], q5_high((uint16_t)h));
        v[1] = vorrq_u8(v[1], q5_high((uint16_t)(h >> 16)));
    }
}

INLINE void k4_scales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t a0, a1, a2;
    memcpy(&a0, s, 4);
    memcpy(&a1, s + 4, 4);
    memcpy(&a2, s + 8, 4);
    uint32_t v[4] = {a0 & 0x3f3f3f3fu, (a2 & 0x0f0f0f0fu) | ((a0 >> 2) & 0x30303030u),
                     a1 & 0x3f3f3f3fu, ((a2 >> 4) & 0x0f0f0f0fu) | ((a1 >> 2) & 0x30303030u)};
    memcpy(sc, v, 8);
    memcpy(mn, v + 2, 8);
}

/* Q4_K / Q5_K sub-block k as 32 values 0..31. */
INLINE void k45_unpack(int five, const uint8_t *blk, int k, uint8x16_t v[2]) {
    const uint8_t *q = blk + (five ? 48 : 16) + 32 * (k / 2);
    for (int i = 0; i < 2; i++) {
        uint8x16_t b = vld1q_u8(q + 16 * i);
        v[i] = k % 2 ? vshrq_n_u8(b, 4) : vandq_u8(b, vdupq_n_u8(0x0f));
        if (five) {
            uint8x16_t on = vtstq_u8(vld1q_u8(blk + 16 + 16 * i), vdupq_n_u8((uint8_t)(1 << k)));
            v[i] = vorrq_u8(v[i], vandq_u8(on, vdupq_n_u8(16)));
        }
    }
}

/* Q6_K elements 32j..32j+31 as 0..63 (half h = j / 4, quarter q = j % 4). */
INLINE void q6k_unpack(const uint8_t *blk, int j, uint8x16_t v[2]) {
    int h = j / 4, q = j % 4;
    for (int i = 0; i < 2; i++) {
        uint8x16_t ql = vld1q_u8(blk + 64 * h + 32 * (q % 2) + 16 * i);
        uint8x16_t qh = vld1q_u8(blk + 128 + 32 * h + 16 * i);
        uint8x16_t lo = q < 2 ? vandq_u8(ql, vdupq_n_u8(0x0f)) : vshrq_n_u8(ql, 4);
        uint8x16_t hi;
        switch (q) { /* the shift count must be an immediate */
        case 0: hi = qh; break;
        case 1: hi = vshrq_n_u8(qh, 2); break;
        case 2: hi = vshrq_n_u8(qh, 4); break;
        default: hi = vshrq_n_u8(qh, 6); break;
        }
        v[i] = vorrq_u8(lo, vshlq_n_u8(vandq_u8(hi, vdupq_n_u8(3)), 4));
    }
}

/* ---------------------------------------------------------------- int16 decode */

/* sum over 16 elements of (w - offset) * x as 4 int32 lanes. */
INLINE int32x4_t dot16(uint8x16_t w, int is_signed, int offset, const int16_t *x) {
    int16x8_t lo, hi;
    if (is_signed) {
        lo = vmovl_s8(vget_low_s8(vreinterpretq_s8_u8(w)));
        hi = vmovl_s8(vget_high_s8(vreinterpretq_s8_u8(w)));
    } else {
        lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(w)));
        hi = vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(w)));
    }
    if (offset) {
        lo = vsubq_s16(lo, vdupq_n_s16((int16_t)offset));
        hi = vsubq_s16(hi, vdupq_n_s16((int16_t)offset));
    }
    int16x8_t x0 = vld1q_s16(x), x1 = vld1q_s16(x + 8);
    int32x4_t s = vmull_s16(vget_low_s16(lo), vget_low_s16(x0));
    s = vmlal_high_s16(s, lo, x0);
    s = vmlal_s16(s, vget_low_s16(hi), vget_low_s16(x1));
    return vmlal_high_s16(s, hi, x1);
}

INLINE float leg16_dot(int kind, int64_t n, const uint8_t *w, const uint8_t *x) {
    const size_t bs = leg_bytes(kind);
    const int16_t *xq = cpu_act16_qs(x);
    const float *xd = cpu_act16_d(x, n), *xs = cpu_act16_xs(x, n);
    const int is_signed = kind == LEG_Q8_0;
    const int offset = kind == LEG_Q4_0 ? 8 : kind == LEG_Q5_0 ? 16 : 0;
    const int has_min = kind == LEG_Q4_1 || kind == LEG_Q5_1;
    float32x4_t acc = vdupq_n_f32(0.0f);
    float mins = 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *p = w + b * bs;
        uint8x16_t v[2];
        leg_unpack(kind, p, v);
        int32x4_t s = vaddq_s32(dot16(v[0], is_signed, offset, xq + 32 * b),
                                dot16(v[1], is_signed, offset, xq + 32 * b + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), h2f(p) * xd[b]);
        if (has_min) mins += h2f(p + 2) * xs[b];
    }
    return vaddvq_f32(acc) + mins;
}

INLINE float k45_16_dot(int five, int64_t n, const uint8_t *w, const uint8_t *x) {
    const size_t bs = five ? 176 : 144;
    const int16_t *xq = cpu_act16_qs(x);
    const float *xd = cpu_act16_d(x, n), *xs = cpu_act16_xs(x, n);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float mins = 0.0f;
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * bs;
        uint8_t sc[8], mn[8];
        k4_scales(blk + 4, sc, mn);
        float d = h2f(blk), dmin = h2f(blk + 2);
        for (int k = 0; k < 8; k++) {
            uint8x16_t v[2];
            k45_unpack(five, blk, k, v);
            const int16_t *xk = xq + 256 * B + 32 * k;
            int32x4_t s = vaddq_s32(dot16(v[0], 0, 0, xk), dot16(v[1], 0, 0, xk + 16));
            acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), d * sc[k] * xd[8 * B + k]);
            mins += dmin * mn[k] * xs[8 * B + k];
        }
    }
    return vaddvq_f32(acc) - mins;
}

INLINE float q6k_16_dot(int64_t n, const uint8_t *w, const uint8_t *x) {
    const int16_t *xq = cpu_act16_qs(x);
    const float *xd = cpu_act16_d(x, n);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * 210;
        const int8_t *sc = (const int8_t *)(blk + 192);
        float d = h2f(blk + 208);
        for (int j = 0; j < 8; j++) {
            uint8x16_t v[2];
            q6k_unpack(blk, j, v);
            const int16_t *xj = xq + 256 * B + 32 * j;
            float dx = d * xd[8 * B + j];
            acc = vfmaq_n_f32(acc, vcvtq_f32_s32(dot16(v[0], 0, 32, xj)), dx * sc[2 * j]);
            acc = vfmaq_n_f32(acc, vcvtq_f32_s32(dot16(v[1], 0, 32, xj + 16)), dx * sc[2 * j + 1]);
        }
    }
    return vaddvq_f32(acc);
}

#define GEMV16(t, dot_expr)                                                                   \
    static void gemv16_##t(int64_t n, const void *wp, size_t ldw, int nr, const void *xp,      \
                           size_t ldx, int nt, float *out, size_t ldo) {                       \
        for (int tok = 0; tok < nt; tok++)                                                     \
            for (int r = 0; r < nr; r++) {                                                     \
                const uint8_t *w = (const uint8_t *)wp + r * ldw;                              \
                const uint8_t *x = (const uint8_t *)xp + tok * ldx;                            \
                out[tok * ldo + r] = dot_expr;                                                 \
            }                                                                                  \
    }

GEMV16(q4_0, leg16_dot(LEG_Q4_0, n, w, x))
GEMV16(q4_1, leg16_dot(LEG_Q4_1, n, w, x))
GEMV16(q5_0, leg16_dot(LEG_Q5_0, n, w, x))
GEMV16(q5_1, leg16_dot(LEG_Q5_1, n, w, x))
GEMV16(q8_0, leg16_dot(LEG_Q8_0, n, w, x))
GEMV16(q4_k, k45_16_dot(0, n, w, x))
GEMV16(q5_k, k45_16_dot(1, n, w, x))
GEMV16(q6_k, q6k_16_dot(n, w, x))

/* ---------------------------------------------------------------- dequantization */

/* 16 bytes as 16 floats d * q + c. */
INLINE void store16(uint8x16_t v, int is_signed, float d, float c, float *dst) {
    int16x8_t h[2];
    if (is_signed) {
        h[0] = vmovl_s8(vget_low_s8(vreinterpretq_s8_u8(v)));
        h[1] = vmovl_s8(vget_high_s8(vreinterpretq_s8_u8(v)));
    } else {
        h[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(v)));
        h[1] = vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(v)));
    }
    float32x4_t vc = vdupq_n_f32(c);
    for (int i = 0; i < 2; i++) {
        vst1q_f32(dst + 8 * i, vfmaq_n_f32(vc, vcvtq_f32_s32(vmovl_s16(vget_low_s16(h[i]))), d));
        vst1q_f32(dst + 8 * i + 4, vfmaq_n_f32(vc, vcvtq_f32_s32(vmovl_s16(vget_high_s16(h[i]))), d));
    }
}

INLINE void leg_deq(int kind, const uint8_t *w, float *dst, int64_t n) {
    const size_t bs = leg_bytes(kind);
    const float offset = kind == LEG_Q4_0 ? 8.0f : kind == LEG_Q5_0 ? 16.0f : 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *p = w + b * bs;
        float d = h2f(p), c = kind == LEG_Q4_1 || kind == LEG_Q5_1 ? h2f(p + 2) : -offset * d;
        uint8x16_t v[2];
        leg_unpack(kind, p, v);
        store16(v[0], kind == LEG_Q8_0, d, c, dst + 32 * b);
        store16(v[1], kind == LEG_Q8_0, d, c, dst + 32 * b + 16);
    }
}

INLINE void k45_deq(int five, const uint8_t *w, float *dst, int64_t n) {
    const size_t bs = five ? 176 : 144;
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * bs;
        uint8_t sc[8], mn[8];
        k4_scales(blk + 4, sc, mn);
        float d = h2f(blk), dmin = h2f(blk + 2);
        for (int k = 0; k < 8; k++) {
            uint8x16_t v[2];
            k45_unpack(five, blk, k, v);
            store16(v[0], 0, d * sc[k], -dmin * mn[k], dst + 256 * B + 32 * k);
            store16(v[1], 0, d * sc[k], -dmin * mn[k], dst + 256 * B + 32 * k + 16);
        }
    }
}

static void q6k_deq(const uint8_t *w, float *dst, int64_t n) {
    for (int64_t B = 0; B < n / 256; B++) {
        const uint8_t *blk = w + B * 210;
        const int8_t *sc = (const int8_t *)(blk + 192);
        float d = h2f(blk + 208);
        for (int j = 0; j < 8; j++) {
            uint8x16_t v[2];
            q6k_unpack(blk, j, v);
            float d0 = d * sc[2 * j], d1 = d * sc[2 * j + 1];
            store16(v[0], 0, d0, -32.0f * d0, dst + 256 * B + 32 * j);
            store16(v[1], 0, d1, -32.0f * d1, dst + 256 * B + 32 * j + 16);
        }
    }
}

static void deq_q4_0(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q4_0, w, dst, n); }
static void deq_q4_1(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q4_1, w, dst, n); }
static void deq_q5_0(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q5_0, w, dst, n); }
static void deq_q5_1(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q5_1, w, dst, n); }
static void deq_q8_0(const void *w, float *dst, int64_t n) { leg_deq(LEG_Q8_0, w, dst, n); }
static void deq_q4_k(const void *w, float *dst, int64_t n) { k45_deq(0, w, dst, n); }
static void deq_q5_k(const void *w, float *dst, int64_t n) { k45_deq(1, w, dst, n); }
static void deq_q6_k(const void *w, float *dst, int64_t n) { q6k_deq(w, dst, n); }

/* ---------------------------------------------------------------- float weights */

enum { FL_F32, FL_F16, FL_BF16 };

INLINE float32x4_t fl_load(int kind, const uint8_t *row, int64_t i) {
    if (kind == FL_F32) {
        float f[4];
        memcpy(f, row + 4 * i, 16); /* weights may sit at any byte address */
        return vld1q_f32(f);
    }
    uint16_t h[4];
    memcpy(h, row + 2 * i, 8);
    uint16x4_t v = vld1_u16(h);
    if (kind == FL_F16) return vcvt_f32_f16(vreinterpret_f16_u16(v));
    return vreinterpretq_f32_u32(vshll_n_u16(v, 16));
}

INLINE float fl_scalar(int kind, const uint8_t *row, int64_t i) {
    if (kind == FL_F32) {
        float f;
        memcpy(&f, row + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, row + 2 * i, 2);
    return kind == FL_F16 ? ue_f16_to_f32(h) : ue_bf16_to_f32(h);
}

INLINE void fl_tile(int kind, int R, int T, int64_t n, const uint8_t *w, size_t ldw,
                    const uint8_t *x, size_t ldx, float *out, size_t ldo) {
    float32x4_t acc[4][4];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) acc[r][t] = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t wv[4];
        UNROLL
        for (int r = 0; r < R; r++) wv[r] = fl_load(kind, w + r * ldw, i);
        UNROLL
        for (int t = 0; t < T; t++) {
            float32x4_t xv = vld1q_f32((const float *)(x + t * ldx) + i);
            UNROLL
            for (int r = 0; r < R; r++) acc[r][t] = vfmaq_f32(acc[r][t], wv[r], xv);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++) {
            float s = vaddvq_f32(acc[r][t]);
            for (int64_t k = i; k < n; k++)
                s += fl_scalar(kind, w + r * ldw, k) * ((const float *)(x + t * ldx))[k];
            out[t * ldo + r] = s;
        }
}

#define FL_GEMM(name, kind)                                                                    \
    static void name##_4x4(int64_t n, const uint8_t *w, size_t ldw, const uint8_t *x,          \
                           size_t ldx, float *out, size_t ldo) {                               \
        fl_tile(kind, 4, 4, n, w, ldw, x, ldx, out, ldo);                                      \
    }                                                                                          \
    static void name##_1x4(int64_t n, const uint8_t *w, size_t ldw, const uint8_t *x,          \
                           size_t ldx, float *out, size_t ldo) {                               \
        fl_tile(kind, 1, 4, n, w, ldw, x, ldx, out, ldo);                                      \
    }                                                                                          \
    static void name##_1x1(int64_t n, const uint8_t *w, size_t ldw, const uint8_t *x,          \
                           size_t ldx, float *out, size_t ldo) {                               \
        fl_tile(kind, 1, 1, n, w, ldw, x, ldx, out, ldo);                                      \
    }                                                                                          \
    static void name(int64_t n, const void *wp, size_t ldw, int nr, const void *xp, size_t ldx, \
                     int nt, float *out, size_t ldo) {                                          \
        const uint8_t *w = wp, *x = xp;                                                        \
        int r = 0;                                                                             \
        for (; nt == 4 && r + 4 <= nr; r += 4, w += 4 * ldw, out += 4)                         \
            name##_4x4(n, w, ldw, x, ldx, out, ldo);                                           \
        for (; r < nr; r++, w += ldw, out++) {                                                 \
            if (nt == 4)                                                                       \
                name##_1x4(n, w, ldw, x, ldx, out, ldo);                                       \
            else                                                                               \
                for (int t = 0; t < nt; t++) name##_1x1(n, w, ldw, x + t * ldx, ldx, out + t * ldo, ldo); \
        }                                                                                      \
    }

FL_GEMM(gemm_f32, FL_F32)
FL_GEMM(gemm_f16, FL_F16)
FL_GEMM(gemm_bf16, FL_BF16)

/* ---------------------------------------------------------------- attention, GELU */

/* exp(x) as 2^n * p(r), r = x - n ln2, p degree 6 (relative error ~2e-7); x below -87
 * (including -inf) gives 0, above 88 gives exp(88). */
INLINE float32x4_t exp_ps(float32x4_t x) {
    float32x4_t xc = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.0f)), vdupq_n_f32(88.0f));
    float32x4_t n = vrndnq_f32(vmulq_n_f32(xc, 1.44269504f));
    float32x4_t r = vfmsq_n_f32(xc, n, 0.693145752f);
    r = vfmsq_n_f32(r, n, 1.42860677e-06f);
    float32x4_t p = vdupq_n_f32(1.0f / 720);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    float32x4_t y = vmulq_f32(p, vreinterpretq_f32_s32(e));
    uint32x4_t live = vcgtq_f32(x, vdupq_n_f32(-87.0f));
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(y), live));
}

static float exp_sub(float *s, int n, float m) {
    float32x4_t sum = vdupq_n_f32(0.0f);
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        float32x4_t e = exp_ps(vsubq_f32(vld1q_f32(s + j), vdupq_n_f32(m)));
        vst1q_f32(s + j, e);
        sum = vaddq_f32(sum, e);
    }
    float tail = 0.0f;
    for (; j < n; j++) {
        s[j] = vgetq_lane_f32(exp_ps(vdupq_n_f32(s[j] - m)), 0);
        tail += s[j];
    }
    return vaddvq_f32(sum) + tail;
}

/* gelu_tanh(x) = x / (1 + exp(-2y)), y = sqrt(2/pi) (x + 0.044715 x^3). */
static void gelu_mul(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t x = vld1q_f32(g + i);
        float32x4_t x3 = vmulq_f32(vmulq_n_f32(x, 0.044715f), vmulq_f32(x, x));
        float32x4_t y = vmulq_n_f32(vaddq_f32(x, x3), -2.0f * 0.7978845608028654f);
        float32x4_t r = vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), exp_ps(y)));
        vst1q_f32(g + i, vmulq_f32(r, vld1q_f32(u + i)));
    }
    for (; i < n; i++) {
        float x = g[i], y = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        g[i] = 0.5f * x * (1.0f + tanhf(y)) * u[i];
    }
}

static void attn_dot(int hd, float scale, const float *q, int nq, size_t ldq, const float *k,
                     int nk, size_t ldk, float *s, size_t lds) {
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            const float *qi = q + (size_t)i * ldq, *kj = k + (size_t)j * ldk;
            float32x4_t a0 = vdupq_n_f32(0.0f), a1 = vdupq_n_f32(0.0f);
            for (int c = 0; c < hd; c += 8) {
                a0 = vfmaq_f32(a0, vld1q_f32(qi + c), vld1q_f32(kj + c));
                a1 = vfmaq_f32(a1, vld1q_f32(qi + c + 4), vld1q_f32(kj + c + 4));
            }
            s[(size_t)i * lds + (size_t)j] = scale * vaddvq_f32(vaddq_f32(a0, a1));
        }
}

static void attn_axpy(int hd, const float *p, int nq, size_t ldp, const float *v, int nk,
                      size_t ldv, float *acc, size_t lda) {
    for (int i = 0; i < nq; i++) {
        float *ai = acc + (size_t)i * lda;
        for (int c = 0; c < hd; c += 8) {
            float32x4_t a0 = vld1q_f32(ai + c), a1 = vld1q_f32(ai + c + 4);
            for (int j = 0; j < nk; j++) {
                float pij = p[(size_t)i * ldp + (size_t)j];
                const float *vj = v + (size_t)j * ldv + c;
                a0 = vfmaq_n_f32(a0, vld1q_f32(vj), pij);
                a1 = vfmaq_n_f32(a1, vld1q_f32(vj + 4), pij);
            }
            vst1q_f32(ai + c, a0);
            vst1q_f32(ai + c + 4, a1);
        }
    }
}

static const cpu_kernel_set k_neon = {
    .name = "NEON",
    .isa = CPU_ISA_NEON,
    .quant = {[CPU_ACT_Q16_32] = quant_q16_32},
    .type = {
        [UE_TYPE_Q4_0] = {NULL, CPU_ACT_Q8_32, 4, 4, gemv16_q4_0, deq_q4_0, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q4_1] = {NULL, CPU_ACT_Q8_32, 4, 4, gemv16_q4_1, deq_q4_1, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q5_0] = {NULL, CPU_ACT_Q8_32, 4, 4, gemv16_q5_0, deq_q5_0, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q5_1] = {NULL, CPU_ACT_Q8_32, 4, 4, gemv16_q5_1, deq_q5_1, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q8_0] = {NULL, CPU_ACT_Q8_32, 4, 4, gemv16_q8_0, deq_q8_0, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q4_K] = {NULL, CPU_ACT_Q8_32, 4, 4, gemv16_q4_k, deq_q4_k, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q5_K] = {NULL, CPU_ACT_Q8_32, 4, 4, gemv16_q5_k, deq_q5_k, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q6_K] = {NULL, CPU_ACT_Q8_32, 4, 4, gemv16_q6_k, deq_q6_k, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_F32] = {gemm_f32, CPU_ACT_F32, 4, 4, NULL, NULL, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_F16] = {gemm_f16, CPU_ACT_F32, 4, 4, NULL, NULL, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_BF16] = {gemm_bf16, CPU_ACT_F32, 4, 4, NULL, NULL, CPU_ACT_Q16_32, NULL},
    },
    .attn_dot = attn_dot,
    .attn_axpy = attn_axpy,
    .exp_sub = exp_sub,
    .gelu_mul = gelu_mul,
};

const cpu_kernel_set *cpu_kernels_neon(void) { return &k_neon; }

#else
#include "backend/cpu/cpu_kernels.h"
const cpu_kernel_set *cpu_kernels_neon(void) { return 0; }
#endif
