/* CPU matrix multiplication out[t][o] = sum_i w[o][i] * x[t][i] for quantized weights.
 * Reference kernels: ue_dot_row_f32 per (token, row), straight from the type definitions.
 * Fast kernels (cpu_kernels.h): threads take chunks of rows from a shared counter.
 *  - decode (few tokens): activations quantized once per call to 16-bit blocks (Q16_32 or
 *    its hi/lo byte split, the kernel set says which),
 *    each thread streams its rows once (memory-bound);
 *  - prefill: each chunk of rows is unpacked to bytes (or dequantized to f32) into the
 *    thread's scratch (cache-sized) and a group of tokens passes over it in micro-tiles
 *    (compute-bound); work items are (row chunk, token group) pairs;
 *  - int8 mode (UE_CPU_MATMUL=int8): llama.cpp's arithmetic, Q8_32 activations and int8
 *    dot products for every batch. On the 270M model its logits differ from the fp32
 *    reference by up to ~1.6 (an argmax flips), the default path's by under 0.001.
 * Types without SIMD kernels dequantize a tile of rows to f32 and reuse it per token. */
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

enum {
    TILE_ROWS = 8,
    CHUNK_BYTES = 32 * 1024,          /* int8 mode: weights of one chunk, about an L1 */
    PREFILL_CHUNK_BYTES = 512 * 1024, /* dequantized f32 rows of one chunk: half an L2 */
    PREFILL_KBLOCK = 2048,            /* longest row piece dequantized at once */
    PREFILL_MAX_ROWS = 64,            /* rows of one f32 prefill chunk at most */
    /* ipanel chunks: whole 6-row tiles and whole cache lines of out (16 floats), so threads
     * on neighbouring chunks never write the same line; 96 rows of 2048 bytes unpacked */
    IPANEL_ALIGN_ROWS = 48,
    IPANEL_CHUNK_ROWS = 96,
    UNPACK_TOKENS = 16,
    PREFETCH_ROWS = 4,                /* rows ahead the prefill unpacking fetches */               /* unpacking a row costs about this many tokens' products */
    QUANT_PARALLEL = 1 << 16,         /* activation elements worth splitting over threads */
};

enum { PREFILL_ROWS, PREFILL_PANEL, PREFILL_IPANEL };

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
    long row_chunks;      /* prefill: chunks of rows; items = row_chunks x token groups */
    int64_t group_tokens; /* prefill: tokens of a group (whole panels) */
    int64_t pack_k;       /* prefill: columns of one activation packing item */
    long pack_items;
    int64_t kblock; /* prefill: row piece length */
    int mode;       /* prefill: PREFILL_IPANEL, PREFILL_PANEL or PREFILL_ROWS */
    float *xt;      /* prefill: f32 token panels */
    uint8_t *xp;    /* prefill: 16-bit integer token panels */
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

/* Prefill: a work item is a chunk of rows and a group of tokens: the rows are unpacked
 * (thread scratch, grown by the caller) and the group's tokens pass over them. Long rows go
 * in column blocks of kblock (a whole number of weight blocks), summed into out, so the
 * chunk keeps enough rows for the activations read per pass to be reused. Items run token
 * group by token group, so the threads share the group's activations in the caches. Three
 * ways, best first (matmul_prefill chooses):
 *  ipanel: rows as bytes + block scales, integer products against the 16-bit token panels;
 *  panel:  rows dequantized to f32, against the f32 token panels;
 *  rows:   rows dequantized to f32, the F32 row tiles over the activation rows. */
