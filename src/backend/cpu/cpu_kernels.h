/* The fast CPU matmul kernels: one kernel set per instruction-set level (scalar, AVX2,
 * AVX-512 VNNI), chosen at run time from cpuid (cpu_features.c). Activations are quantized
 * once per matmul into one of two int8 row formats, then every weight type runs an integer
 * dot product over its own blocks (shared/docs/gemma3.md section 5 for the weight layouts).
 * F32 / F16 / BF16 weights take the f32 activations as they are. */
#ifndef UE_BACKEND_CPU_KERNELS_H
#define UE_BACKEND_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

typedef enum cpu_isa {
    CPU_ISA_SCALAR = 0,
    CPU_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    CPU_ISA_AVX512 = 2, /* AVX-512 F/DQ/BW/VL + VNNI (+ AVX2/FMA/F16C) */
    CPU_ISA_NEON = 3,   /* arm64 Advanced SIMD */
    CPU_ISA_AMX = 4,    /* AVX-512 level + AMX-TILE/INT8 (Linux, tile data permitted): after
                         * NEON so the other values stay; cpu_features.c orders it above AVX-512 */
    CPU_ISA_AVXVNNI = 5, /* AVX2 level + AVX-VNNI (VEX VPDPBUSD): chosen where AVX-512 is not */
    CPU_ISA_COUNT
} cpu_isa;

/* Activation row formats (one row per token; n a multiple of 32):
 *  Q8_32:  int8 qs[n] | float d[n/32] | int32 s4[n/4] | float xs[n/32]
 *          x[i] ~ d[i/32] * qs[i]; s4[j] = qs[4j] + .. + qs[4j+3] (the integer lane sums an
 *          offset weight type, q - o, needs: sum (q - o) x = sum q x - o * sum x);
 *          xs[b] = d[b] * (qs[32b] + .. + qs[32b+31]) (for the mins of Q4_1/Q5_1/K-quants).
 *          One scale per 32 for every weight type: Gemma's activations have outlier channels,
 *          and 256-element scales (ggml's Q8_K) tripled the logit error on the 270M model.
 *  Q16_32: int16 qs[n] | float d[n/32] | float xs[n/32]
 *          the same with 16-bit integers (x[i] ~ d[i/32] * qs[i], |qs| <= 32767): error
 *          ~1/256 of Q8_32's, small enough to keep every argmax of the fp32 reference.
 *  Q16_HL, Q16_HLK: the Q16_32 integers split into bytes, q = 256 * hi + lo (hi signed,
 *          lo unsigned), so int8 dot instructions (vpdpbusd) give exact 16-bit products:
 *          w . q = 256 (w . hi) + (w . lo). Groups of 64 elements, 128 bytes each (int8
 *          hi[64] | uint8 lo[64]; a last group of 32 padded with zeros), then float d[n/32] |
 *          float xs[n/32] | float s16[n/16] (s16: integer sums over 16 elements, for Q6_K's
 *          offset). Q16_HL: group g = elements 64g..64g+63. Q16_HLK (n a multiple of 256):
 *          group 4B + j of superblock B = 32-blocks k4(j), k4(j) + 2 with k4 = 0, 1, 4, 5,
 *          the order in which Q4_K / Q5_K nibbles unpack.
 *  F32:    the f32 row itself (no conversion). */
typedef enum cpu_act {
    CPU_ACT_F32 = 0,
    CPU_ACT_Q8_32 = 1,
    CPU_ACT_Q16_32 = 2,
    CPU_ACT_Q16_HL = 3,
    CPU_ACT_Q16_HLK = 4,
    CPU_ACT_COUNT
} cpu_act;

/* Bytes of one activation row of n elements in format act, a multiple of 64. */
size_t cpu_act_row_bytes(cpu_act act, int64_t n);

static inline const int8_t *cpu_act_qs(const void *row) { return (const int8_t *)row; }
static inline const float *cpu_act_d(const void *row, int64_t n) {
    return (const float *)((const int8_t *)row + n);
}
static inline const int32_t *cpu_act_s4(const void *row, int64_t n) {
    return (const int32_t *)((const int8_t *)row + n + n / 32 * 4);
}
static inline const float *cpu_act_xs(const void *row, int64_t n) {
    return (const float *)((const int8_t *)row + n + n / 32 * 4 + n);
}
static inline const int16_t *cpu_act16_qs(const void *row) { return (const int16_t *)row; }
static inline const float *cpu_act16_d(const void *row, int64_t n) {
    return (const float *)((const int16_t *)row + n);
}
static inline const float *cpu_act16_xs(const void *row, int64_t n) {
    return cpu_act16_d(row, n) + n / 32;
}

