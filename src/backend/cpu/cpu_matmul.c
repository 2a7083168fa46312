/* CPU matrix multiplication out[t][o] = sum_i w[o][i] * x[t][i] for quantized weights.
 * Reference kernels: ue_dot_row_f32 per (token, row), straight from the type definitions.
 * Fast kernels (cpu_kernels.h): threads take chunks of rows from a shared counter.
 *  - decode (few tokens): activations quantized once per call to 16-bit blocks (Q16_32 or
 *    its hi/lo byte split, the kernel set says which),
 *    each thread streams its rows once (memory-bound);
 *  - prefill: cpu_prefill.c (rows unpacked into cache-sized scratch, token panels passing
 *    over them: compute-bound);
 *  - int8 mode (UE_CPU_MATMUL=int8): llama.cpp's arithmetic, Q8_32 activations and int8
 *    dot products for every batch. On the 270M model its logits differ from the fp32
 *    reference by up to ~1.6 (an argmax flips), the default path's by under 0.001.
 * Types without SIMD kernels dequantize a tile of rows to f32 and reuse it per token. */
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/fused_compose.h"

enum {
    TILE_ROWS = 8,
    CHUNK_BYTES = 32 * 1024,          /* int8 mode: weights of one chunk, about an L1 */
    FLOAT_PANEL_TOKENS = 64,          /* float weights take the f32 panels from this batch */
    QUANT_PARALLEL = 1 << 16,         /* activation elements worth splitting over threads */
};

typedef struct matmul_job {
    cpu_backend *cpu;
    const ue_tensor *w, *x, *out;
    /* fast path */
    const cpu_type_kernel *k;
    cpu_gemm_fn gemm;  /* the quantized-activation kernel used (gemm or gemv16) */
    cpu_act act;
    int nt_max;
    const uint8_t *xq; /* activation rows */
    size_t ldx;
    long chunk_rows, n_chunks;
    _Alignas(64) atomic_long next_chunk; /* own cache line: every thread writes it */
} matmul_job;

/* Sixteen independent partial sums, so the compiler can keep them in vector registers. */
static float dot_f32(const float *a, const float *b, int64_t n) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j];
    float sum = 0.0f;
    for (int j = 0; j < 16; j++) sum += acc[j];
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static void matmul_reference_thread(void *ctx, int ith, int nth) {
    const matmul_job *job = ctx;
    const ue_tensor *w = job->w, *x = job->x, *out = job->out;
    int64_t n_in = w->ne[0], n_out = w->ne[1], n_tok = x->ne[1];
    size_t row_bytes = ue_type_row_bytes(w->type, n_in);
    const char *wdata = ue_tensor_host(w);
    const float *xdata = ue_tensor_host(x);
    float *odata = ue_tensor_host(out);
    long begin, end;
    ue_pool_split((long)n_out, ith, nth, &begin, &end);
    for (long o = begin; o < end; o++)
        for (int64_t t = 0; t < n_tok; t++)
            odata[t * n_out + o] =
                ue_dot_row_f32(w->type, wdata + (size_t)o * row_bytes, xdata + t * n_in, n_in);
}

static void matmul_tiled_thread(void *ctx, int ith, int nth) {
    const matmul_job *job = ctx;
    const ue_tensor *w = job->w, *x = job->x, *out = job->out;
    int64_t n_in = w->ne[0], n_out = w->ne[1], n_tok = x->ne[1];
    size_t row_bytes = ue_type_row_bytes(w->type, n_in);
    const char *wdata = ue_tensor_host(w);
    const float *xdata = ue_tensor_host(x);
    float *odata = ue_tensor_host(out);
    float *tile = cpu_scratch_get(job->cpu, ith, (size_t)TILE_ROWS * (size_t)n_in);
    if (!tile) { /* out of memory: fall back to the allocation-free reference path */
        matmul_reference_thread(ctx, ith, nth);
        return;
    }
    long begin, end;
    ue_pool_split((long)n_out, ith, nth, &begin, &end);
    for (long o0 = begin; o0 < end; o0 += TILE_ROWS) {
        int rows = (int)(end - o0 < TILE_ROWS ? end - o0 : TILE_ROWS);
        for (int r = 0; r < rows; r++)
            ue_dequantize_row(w->type, wdata + (size_t)(o0 + r) * row_bytes, tile + r * n_in,
                              n_in);
        for (int64_t t = 0; t < n_tok; t++) {
            const float *xt = xdata + t * n_in;
            float *ot = odata + t * n_out + o0;
            for (int r = 0; r < rows; r++) ot[r] = dot_f32(tile + r * n_in, xt, n_in);
        }
    }
}