static void matmul_prefill_thread(void *ctx, int ith, int nth) {
    matmul_job *job = ctx;
    (void)nth;
    const ue_tensor *w = job->w, *out = job->out;
    const cpu_kernel_set *ks = job->cpu->kset;
    const cpu_type_kernel *kf = &ks->type[UE_TYPE_F32];
    int64_t n_in = w->ne[0], n_out = w->ne[1], n_tok = job->x->ne[1], kblock = job->kblock;
    size_t row_bytes = ue_type_row_bytes(w->type, n_in), ldx = (size_t)n_in * sizeof(float);
    size_t ldt = (size_t)kblock * sizeof(float);
    size_t block_bytes = ue_type_row_bytes(w->type, kblock);
    const uint8_t *wdata = ue_tensor_host(w);
    const float *xdata = ue_tensor_host(job->x);
    float *odata = ue_tensor_host(out);
    float *tile = job->cpu->scratch[ith].data;
    /* ipanel: bytes of the rows, then their block scales, offsets and corrections */
    int sub = cpu_ipanel_sub(job->k->unpack_form);
    size_t lds = (size_t)(kblock / sub);
    float *isc = tile + (size_t)job->chunk_rows * (size_t)kblock / sizeof(float);
    float *imn = isc + (size_t)job->chunk_rows * lds;
    int32_t *iwc = (int32_t *)(imn + (size_t)job->chunk_rows * lds);
    uint8_t *row_tmp = (uint8_t *)(iwc + (size_t)job->chunk_rows * lds); /* one row */
    cpu_ipanel_rows rows = {(const uint8_t *)tile, (size_t)kblock, isc, imn, iwc, lds, job->k->unpack_form};
    float part[PREFILL_MAX_ROWS * 8];
    for (;;) {
        long item = atomic_fetch_add_explicit(&job->next_chunk, 1, memory_order_relaxed);
        if (item >= job->n_chunks) break;
        long c = item % job->row_chunks;
        int64_t r_begin = c * job->chunk_rows;
        int64_t r_end = r_begin + job->chunk_rows < n_out ? r_begin + job->chunk_rows : n_out;
        int64_t t_begin = item / job->row_chunks * job->group_tokens;
        int64_t t_end = t_begin + job->group_tokens < n_tok ? t_begin + job->group_tokens : n_tok;
        int nr = (int)(r_end - r_begin);
        for (int64_t k0 = 0; k0 < n_in; k0 += kblock) {
            int64_t kn = n_in - k0 < kblock ? n_in - k0 : kblock;
            const uint8_t *wk = wdata + (size_t)r_begin * row_bytes + (size_t)(k0 / kblock) * block_bytes;
            if (job->mode == PREFILL_IPANEL) {
                for (int r = 0; r < nr; r++) {
                    /* the weights come from memory once: fetch a few rows ahead */
                    if (r + PREFETCH_ROWS < nr)
                        for (size_t at = 0; at < block_bytes; at += 64)
                            __builtin_prefetch(wk + (size_t)(r + PREFETCH_ROWS) * row_bytes + at);
                    job->k->unpack(wk + (size_t)r * row_bytes, row_tmp, isc + (size_t)r * lds,
                                   imn + (size_t)r * lds, iwc + (size_t)r * lds, kn);
                    int r0, g;
                    cpu_ipanel_group(r, nr, &r0, &g);
                    uint8_t *dst = (uint8_t *)tile + (size_t)r0 * (size_t)kblock + (size_t)(sub * (r - r0));
                    for (int64_t b = 0; b < kn / sub; b++)
                        memcpy(dst + (size_t)(b * sub * g), row_tmp + b * sub, (size_t)sub);
                }
                for (int64_t t0 = t_begin; t0 < t_end; t0 += CPU_IPANEL_TOKENS) {
                    int nt = (int)(t_end - t0 < CPU_IPANEL_TOKENS ? t_end - t0 : CPU_IPANEL_TOKENS);
                    ks->ipanel_gemm(k0, kn, n_in, &rows, nr,
                                    job->xp + (size_t)(t0 / CPU_IPANEL_TOKENS) * cpu_ipanel_size(n_in), nt,
                                    odata + t0 * n_out + r_begin, (size_t)n_out, k0 > 0);
                }
                continue;
            }
            for (int r = 0; r < nr; r++)
                job->k->deq(wk + (size_t)r * row_bytes, tile + (size_t)r * (size_t)kblock, kn);
            if (job->mode == PREFILL_PANEL) {
                for (int64_t t0 = t_begin; t0 < t_end; t0 += CPU_PANEL_TOKENS) {
                    int nt = (int)(t_end - t0 < CPU_PANEL_TOKENS ? t_end - t0 : CPU_PANEL_TOKENS);
                    ks->panel_gemm(kn, tile, (size_t)kblock, nr, job->xt + t0 * n_in + k0 * CPU_PANEL_TOKENS,
                                   nt, odata + t0 * n_out + r_begin, (size_t)n_out, k0 > 0);
                }
                continue;
            }
            for (int64_t t0 = t_begin; t0 < t_end; t0 += kf->nt_max) {
                int nt = (int)(t_end - t0 < kf->nt_max ? t_end - t0 : kf->nt_max);
                float *o = odata + t0 * n_out + r_begin;
                if (k0 == 0) {
                    kf->gemm(kn, tile, ldt, nr, xdata + t0 * n_in + k0, ldx, nt, o, (size_t)n_out);
                    continue;
                }
                kf->gemm(kn, tile, ldt, nr, xdata + t0 * n_in + k0, ldx, nt, part, (size_t)nr);
                for (int t = 0; t < nt; t++)
                    for (int r = 0; r < nr; r++) o[t * n_out + r] += part[t * nr + r];
            }
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

/* The activations' token panels: f32 (xt) or 16-bit integer (xp) ones; integer panels go
 * in items of one panel and pack_k columns, so every thread has several. tmp: thread
 * scratch. */
static void pack_thread(void *ctx, int ith, int nth) {
    matmul_job *job = ctx;
    const cpu_kernel_set *ks = job->cpu->kset;
    int64_t n_in = job->x->ne[0], n_tok = job->x->ne[1];
    const float *xdata = ue_tensor_host(job->x);
    if (job->mode == PREFILL_IPANEL) {
        long k_items = (long)((n_in + job->pack_k - 1) / job->pack_k);
        for (;;) {
            long item = atomic_fetch_add_explicit(&job->next_chunk, 1, memory_order_relaxed);
            if (item >= job->pack_items) break;
            long g = item / k_items;
            int64_t t0 = g * CPU_IPANEL_TOKENS, k0 = item % k_items * job->pack_k;
            int nt = (int)(n_tok - t0 < CPU_IPANEL_TOKENS ? n_tok - t0 : CPU_IPANEL_TOKENS);
            int64_t kn = n_in - k0 < job->pack_k ? n_in - k0 : job->pack_k;
            ks->ipanel_pack(xdata + t0 * n_in, (size_t)n_in, nt, n_in, k0, kn,
                            job->xp + (size_t)g * cpu_ipanel_size(n_in), job->cpu->scratch[ith].data);
        }
        return;
    }
    long begin, end;
    ue_pool_split((long)((n_tok + CPU_PANEL_TOKENS - 1) / CPU_PANEL_TOKENS), ith, nth, &begin, &end);
    for (long g = begin; g < end; g++) {
        int64_t t0 = g * CPU_PANEL_TOKENS;
        int nt = (int)(n_tok - t0 < CPU_PANEL_TOKENS ? n_tok - t0 : CPU_PANEL_TOKENS);
        ks->panel_pack(xdata + t0 * n_in, (size_t)n_in, nt, n_in, job->xt + t0 * n_in);
    }
}

/* Token groups for row_chunks chunks of rows over units token units (panels): the count
 * with the least estimated time, rounds of nth items (dynamic balancing ends on the
 * slowest round) times an item's cost, its tokens plus the unpacking of its rows. */
static long token_groups(long row_chunks, long units, int64_t unit_tokens, int nth) {
    if (nth == 1) return 1;
    long best = 1;
    double best_cost = 0.0;
    for (long g = 1; g <= units; g++) {
        long per = (units + g - 1) / g, groups = (units + per - 1) / per;
        if (groups != g) continue; /* the same split as a smaller count */
        long rounds = (row_chunks * groups + nth - 1) / nth;
        double cost = (double)rounds * (double)(per * unit_tokens + UNPACK_TOKENS);
        if (g == 1 || cost < best_cost) {
            best = g;
            best_cost = cost;
        }
    }
    return best;
}

static int matmul_prefill(cpu_backend *cpu, matmul_job *job) {
    const ue_tensor *w = job->w;
    const cpu_kernel_set *ks = cpu->kset;
    const cpu_type_kernel *kf = &ks->type[UE_TYPE_F32];
    int64_t n_in = w->ne[0], n_out = w->ne[1], n_tok = job->x->ne[1], bs = ue_type_get(w->type)->block_size;
    int nth = ue_pool_n_threads(cpu->pool);
    if (kf->nt_max > 8) return 0; /* part[] holds 8 tokens */
    job->mode = job->k->unpack && ks->ipanel_gemm ? PREFILL_IPANEL : ks->panel_gemm ? PREFILL_PANEL : PREFILL_ROWS;
    /* column blocks of near-equal length (2560 = 2 x 1280, not 2048 + 512) */
    int64_t n_kb = (n_in + PREFILL_KBLOCK - 1) / PREFILL_KBLOCK;
    job->kblock = ((n_in + n_kb - 1) / n_kb + bs - 1) / bs * bs;
    /* rows of a chunk: whole micro-tiles (6 rows for ipanel, mr for the f32 tiles) */
    long rows, align;
    size_t row_scratch;
    if (job->mode == PREFILL_IPANEL) {
        align = IPANEL_ALIGN_ROWS;
        rows = IPANEL_CHUNK_ROWS;
        if ((n_out + rows - 1) / rows < nth) rows = align;
        row_scratch = (size_t)job->kblock + (size_t)job->kblock / 16 * 12;
    } else {
        align = kf->mr;
        rows = (long)(PREFILL_CHUNK_BYTES / ((size_t)job->kblock * sizeof(float)));
        if (rows > PREFILL_MAX_ROWS) rows = PREFILL_MAX_ROWS;
        if (rows > (long)(n_out / (4 * nth))) rows = (long)(n_out / (4 * nth));
        row_scratch = (size_t)job->kblock * sizeof(float);
    }
    if (rows < align) rows = align;
    job->chunk_rows = rows / align * align;
    if (job->chunk_rows > n_out) job->chunk_rows = (n_out + kf->mr - 1) / kf->mr * kf->mr;
    size_t scratch = (size_t)job->chunk_rows * row_scratch + (size_t)job->kblock;
    if (job->mode == PREFILL_IPANEL && scratch < (size_t)n_in * 64) scratch = (size_t)n_in * 64;
    for (int i = 0; i < nth; i++)
        if (!cpu_scratch_get(cpu, i, scratch / sizeof(float) + 16)) return 0;
    job->row_chunks = (long)((n_out + job->chunk_rows - 1) / job->chunk_rows);
    int64_t unit = job->mode == PREFILL_IPANEL ? CPU_IPANEL_TOKENS : job->mode == PREFILL_PANEL ? CPU_PANEL_TOKENS : kf->nt_max;
    long units = (long)((n_tok + unit - 1) / unit);
    long groups = token_groups(job->row_chunks, units, unit, nth);
    job->group_tokens = (units + groups - 1) / groups * unit;
    job->n_chunks = job->row_chunks * (long)((n_tok + job->group_tokens - 1) / job->group_tokens);
    job->xt = NULL;
    job->xp = NULL;
    if (job->mode == PREFILL_IPANEL) {
        int64_t panels = (n_tok + CPU_IPANEL_TOKENS - 1) / CPU_IPANEL_TOKENS;
        job->xp = cpu_shared_scratch_get(cpu, (size_t)panels * cpu_ipanel_size(n_in));
        if (!job->xp) return 0;
        /* columns in multiples of 64 (the packing's transposes), 4 items per thread */
        int64_t k_items = nth > 1 ? (4 * nth + panels - 1) / panels : 1;
        job->pack_k = ((n_in + k_items - 1) / k_items + 63) / 64 * 64;
        job->pack_items = (long)(panels * ((n_in + job->pack_k - 1) / job->pack_k));
        atomic_store(&job->next_chunk, 0);
        cpu_pool_run_as(cpu, CPU_PROF_MM_PACK, pack_thread, job);
    } else if (job->mode == PREFILL_PANEL) {
        int64_t padded = (n_tok + CPU_PANEL_TOKENS - 1) / CPU_PANEL_TOKENS * CPU_PANEL_TOKENS;
        job->xt = cpu_shared_scratch_get(cpu, (size_t)padded * (size_t)n_in * sizeof(float));
        if (!job->xt) return 0;
        cpu_pool_run_as(cpu, CPU_PROF_MM_PACK, pack_thread, job);
    }
    atomic_store(&job->next_chunk, 0);
    cpu_pool_run(cpu, matmul_prefill_thread, job);
    return 1;
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
    if (k->act != CPU_ACT_F32 && !cpu->int8_matmul) {
        if ((n_tok >= CPU_PREFILL_TOKENS || !k->gemv16) && k->deq) return matmul_prefill(cpu, job);
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
