/* Portable kernel set: the activation quantizer every set reproduces (Q8_32, see
 * cpu_kernels.h) and plain-C integer dot products over each weight type's blocks
 * (shared/docs/gemma3.md section 5). Runs where no SIMD level applies, and fixes the
 * arithmetic the SIMD sets reproduce: integer sums inside a block, one float scale each. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"

static float f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return ue_f16_to_f32(h);
}

static uint32_t u32_at(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Rounds to nearest even, like the SIMD conversions (cvtps2dq), so every set quantizes
 * activations to the same integers. */
static void quant_block(const float *x, int8_t *q, int len, float *d_out) {
    float amax = 0.0f;
    for (int i = 0; i < len; i++) amax = fmaxf(amax, fabsf(x[i]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < len; i++) q[i] = (int8_t)fminf(fmaxf(nearbyintf(x[i] * id), -127.0f), 127.0f);
    *d_out = d;
}

void cpu_quant_q16_32_scalar(const float *x, void *dst, int64_t n) {
    int16_t *qs = dst;
    float *d = (float *)(qs + n), *xs = d + n / 32;
    for (int64_t b = 0; b < n / 32; b++) {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[32 * b + i]));
        float dd = amax / 32767.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            float q = fminf(fmaxf(nearbyintf(x[32 * b + i] * id), -32767.0f), 32767.0f);
            qs[32 * b + i] = (int16_t)q;
            sum += qs[32 * b + i];
        }
        d[b] = dd;
        xs[b] = dd * (float)sum;
    }
}

/* The Q16_32 integers of one 32-block of 16-bit values laid out as hi/lo bytes (cpu_kernels.h):
 * block b goes to group g, half h. */
static void hl_split(const int16_t *q, uint8_t *dst, int64_t g, int h) {
    for (int i = 0; i < 32; i++) {
        dst[128 * g + 32 * h + i] = (uint8_t)(int8_t)(q[i] >> 8); /* arithmetic: floor(q / 256) */
        dst[128 * g + 64 + 32 * h + i] = (uint8_t)(q[i] & 0xff);
    }
}

static void quant_q16_hl(const float *x, void *dst, int64_t n, int k4_order) {
    uint8_t *out = dst;
    size_t hl = cpu_hl_bytes(n);
    float *d = (float *)(out + hl), *xs = d + n / 32, *s16 = d + n / 16;
    memset(out, 0, hl); /* the pad of a last group of 32 */
    for (int64_t b = 0; b < n / 32; b++) {
        _Alignas(4) int16_t q[32 + 4];
        float qd[2];
        cpu_quant_q16_32_scalar(x + 32 * b, q, 32); /* 32 int16 | float d | float xs */
        memcpy(qd, q + 32, sizeof qd);
        int64_t g = b / 2;
        int h = (int)(b % 2);
        if (k4_order) { /* sub-blocks (0,2) (1,3) (4,6) (5,7) of each superblock */
            int s = (int)(b % 8);
            g = b / 8 * 4 + (s / 4) * 2 + s % 2;
            h = (s / 2) % 2;
        }
        hl_split(q, out, g, h);
        d[b] = qd[0];
        xs[b] = qd[1];
        for (int k = 0; k < 2; k++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += q[16 * k + i];
            s16[2 * b + k] = (float)sum;
        }
    }
}

void cpu_quant_q16_hl_scalar(const float *x, void *dst, int64_t n) { quant_q16_hl(x, dst, n, 0); }
void cpu_quant_q16_hlk_scalar(const float *x, void *dst, int64_t n) { quant_q16_hl(x, dst, n, 1); }

void cpu_quant_q8_32_scalar(const float *x, void *dst, int64_t n) {
    int8_t *qs = dst;
    float *d = (float *)(qs + n);
    int32_t *s4 = (int32_t *)(d + n / 32);
    float *xs = (float *)(s4 + n / 4);
    for (int64_t b = 0; b < n / 32; b++) {
        quant_block(x + 32 * b, qs + 32 * b, 32, &d[b]);
        int sum = 0;
        for (int i = 0; i < 32; i++) sum += qs[32 * b + i];
        xs[b] = d[b] * (float)sum;
    }
    for (int64_t j = 0; j < n / 4; j++)
        s4[j] = qs[4 * j] + qs[4 * j + 1] + qs[4 * j + 2] + qs[4 * j + 3];
}