/* Q16_HL / Q16_HLK: bytes of the hi/lo groups; the float arrays follow them. */
static inline size_t cpu_hl_bytes(int64_t n) { return (size_t)(n + 63) / 64 * 128; }
static inline const float *cpu_hl_d(const void *row, int64_t n) {
    return (const float *)((const uint8_t *)row + cpu_hl_bytes(n));
}
static inline const float *cpu_hl_xs(const void *row, int64_t n) { return cpu_hl_d(row, n) + n / 32; }
static inline const float *cpu_hl_s16(const void *row, int64_t n) { return cpu_hl_d(row, n) + n / 16; }

/* Quantizes one f32 row of n elements into an activation row. */
typedef void (*cpu_quant_fn)(const float *x, void *dst, int64_t n);

/* A block of the product: out[t * ldo + r] = dot(weight row r, activation row t) for
 * r < nr (any count; best in multiples of mr), t < nt <= nt_max. w: nr rows of ldw bytes;
 * x: nt activation rows of ldx bytes (f32 rows when the format is F32). */
typedef void (*cpu_gemm_fn)(int64_t n, const void *w, size_t ldw, int nr, const void *x,
                            size_t ldx, int nt, float *out, size_t ldo);

/* Dequantizes one weight row of n elements to f32. */
typedef void (*cpu_deq_fn)(const void *row, float *dst, int64_t n);

/* Per weight type. Two ways to multiply (cpu_matmul.c chooses):
 *  exact (default): decode takes gemv16 (16-bit activations in format act16: Q16_32 or its
 *      byte split Q16_HL / Q16_HLK; one row and token at a time, any nr and nt); prefill
 *      (cpu_prefill.c) unpacks a chunk of rows for the integer panels below, or
 *      dequantizes it with deq for the F32 gemm where the set or type has no unpack.
 *  int8 (UE_CPU_MATMUL=int8, llama.cpp's arithmetic): gemm over Q8_32 activations. */
/* Integer prefill (exact path, decode's arithmetic), optional per set and type:
 *  unpack: one weight row (n elements) as signed bytes q[i] and per-block floats sc (and mn),
 *      in one of three forms (cpu_type_kernel.unpack_form):
 *        CPU_IPANEL_MIN32:    q in 0..127, w[i] = sc[i / 32] * q[i] - mn[i / 32]
 *                             (Q4_0, Q5_0: mn = offset * d; Q4_1, Q5_1, Q4_K, Q5_K: the mins);
 *        CPU_IPANEL_SIGNED32: q in -128..127, w[i] = sc[i / 32] * q[i], mn unused (Q8_0);
 *        CPU_IPANEL_SIGNED16: q in -128..127, w[i] = sc[i / 16] * q[i], mn unused (Q6_K:
 *                             q - 32 and d * scale of each 16 elements);
 *      and wc[b] = -128 * (sum of q over scale block b), the correction for the bias of hi
 *      (vpdpbusd takes the activation bytes unsigned and the weight bytes signed, so
 *      sum q (hi + 128) - 128 sum q = sum q hi for any signed q; every 32-block sum stays
 *      below 2^27 in int32).
 *  ipanel_pack: columns [k0, k0 + kn) (k0 a multiple of 64, kn of 64 or reaching n) of
 *      nt <= CPU_IPANEL_TOKENS token rows of x (ldx floats apart, n elements) into one
 *      panel: the Q16_32 integers of each token split q = 256 hi + lo, bytes
 *      [n/4 groups of 4 elements][hi + 128: 32 tokens x 4 | lo: 32 tokens x 4], then float
 *      dx[n/32][32] (block scales) and xs[n/32][32] (dx * integer block sums); zeros for
 *      tokens past nt. dst 64-byte aligned, cpu_ipanel_size(n) bytes; tmp: 64 kn bytes.
 *  ipanel_gemm: out[t * ldo + r] (+)= sum over the kn elements from k0 of w[r] . x[t], for
 *      r < nr rows unpacked from column k0 (w), t < nt tokens of the panel xp.
 *  The rows' bytes are arranged in groups of the set's ipanel_rows[form] rows
 *  (CPU_IPANEL_ROWS when 0; the rest of 6-row groups in groups of 2, then 1; of other sizes in one group:
 *  cpu_ipanel_group): a group of g rows from row r0 lies at q + r0 * ldq as
 *  [kn / S blocks][g rows][S bytes] (S = 32 or 16, the form's scale block), so a tile finds
 *  its rows' next bytes side by side and the rows go there by whole blocks.
 * Word panels (ipanel_qbytes = 2; the AVX-512 set): the same integers without the byte
 * split: activations as int16 [n/2 pairs of elements][32 tokens][2] (the same 64 n bytes,
 * then the same dx and xs), and the unpacked weights q as int16 in the same group layout
 * (ldq and the groups counted in bytes, 2 per weight); wc unused. */
