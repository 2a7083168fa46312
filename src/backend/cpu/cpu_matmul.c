/* CPU matrix multiplication out[t][o] = sum_i w[o][i] * x[t][i] for quantized weights.
 * Reference kernels: ue_dot_row_f32 per (token, row), straight from the type definitions.
 * Portable fast kernels: dequantize a tile of rows once into scratch and reuse it for
 * every token of the batch. Rows are split across the thread pool. */
#include <string.h>

#include "backend/cpu/cpu_internal.h"

enum { TILE_ROWS = 8 };

typedef struct matmul_job {
    cpu_backend *cpu;
    const ue_tensor *w, *x, *out;
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

void cpu_op_matmul(ue_backend *be, const ue_tensor *w, const ue_tensor *x, const ue_tensor *out) {
    cpu_backend *cpu = (cpu_backend *)be;
    matmul_job job = {.cpu = cpu, .w = w, .x = x, .out = out};
    ue_pool_run(cpu->pool,
                cpu->kernels == UE_CPU_KERNELS_REFERENCE ? matmul_reference_thread
                                                         : matmul_tiled_thread,
                &job);
}