/* ---- legacy 32-blocks: unpack to integers 0..31 (or -128..127), then one int dot ---- */

static void nibbles(const uint8_t *qs, int q[32]) {
    for (int j = 0; j < 16; j++) {
        q[j] = qs[j] & 0x0f;
        q[j + 16] = qs[j] >> 4;
    }
}

static void high_bits(const uint8_t *qh, int q[32]) {
    uint32_t h = u32_at(qh);
    for (int e = 0; e < 32; e++) q[e] |= (int)((h >> e) & 1u) << 4;
}

static int idot32(const int q[32], const int8_t *x) {
    int s = 0;
    for (int e = 0; e < 32; e++) s += q[e] * x[e];
    return s;
}

static int isum32(const int8_t *x) {
    int s = 0;
    for (int e = 0; e < 32; e++) s += x[e];
    return s;
}

/* type: Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0. Offsets (-8, -16) and mins use the block sum of x. */
static float dot_legacy(ue_type type, const uint8_t *w, const void *xrow, int64_t n) {
    const int8_t *xq = cpu_act_qs(xrow);
    const float *xd = cpu_act_d(xrow, n);
    size_t bs = ue_type_get(type)->type_size;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / 32; b++, w += bs) {
        const int8_t *x = xq + 32 * b;
        int q[32];
        float d = f16(w), dx = xd[b];
        switch (type) {
        case UE_TYPE_Q4_0:
            nibbles(w + 2, q);
            sum += d * dx * (float)(idot32(q, x) - 8 * isum32(x));
            break;
        case UE_TYPE_Q4_1:
            nibbles(w + 4, q);
            sum += d * dx * (float)idot32(q, x) + f16(w + 2) * dx * (float)isum32(x);
            break;
        case UE_TYPE_Q5_0:
            nibbles(w + 6, q);
            high_bits(w + 2, q);
            sum += d * dx * (float)(idot32(q, x) - 16 * isum32(x));
            break;
        case UE_TYPE_Q5_1:
            nibbles(w + 8, q);
            high_bits(w + 4, q);
            sum += d * dx * (float)idot32(q, x) + f16(w + 2) * dx * (float)isum32(x);
            break;
        default: /* Q8_0 */
            for (int e = 0; e < 32; e++) q[e] = (int8_t)w[2 + e];
            sum += d * dx * (float)idot32(q, x);
            break;
        }
    }
    return sum;
}

/* ---- K-quants: 256-blocks with integer sub-block scales; activations per 32 ---- */

static void scale_min_k4(const uint8_t *s, int k, int *sc, int *m) {
    if (k < 4) {
        *sc = s[k] & 63;
        *m = s[k + 4] & 63;
    } else {
        *sc = (s[k + 4] & 0x0f) | ((s[k - 4] >> 6) << 4);
        *m = (s[k + 4] >> 4) | ((s[k] >> 6) << 4);
    }
}

/* Q4_K and Q5_K (five): sub-block b of 32 uses the low (b even) or high nibbles of
 * qs[32 * (b / 2) ..], and bit b of qh[l] as its fifth bit. Sub-block b is activation
 * block 8B + b: one float scale each. */
static float dot_q45_k(int five, const uint8_t *w, const void *xrow, int64_t n) {
    const int8_t *xq = cpu_act_qs(xrow);
    const float *xd = cpu_act_d(xrow, n), *xs = cpu_act_xs(xrow, n);
    size_t bs = five ? 176 : 144;
    float sum = 0.0f;
    for (int64_t B = 0; B < n / 256; B++, w += bs) {
        const uint8_t *qh = w + 16, *qs = w + (five ? 48 : 16);
        const int8_t *x = xq + 256 * B;
        float d = f16(w), dmin = f16(w + 2);
        for (int b = 0; b < 8; b++) {
            int sc, m, s = 0;
            scale_min_k4(w + 4, b, &sc, &m);
            for (int l = 0; l < 32; l++) {
                int q = (qs[32 * (b / 2) + l] >> (4 * (b % 2))) & 0x0f;
                if (five) q |= ((qh[l] >> b) & 1) << 4;
                s += q * x[32 * b + l];
            }
            sum += d * (float)sc * xd[8 * B + b] * (float)s - dmin * (float)m * xs[8 * B + b];
        }
    }
    return sum;
}