enum { CPU_IPANEL_TOKENS = 32, CPU_IPANEL_ROWS = 6 };
typedef enum cpu_ipanel_form { CPU_IPANEL_MIN32 = 0, CPU_IPANEL_SIGNED32 = 1, CPU_IPANEL_SIGNED16 = 2 } cpu_ipanel_form;
/* Elements per scale of a form. */
static inline int cpu_ipanel_sub(cpu_ipanel_form f) { return f == CPU_IPANEL_SIGNED16 ? 16 : 32; }
/* The group of row r among nr rows in groups of G rows: its first row and its size. */
static inline void cpu_ipanel_group(int G, int r, int nr, int *r0, int *g) {
    int full = nr / G * G, pairs = full + (nr - full) / 2 * 2;
    if (r < full) {
        *r0 = r / G * G;
        *g = G;
    } else if (G != CPU_IPANEL_ROWS) {
        *r0 = full;
        *g = nr - full;
    } else {
        *g = r < pairs ? 2 : 1;
        *r0 = r < pairs ? full + (r - full) / 2 * 2 : r;
    }
}
static inline size_t cpu_ipanel_bytes(int64_t n) { return (size_t)n * 64; }
static inline size_t cpu_ipanel_size(int64_t n) { return (size_t)n * 72; }
typedef struct cpu_ipanel_rows {
    const uint8_t *q;
    size_t ldq; /* bytes from one row to the next */
    const float *sc, *mn;
    const int32_t *wc;
    size_t lds; /* elements from one row's scales (and wc) to the next */
    cpu_ipanel_form form;
} cpu_ipanel_rows;
typedef void (*cpu_unpack_fn)(const void *row, uint8_t *q, float *sc, float *mn, int32_t *wc, int64_t n);
typedef void (*cpu_ipanel_pack_fn)(const float *x, size_t ldx, int nt, int64_t n, int64_t k0, int64_t kn,
                                   void *dst, void *tmp);
typedef void (*cpu_ipanel_gemm_fn)(int64_t k0, int64_t kn, int64_t n, const cpu_ipanel_rows *w, int nr,
                                   const void *xp, int nt, float *out, size_t ldo, int accumulate);

typedef struct cpu_type_kernel {
    cpu_gemm_fn gemm; /* NULL: not handled by this set (the portable f32 path runs) */
    cpu_act act;
    int mr, nt_max;
    cpu_gemm_fn gemv16;
    cpu_deq_fn deq;
    cpu_act act16; /* the activation format of gemv16 */
    cpu_unpack_fn unpack; /* integer prefill (with the set's ipanel_*), NULL: f32 */
    cpu_ipanel_form unpack_form;
} cpu_type_kernel;

/* Attention building blocks (f32; rows of hd elements, hd a multiple of 16):
 *  dot:  s[i * lds + j] = scale * (q_i . k_j)      for i < nq, j < nk
 *  axpy: acc_i += sum_j p[i * ldp + j] * v_j      for i < nq, j < nk
 *  exp:  s[j] = exp(s[j] - m) for j < n (-inf entries give 0); returns the sum */
typedef void (*cpu_attn_dot_fn)(int hd, float scale, const float *q, int nq, size_t ldq,
                                const float *k, int nk, size_t ldk, float *s, size_t lds);
typedef void (*cpu_attn_axpy_fn)(int hd, const float *p, int nq, size_t ldp, const float *v,
                                 int nk, size_t ldv, float *acc, size_t lda);