static void quantize_thread(void *ctx, int ith, int nth) {
    const matmul_job *job = ctx;
    int64_t n_in = job->x->ne[0];
    const float *xdata = ue_tensor_host(job->x);
    cpu_quant_fn quant = job->cpu->kset->quant[job->act];
    long begin, end;
    ue_pool_split((long)job->x->ne[1], ith, nth, &begin, &end);
    for (long t = begin; t < end; t++)
        quant(xdata + t * n_in, (uint8_t *)job->xq + (size_t)t * job->ldx, n_in);
}

static void matmul_fast_thread(void *ctx, int ith, int nth) {
    matmul_job *job = ctx;
    (void)ith;
    (void)nth;
    const ue_tensor *w = job->w, *out = job->out;
    int64_t n_in = w->ne[0], n_out = w->ne[1], n_tok = job->x->ne[1];
    size_t row_bytes = ue_type_row_bytes(w->type, n_in);
    const uint8_t *wdata = ue_tensor_host(w);
    float *odata = ue_tensor_host(out);
    for (;;) {
        long c = atomic_fetch_add_explicit(&job->next_chunk, 1, memory_order_relaxed);
        if (c >= job->n_chunks) break;
        int64_t r_begin = c * job->chunk_rows;
        int64_t r_end = r_begin + job->chunk_rows < n_out ? r_begin + job->chunk_rows : n_out;
        for (int64_t t0 = 0; t0 < n_tok; t0 += job->nt_max) {
            int nt = (int)(n_tok - t0 < job->nt_max ? n_tok - t0 : job->nt_max);
            job->gemm(n_in, wdata + (size_t)r_begin * row_bytes, row_bytes, (int)(r_end - r_begin),
                      job->xq + (size_t)t0 * job->ldx, job->ldx, nt, odata + t0 * n_out + r_begin,
                      (size_t)n_out);
        }
    }
}

/* Chunks of whole micro-tiles and several per thread, so a thread slowed by other work
 * on the machine is covered by the rest. With several token groups a chunk's weights are
 * reused by each group, so a chunk is about CHUNK_BYTES (cache-sized); with one group the
 * weights stream once and chunks are only as small as the balancing needs. */
static long chunk_rows_for(int64_t n_out, size_t row_bytes, int mr, int nth, int one_pass) {
    long rows = (long)(CHUNK_BYTES / (row_bytes ? row_bytes : 1));
    long per_thread = (long)(n_out / (4 * nth));
    if (one_pass || rows > per_thread) rows = per_thread;
    if (rows < mr) rows = mr;
    return (rows + mr - 1) / mr * mr;
}