/* Q6_K: scale group g of 16 lies in activation block 8B + g / 2. */
static float dot_q6_k(const uint8_t *w, const void *xrow, int64_t n) {
    const int8_t *xq = cpu_act_qs(xrow);
    const float *xd = cpu_act_d(xrow, n);
    float sum = 0.0f;
    for (int64_t B = 0; B < n / 256; B++, w += 210) {
        const uint8_t *ql = w, *qh = w + 128;
        const int8_t *sc = (const int8_t *)(w + 192);
        const int8_t *x = xq + 256 * B;
        float d = f16(w + 208);
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int i = 0; i < 16; i++) {
                int e = 16 * g + i, half = e / 128, r = e % 128;
                int low4 = (ql[64 * half + r % 64] >> (4 * (r / 64))) & 0x0f;
                int high2 = (qh[32 * half + r % 32] >> (2 * (r / 32))) & 3;
                s += ((low4 | (high2 << 4)) - 32) * x[e];
            }
            sum += d * (float)sc[g] * xd[8 * B + g / 2] * (float)s;
        }
    }
    return sum;
}

static float dot_row(ue_type type, const uint8_t *w, const void *x, int64_t n) {
    switch (type) {
    case UE_TYPE_Q4_K: return dot_q45_k(0, w, x, n);
    case UE_TYPE_Q5_K: return dot_q45_k(1, w, x, n);
    case UE_TYPE_Q6_K: return dot_q6_k(w, x, n);
    case UE_TYPE_F32:
    case UE_TYPE_F16:
    case UE_TYPE_BF16: return ue_dot_row_f32(type, w, x, n);
    default: return dot_legacy(type, w, x, n);
    }
}


/* ---- attention building blocks ---- */

static void attn_dot(int hd, float scale, const float *q, int nq, size_t ldq, const float *k,
                     int nk, size_t ldk, float *s, size_t lds) {
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            const float *qi = q + (size_t)i * ldq, *kj = k + (size_t)j * ldk;
            float part[8] = {0};
            for (int c = 0; c < hd; c += 8)
                for (int u = 0; u < 8; u++) part[u] += qi[c + u] * kj[c + u];
            float sum = 0.0f;
            for (int u = 0; u < 8; u++) sum += part[u];
            s[(size_t)i * lds + (size_t)j] = scale * sum;
        }
}

static void attn_axpy(int hd, const float *p, int nq, size_t ldp, const float *v, int nk,
                      size_t ldv, float *acc, size_t lda) {
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            float pij = p[(size_t)i * ldp + (size_t)j];
            const float *vj = v + (size_t)j * ldv;
            float *ai = acc + (size_t)i * lda;
            for (int c = 0; c < hd; c++) ai[c] += pij * vj[c];
        }
}

static float exp_sub(float *s, int n, float m) {
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        s[j] = expf(s[j] - m);
        sum += s[j];
    }
    return sum;
}

static void gelu_mul(float *g, const float *u, int64_t n) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float x = g[i];
        g[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x))) * u[i];
    }
}

#define SCALAR_GEMM(name, type)                                                              \
    static void name(int64_t n, const void *w, size_t ldw, int nr, const void *x, size_t ldx,  \
                     int nt, float *out, size_t ldo) {                                          \
        for (int t = 0; t < nt; t++)                                                           \
            for (int r = 0; r < nr; r++)                                                       \
                out[(size_t)t * ldo + (size_t)r] =                                             \
                    dot_row(type, (const uint8_t *)w + (size_t)r * ldw,                        \
                            (const uint8_t *)x + (size_t)t * ldx, n);                         \
    }