typedef float (*cpu_exp_fn)(float *s, int n, float m);
/* g[i] = gelu_tanh(g[i]) * u[i] for i < n (shared/docs/gemma3.md 1.2). */
typedef void (*cpu_gelu_mul_fn)(float *g, const float *u, int64_t n);
/* y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i] for i < n (the sum of squares in double;
 * y may be x). */
typedef void (*cpu_rms_norm_fn)(const float *x, const float *w, float eps, float *y, int64_t n);

/* Prefill over token panels (optional per set): pack writes the activations of nt <= P
 * tokens (rows of x, ldx floats apart) as xt[k * P + j] = x[j][k], zeros for j >= nt (xt
 * 64-byte aligned); gemm computes out[t * ldo + r] (+)= sum_k w[r * ldw + k] xt[k * P + t]
 * for r < nr, t < nt over kn values of k (accumulate: add to out, else store). */
enum { CPU_PANEL_TOKENS = 48 };
typedef void (*cpu_panel_pack_fn)(const float *x, size_t ldx, int nt, int64_t n, float *xt);
typedef void (*cpu_panel_gemm_fn)(int64_t kn, const float *w, size_t ldw, int nr,
                                  const float *xt, int nt, float *out, size_t ldo, int accumulate);

typedef struct cpu_kernel_set {
    const char *name; /* "AVX-512 VNNI" */
    cpu_isa isa;
    cpu_quant_fn quant[CPU_ACT_COUNT];
    cpu_type_kernel type[UE_TYPE_COUNT];
    cpu_attn_dot_fn attn_dot;
    cpu_attn_axpy_fn attn_axpy;
    cpu_exp_fn exp_sub;
    cpu_gelu_mul_fn gelu_mul;
    cpu_rms_norm_fn rms_norm; /* NULL: the scalar loop of cpu_ops.c */
    cpu_panel_pack_fn panel_pack; /* NULL: prefill runs the F32 row tiles */
    cpu_panel_gemm_fn panel_gemm;
    cpu_ipanel_pack_fn ipanel_pack; /* NULL: no integer prefill */
    cpu_ipanel_gemm_fn ipanel_gemm;
    int ipanel_rows[3]; /* rows of a weight group per form (0: CPU_IPANEL_ROWS) */
    int ipanel_qbytes;  /* bytes per unpacked weight: 2 word panels, 0 or 1 byte panels */
} cpu_kernel_set;

/* The best level this CPU runs (cpuid and OS-enabled register state; NEON on arm64), AMX
 * excepted: its prefill is still slower than AVX-512 VNNI, so it runs only when asked.
 * UE_CPU_ISA=scalar|avx2|avxvnni|avx512|amx|neon picks a level; never one the CPU lacks. */
cpu_isa cpu_isa_detect(void);
/* Whether this CPU can run level isa. */
int cpu_isa_supported(cpu_isa isa);
/* The kernel set of a level (levels this build or CPU lacks fall back to lower ones). */
const cpu_kernel_set *cpu_kernels_get(cpu_isa isa);

/* Per-level sets; NULL where the build target has no such level. */
const cpu_kernel_set *cpu_kernels_scalar(void);
const cpu_kernel_set *cpu_kernels_avx2(void);
const cpu_kernel_set *cpu_kernels_avx512(void);
const cpu_kernel_set *cpu_kernels_neon(void);
/* The AVX2 set with the integer prefill on AVX-VNNI (kernels_avxvnni.c). */
const cpu_kernel_set *cpu_kernels_avxvnni(void);
/* The AVX-512 set with the integer prefill products on AMX tiles (kernels_amx.c). */
const cpu_kernel_set *cpu_kernels_amx(void);
/* Asks Linux for this process's AMX tile-data permission; 1 when granted (0 elsewhere). */
int cpu_amx_request(void);

/* The scalar quantizers, the reference behaviour of every set's. */
void cpu_quant_q8_32_scalar(const float *x, void *dst, int64_t n);
void cpu_quant_q16_32_scalar(const float *x, void *dst, int64_t n);
void cpu_quant_q16_hl_scalar(const float *x, void *dst, int64_t n);
void cpu_quant_q16_hlk_scalar(const float *x, void *dst, int64_t n);

#endif