/* Returns 0 when the fast path cannot run (type without kernel, out of memory). */
static int matmul_fast(cpu_backend *cpu, matmul_job *job) {
    const ue_tensor *w = job->w, *x = job->x;
    const cpu_type_kernel *k = &cpu->kset->type[w->type];
    int64_t n_in = w->ne[0], n_tok = x->ne[1];
    job->k = k;
    job->act = k->act;
    job->gemm = k->gemm;
    job->nt_max = k->nt_max;
    /* float weights over a long batch: the f32 panels (the row tiles would stream every
     * activation row from memory again for each chunk of rows: 4096 image patches ran a
     * 4304-wide F16 matmul at 51 GFLOP/s on 2 threads) */
    if (k->act == CPU_ACT_F32 && k->deq && cpu->kset->panel_gemm && n_tok >= FLOAT_PANEL_TOKENS &&
        cpu_prefill_matmul(cpu, &job->w, &job->out, 1, x))
        return 1;
    if (k->act != CPU_ACT_F32 && !cpu->int8_matmul) {
        if ((n_tok >= CPU_PREFILL_TOKENS || !k->gemv16) && k->deq) return cpu_prefill_matmul(cpu, &job->w, &job->out, 1, x);
        job->act = k->act16;
        job->gemm = k->gemv16;
        job->nt_max = 1;
    }
    if (!job->gemm) return 0;
    if (job->act == CPU_ACT_F32) {
        job->xq = ue_tensor_host(x);
        job->ldx = (size_t)n_in * sizeof(float);
    } else {
        job->ldx = cpu_act_row_bytes(job->act, n_in);
        job->xq = cpu_shared_scratch_get(cpu, job->ldx * (size_t)n_tok);
        if (!job->xq) return 0;
        if (n_tok * n_in >= QUANT_PARALLEL && n_tok > 1) {
            cpu_pool_run_as(cpu, CPU_PROF_MM_QUANT, quantize_thread, job);
        } else {
            uint64_t t0 = cpu_prof_begin(cpu);
            quantize_thread(job, 0, 1);
            cpu_prof_end(cpu, CPU_PROF_MM_QUANT, t0);
        }
    }
    int nth = ue_pool_n_threads(cpu->pool);
    job->chunk_rows = chunk_rows_for(w->ne[1], ue_type_row_bytes(w->type, n_in), k->mr, nth,
                                     n_tok <= job->nt_max);
    job->n_chunks = (long)((w->ne[1] + job->chunk_rows - 1) / job->chunk_rows);
    atomic_store(&job->next_chunk, 0);
    cpu_pool_run(cpu, matmul_fast_thread, job);
    return 1;
}

void cpu_op_matmul(ue_backend *be, const ue_tensor *w, const ue_tensor *x, const ue_tensor *out) {
    cpu_backend *cpu = (cpu_backend *)be;
    matmul_job job = {.cpu = cpu, .w = w, .x = x, .out = out};
    if (cpu->kernels == UE_CPU_KERNELS_REFERENCE) {
        cpu_pool_run(cpu, matmul_reference_thread, &job);
        return;
    }
    if (!matmul_fast(cpu, &job)) cpu_pool_run(cpu, matmul_tiled_thread, &job);
}

/* Whether a batch takes the fused prefill matmuls (their activations packed once). */
static int fused_prefill(const cpu_backend *cpu, const ue_tensor *x) {
    return cpu->kernels != UE_CPU_KERNELS_REFERENCE && !cpu->int8_matmul && x->ne[1] >= CPU_PREFILL_TOKENS;
}

void cpu_op_matmul_qkv(ue_backend *be, const ue_tensor *wq, const ue_tensor *wk, const ue_tensor *wv,
                       const ue_tensor *x, const ue_tensor *q, const ue_tensor *k, const ue_tensor *v) {
    cpu_backend *cpu = (cpu_backend *)be;
    if (fused_prefill(cpu, x)) {
        const ue_tensor *w[3] = {wq, wk, wv}, *out[3] = {q, k, v};
        uint64_t t0 = cpu_prof_op_begin(cpu, CPU_PROF_MATMUL_QKV);
        if (cpu_prefill_matmul(cpu, w, out, 3, x)) {
            int64_t n = x->ne[1];
            cpu_prof_op_end(cpu, CPU_PROF_MATMUL_QKV, t0,
                            cpu_matmul_flops(wq, n) + cpu_matmul_flops(wk, n) + cpu_matmul_flops(wv, n));
            return;
        }
    }
    ue_compose_matmul_qkv(be, wq, wk, wv, x, q, k, v);
}

void cpu_op_matmul_gelu(ue_backend *be, const ue_tensor *w_gate, const ue_tensor *w_up, const ue_tensor *x,
                        const ue_tensor *g, const ue_tensor *u) {
    cpu_backend *cpu = (cpu_backend *)be;
    if (fused_prefill(cpu, x)) {
        uint64_t t0 = cpu_prof_op_begin(cpu, CPU_PROF_MATMUL_GELU);
        if (cpu_prefill_matmul_gelu(cpu, w_gate, w_up, x, g, u)) {
            cpu_prof_op_end(cpu, CPU_PROF_MATMUL_GELU, t0,
                            cpu_matmul_flops(w_gate, x->ne[1]) + cpu_matmul_flops(w_up, x->ne[1]));
            return;
        }
    }
    ue_compose_matmul_gelu(be, w_gate, w_up, x, g, u);
}