SCALAR_GEMM(gemm_q4_0, UE_TYPE_Q4_0)
SCALAR_GEMM(gemm_q4_1, UE_TYPE_Q4_1)
SCALAR_GEMM(gemm_q5_0, UE_TYPE_Q5_0)
SCALAR_GEMM(gemm_q5_1, UE_TYPE_Q5_1)
SCALAR_GEMM(gemm_q8_0, UE_TYPE_Q8_0)
SCALAR_GEMM(gemm_q4_k, UE_TYPE_Q4_K)
SCALAR_GEMM(gemm_q5_k, UE_TYPE_Q5_K)
SCALAR_GEMM(gemm_q6_k, UE_TYPE_Q6_K)
SCALAR_GEMM(gemm_f32, UE_TYPE_F32)
SCALAR_GEMM(gemm_f16, UE_TYPE_F16)
SCALAR_GEMM(gemm_bf16, UE_TYPE_BF16)

/* The scalar set's exact path dequantizes with the oracle itself (no gemv16: the driver
 * then takes the dequantize + F32 route for every batch size). */
static void deq_row(ue_type type, const void *row, float *dst, int64_t n) {
    ue_dequantize_row(type, row, dst, n);
}
#define SCALAR_DEQ(name, type) \
    static void name(const void *row, float *dst, int64_t n) { deq_row(type, row, dst, n); }
SCALAR_DEQ(deq_q4_0, UE_TYPE_Q4_0)
SCALAR_DEQ(deq_q4_1, UE_TYPE_Q4_1)
SCALAR_DEQ(deq_q5_0, UE_TYPE_Q5_0)
SCALAR_DEQ(deq_q5_1, UE_TYPE_Q5_1)
SCALAR_DEQ(deq_q8_0, UE_TYPE_Q8_0)
SCALAR_DEQ(deq_q4_k, UE_TYPE_Q4_K)
SCALAR_DEQ(deq_q5_k, UE_TYPE_Q5_K)
SCALAR_DEQ(deq_q6_k, UE_TYPE_Q6_K)

static const cpu_kernel_set k_scalar = {
    .name = "scalar",
    .isa = CPU_ISA_SCALAR,
    .quant = {[CPU_ACT_Q8_32] = cpu_quant_q8_32_scalar, [CPU_ACT_Q16_32] = cpu_quant_q16_32_scalar,
              [CPU_ACT_Q16_HL] = cpu_quant_q16_hl_scalar, [CPU_ACT_Q16_HLK] = cpu_quant_q16_hlk_scalar},
    .type = {
        [UE_TYPE_Q4_0] = {gemm_q4_0, CPU_ACT_Q8_32, 4, 4, NULL, deq_q4_0, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q4_1] = {gemm_q4_1, CPU_ACT_Q8_32, 4, 4, NULL, deq_q4_1, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q5_0] = {gemm_q5_0, CPU_ACT_Q8_32, 4, 4, NULL, deq_q5_0, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q5_1] = {gemm_q5_1, CPU_ACT_Q8_32, 4, 4, NULL, deq_q5_1, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q8_0] = {gemm_q8_0, CPU_ACT_Q8_32, 4, 4, NULL, deq_q8_0, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q4_K] = {gemm_q4_k, CPU_ACT_Q8_32, 4, 4, NULL, deq_q4_k, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q5_K] = {gemm_q5_k, CPU_ACT_Q8_32, 4, 4, NULL, deq_q5_k, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_Q6_K] = {gemm_q6_k, CPU_ACT_Q8_32, 4, 4, NULL, deq_q6_k, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_F32] = {gemm_f32, CPU_ACT_F32, 4, 4, NULL, NULL, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_F16] = {gemm_f16, CPU_ACT_F32, 4, 4, NULL, NULL, CPU_ACT_Q16_32, NULL},
        [UE_TYPE_BF16] = {gemm_bf16, CPU_ACT_F32, 4, 4, NULL, NULL, CPU_ACT_Q16_32, NULL},
    },
    .attn_dot = attn_dot,
    .attn_axpy = attn_axpy,
    .exp_sub = exp_sub,
    .gelu_mul = gelu_mul,
};

const cpu_kernel_set *cpu_kernels_scalar(void) { return &k_scalar; }
