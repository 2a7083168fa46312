/* CPU prefill matmuls (batches of CPU_PREFILL_TOKENS or more): out[t][o] = w[o] . x[t] for
 * one weight or for several that read the same activations, which are then packed once:
 * q, k and v of an attention block, or the gate and up of a feed-forward block, where each
 * work item also applies gelu(gate) * up to its own rows, so `up` is never written when the
 * rows are not split into column pieces (models up to 2048 wide). A work item is a chunk of
 * rows and a group of tokens: the rows are unpacked into the thread's scratch and the
 * group's tokens pass over them. Three ways, best first:
 *  ipanel: rows as bytes + block scales, integer products against the 16-bit token panels;
 *  panel:  rows dequantized to f32, against the f32 token panels;
 *  rows:   rows dequantized to f32, the F32 row tiles over the activation rows.
 * Only ipanel takes several weights; the others run one matmul at a time. */
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

enum {
    PREFILL_CHUNK_BYTES = 512 * 1024, /* dequantized f32 rows of one chunk: half an L2 */
    PREFILL_KBLOCK = 2048,            /* longest row piece unpacked at once */
    PREFILL_MAX_ROWS = 64,            /* rows of one f32 prefill chunk at most */
    PANEL_GROUP_BYTES = 8 << 20,      /* f32 token panels of one token group */
    PREFETCH_ROWS = 4,                /* rows ahead the prefill unpacking fetches */
    /* ipanel chunks: whole cache lines of out (16 floats), so threads on neighbouring
     * chunks never write the same line; 48..192 rows (up to 384 KB of bytes unpacked) */
    IPANEL_ALIGN_ROWS = 16,
    IPANEL_MIN_ROWS = 48,
    IPANEL_MAX_ROWS = 192,
    /* costs of an item in units of one row's products for one token (prefill_split):
     * unpacking a row (measured: 3.4% of a 512-token 4B prefill on one thread) and
     * reading one token's activations (cache traffic, partly overlapped) */
    UNPACK_TOKENS = 16,
    ACT_ROWS = 8,
    MAX_PARTS = 3,
    /* the last TAIL_ROUNDS x threads items run as TAIL_PIECES row pieces each (tail_split) */
    TAIL_ROUNDS = 1,
    TAIL_PIECES = 4,
    FIT_MIN_BYTES = 256 * 1024, /* unpacked chunk any matrix may keep (fit_kblock) */
};

enum { PREFILL_ROWS, PREFILL_PANEL, PREFILL_IPANEL };

/* One weight of the job: its rows in chunks of chunk_rows, items [first_item, + row_chunks
 * x token groups), token group by token group. */
typedef struct prefill_part {
    const ue_tensor *w, *out;
    const cpu_type_kernel *k;
    int64_t kblock; /* row piece length (a whole number of weight blocks) */
    long chunk_rows, row_chunks, first_item;
} prefill_part;

typedef struct prefill_job {
    cpu_backend *cpu;
    const ue_tensor *x;
    prefill_part part[MAX_PARTS];
    int n_parts;
    int gelu;          /* part[0] is the gate, up its partner with the same chunks */
    prefill_part up;
    int mode;
    long n_items;
    long tail_items;  /* the last tail_items items run in tail_pieces row pieces each */
    int tail_pieces;
    long n_work;      /* what the threads take: n_items + tail_items x (tail_pieces - 1) */
    int64_t group_tokens; /* tokens of a group (whole panels) */
    int64_t pack_k;       /* columns of one activation packing item */
    long pack_items;
    float *xt;    /* panel: f32 token panels */
    uint8_t *xp;  /* ipanel: 16-bit integer token panels */
    _Alignas(64) atomic_long next_item; /* own cache line: every thread writes it */
} prefill_job;

/* The ipanel scratch of one thread for chunks of `rows` rows of kblock: the rows' bytes,
 * their block scales, offsets and corrections, one row's bytes as unpacked, and the up
 * sums of one panel (gelu). */
typedef struct ipanel_scratch {
    cpu_ipanel_rows rows;
    int group_rows; /* the kernel set's row groups */
    uint8_t *row_tmp;
    float *panel;
} ipanel_scratch;

/* Bytes of one unpacked weight in the set's panels (1 or 2). */
static size_t qbytes(const cpu_kernel_set *ks) { return ks->ipanel_qbytes > 1 ? (size_t)ks->ipanel_qbytes : 1; }

static size_t ipanel_scratch_bytes(const prefill_part *p, const cpu_kernel_set *ks, int gelu) {
    size_t lds = (size_t)(p->kblock / cpu_ipanel_sub(p->k->unpack_form)), row = (size_t)p->kblock * qbytes(ks);
    /* + 512: a tile kernel loads whole 16-row x 32-byte blocks of a partial last group */
    return (size_t)p->chunk_rows * (row + 3 * lds * sizeof(float)) + row + 512 +
           (gelu ? (size_t)CPU_IPANEL_TOKENS * (size_t)p->chunk_rows * sizeof(float) : 0);
}

static ipanel_scratch ipanel_scratch_at(float *base, const prefill_part *p, const cpu_kernel_set *ks) {
    ipanel_scratch s;
    int rows = ks->ipanel_rows[p->k->unpack_form];
    s.group_rows = rows > 0 ? rows : CPU_IPANEL_ROWS;
    size_t lds = (size_t)(p->kblock / cpu_ipanel_sub(p->k->unpack_form)), row = (size_t)p->kblock * qbytes(ks);
    float *isc = base + (size_t)p->chunk_rows * row / sizeof(float);
    float *imn = isc + (size_t)p->chunk_rows * lds;
    int32_t *iwc = (int32_t *)(imn + (size_t)p->chunk_rows * lds);
    s.row_tmp = (uint8_t *)(iwc + (size_t)p->chunk_rows * lds);
    s.panel = (float *)(s.row_tmp + row);
    s.rows = (cpu_ipanel_rows){(const uint8_t *)base, row, isc, imn, iwc, lds, p->k->unpack_form};
    return s;
}

/* Unpacks rows [r_begin, r_begin + nr) of columns [k0, k0 + kn) into the scratch. */
static void ipanel_unpack(const prefill_part *p, ipanel_scratch *s, size_t qb, int64_t r_begin, int nr, int64_t k0,
                          int64_t kn) {
    int64_t n_in = p->w->ne[0];
    size_t row_bytes = ue_type_row_bytes(p->w->type, n_in), block_bytes = ue_type_row_bytes(p->w->type, p->kblock);
    const uint8_t *wk = (const uint8_t *)ue_tensor_host(p->w) + (size_t)r_begin * row_bytes +
                        (size_t)(k0 / p->kblock) * block_bytes;
    int sub = cpu_ipanel_sub(p->k->unpack_form), G = s->group_rows;
    const cpu_ipanel_rows *rw = &s->rows;
    for (int r = 0; r < nr; r++) {
        /* the weights come from memory once: fetch a few rows ahead */
        if (r + PREFETCH_ROWS < nr)
            for (size_t at = 0; at < block_bytes; at += 64)
                __builtin_prefetch(wk + (size_t)(r + PREFETCH_ROWS) * row_bytes + at);
        p->k->unpack(wk + (size_t)r * row_bytes, s->row_tmp, (float *)rw->sc + (size_t)r * rw->lds,
                     (float *)rw->mn + (size_t)r * rw->lds, (int32_t *)rw->wc + (size_t)r * rw->lds, kn);
        int r0, g;
        cpu_ipanel_group(G, r, nr, &r0, &g);
        size_t block = (size_t)sub * qb;
        uint8_t *dst = (uint8_t *)rw->q + (size_t)r0 * rw->ldq + block * (size_t)(r - r0);
        for (int64_t b = 0; b < kn / sub; b++)
            memcpy(dst + (size_t)b * block * (size_t)g, s->row_tmp + (size_t)b * block, block);
    }
}

/* Rows [r_begin, + nr) x tokens [t_begin, t_end) of one part into its out, integer panels.
 * g (gelu, the gate's out, rows already final): the part is up, and g becomes gelu(g) * up;
 * with one column piece the up sums of each panel stay in the scratch. */
static void ipanel_item(const prefill_job *job, float *scratch, const prefill_part *p, int64_t r_begin, int nr,
                        int64_t t_begin, int64_t t_end, float *g) {
    const cpu_kernel_set *ks = job->cpu->kset;
    int64_t n_in = p->w->ne[0], n_out = p->w->ne[1];
    float *out = ue_tensor_host(p->out);
    ipanel_scratch s = ipanel_scratch_at(scratch, p, ks);
    int one_piece = p->kblock >= n_in;
    for (int64_t k0 = 0; k0 < n_in; k0 += p->kblock) {
        int64_t kn = n_in - k0 < p->kblock ? n_in - k0 : p->kblock;
        ipanel_unpack(p, &s, qbytes(ks), r_begin, nr, k0, kn);
        for (int64_t t0 = t_begin; t0 < t_end; t0 += CPU_IPANEL_TOKENS) {
            int nt = (int)(t_end - t0 < CPU_IPANEL_TOKENS ? t_end - t0 : CPU_IPANEL_TOKENS);
            const uint8_t *xp = job->xp + (size_t)(t0 / CPU_IPANEL_TOKENS) * cpu_ipanel_size(n_in);
            if (g && one_piece) {
                ks->ipanel_gemm(k0, kn, n_in, &s.rows, nr, xp, nt, s.panel, (size_t)nr, 0);
                for (int t = 0; t < nt; t++)
                    ks->gelu_mul(g + (t0 + t) * n_out + r_begin, s.panel + (size_t)t * (size_t)nr, nr);
                continue;
            }
            ks->ipanel_gemm(k0, kn, n_in, &s.rows, nr, xp, nt, out + t0 * n_out + r_begin, (size_t)n_out, k0 > 0);
        }
    }
    if (g && !one_piece)
        for (int64_t t = t_begin; t < t_end; t++) ks->gelu_mul(g + t * n_out + r_begin, out + t * n_out + r_begin, nr);
}

/* The same item with f32 rows (panel or rows mode; one part, no gelu). */
static void f32_item(const prefill_job *job, float *tile, const prefill_part *p, int64_t r_begin, int nr,
                     int64_t t_begin, int64_t t_end) {
    const cpu_kernel_set *ks = job->cpu->kset;
    const cpu_type_kernel *kf = &ks->type[UE_TYPE_F32];
    int64_t n_in = p->w->ne[0], n_out = p->w->ne[1], kblock = p->kblock;
    size_t row_bytes = ue_type_row_bytes(p->w->type, n_in), ldx = (size_t)n_in * sizeof(float);
    size_t ldt = (size_t)kblock * sizeof(float), block_bytes = ue_type_row_bytes(p->w->type, kblock);
    const uint8_t *wdata = ue_tensor_host(p->w);
    const float *xdata = ue_tensor_host(job->x);
    float *odata = ue_tensor_host(p->out);
    float part[PREFILL_MAX_ROWS * 8];
    for (int64_t k0 = 0; k0 < n_in; k0 += kblock) {
        int64_t kn = n_in - k0 < kblock ? n_in - k0 : kblock;
        const uint8_t *wk = wdata + (size_t)r_begin * row_bytes + (size_t)(k0 / kblock) * block_bytes;
        for (int r = 0; r < nr; r++) p->k->deq(wk + (size_t)r * row_bytes, tile + (size_t)r * (size_t)kblock, kn);
        if (job->mode == PREFILL_PANEL) {
            for (int64_t t0 = t_begin; t0 < t_end; t0 += CPU_PANEL_TOKENS) {
                int nt = (int)(t_end - t0 < CPU_PANEL_TOKENS ? t_end - t0 : CPU_PANEL_TOKENS);
                ks->panel_gemm(kn, tile, (size_t)kblock, nr, job->xt + t0 * n_in + k0 * CPU_PANEL_TOKENS, nt,
                               odata + t0 * n_out + r_begin, (size_t)n_out, k0 > 0);
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

/* Items run part by part, token group by token group, so the threads share the group's
 * activations in the caches. */
static void prefill_thread(void *ctx, int ith, int nth) {
    prefill_job *job = ctx;
    (void)nth;
    int64_t n_tok = job->x->ne[1];
    float *scratch = job->cpu->scratch[ith].data;
    long first_tail = job->n_items - job->tail_items;
    for (;;) {
        long item = atomic_fetch_add_explicit(&job->next_item, 1, memory_order_relaxed);
        if (item >= job->n_work) break;
        long piece = 0;
        if (item >= first_tail) {
            piece = (item - first_tail) % job->tail_pieces;
            item = first_tail + (item - first_tail) / job->tail_pieces;
        }
        int pi = 0;
        while (pi + 1 < job->n_parts && item >= job->part[pi + 1].first_item) pi++;
        const prefill_part *p = &job->part[pi];
        long local = item - p->first_item, c = local % p->row_chunks;
        int64_t n_out = p->w->ne[1], r_begin = c * p->chunk_rows;
        int nr = (int)(n_out - r_begin < p->chunk_rows ? n_out - r_begin : p->chunk_rows);
        int64_t t_begin = local / p->row_chunks * job->group_tokens;
        int64_t t_end = t_begin + job->group_tokens < n_tok ? t_begin + job->group_tokens : n_tok;
        if (item >= first_tail) {
            /* a piece of whole cache lines of out (chunks start on one) */
            int per = (nr + job->tail_pieces - 1) / job->tail_pieces;
            per = (per + IPANEL_ALIGN_ROWS - 1) / IPANEL_ALIGN_ROWS * IPANEL_ALIGN_ROWS;
            if (piece * per >= nr) continue;
            r_begin += piece * per;
            nr = nr - (int)piece * per < per ? nr - (int)piece * per : per;
        }
        if (job->mode != PREFILL_IPANEL) {
            f32_item(job, scratch, p, r_begin, nr, t_begin, t_end);
            continue;
        }
        ipanel_item(job, scratch, p, r_begin, nr, t_begin, t_end, NULL);
        if (job->gelu) ipanel_item(job, scratch, &job->up, r_begin, nr, t_begin, t_end, ue_tensor_host(p->out));
    }
}

/* The activations' token panels: f32 (xt) or 16-bit integer (xp) ones; integer panels go
 * in items of one panel and pack_k columns, so every thread has several. */
static void pack_thread(void *ctx, int ith, int nth) {
    prefill_job *job = ctx;
    const cpu_kernel_set *ks = job->cpu->kset;
    int64_t n_in = job->x->ne[0], n_tok = job->x->ne[1];
    const float *xdata = ue_tensor_host(job->x);
    if (job->mode == PREFILL_IPANEL) {
        long k_items = (long)((n_in + job->pack_k - 1) / job->pack_k);
        for (;;) {
            long item = atomic_fetch_add_explicit(&job->next_item, 1, memory_order_relaxed);
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

/* Rows per chunk and token groups for units token panels of unit_tokens: the pair with the
 * least estimated time. Rounds of nth items (plus a quarter item for the uneven ends of
 * dynamic balancing) times the largest item's cost, its rows x (its tokens + the
 * unpacking of a row) + reading its tokens' activations. Bigger chunks read the
 * activations less often; more token groups balance better but unpack every row again
 * per group (measured: 4 groups of 128 tokens cost a 4B prefill 9% on one thread). With 16
 * threads this gives e.g. the 4B's q 64 rows x 2 groups (64 items), gate/up 160 x 2 (128);
 * with 2 threads 128..160 rows and mostly one group. rows_fixed > 0: only that size.
 * Several parts count as one matrix of their rows together. */
static void prefill_split(int64_t n_out, long units, int64_t unit_tokens, int nth, long rows_fixed,
                          long *rows_out, long *groups_out) {
    double best_cost = -1.0;
    *rows_out = n_out < IPANEL_MIN_ROWS ? (long)n_out : IPANEL_MIN_ROWS;
    *groups_out = 1;
    long lo = rows_fixed > 0 ? rows_fixed : IPANEL_MIN_ROWS, hi = rows_fixed > 0 ? rows_fixed : IPANEL_MAX_ROWS;
    for (long rows = lo; rows <= hi; rows += IPANEL_ALIGN_ROWS) {
        long r = rows < n_out ? rows : (long)n_out, chunks = (long)((n_out + r - 1) / r);
        for (long g = 1; g <= (nth > 1 ? units : 1); g++) {
            long per = (units + g - 1) / g, groups = (units + per - 1) / per;
            if (groups != g) continue; /* the same split as a smaller count */
            long rounds = (chunks * groups + nth - 1) / nth;
            double tokens = (double)(per * unit_tokens);
            double cost = ((double)rounds + (nth > 1 ? 0.25 : 0.0)) *
                          ((double)r * (tokens + UNPACK_TOKENS) + ACT_ROWS * tokens);
            if (best_cost < 0.0 || cost < best_cost) {
                best_cost = cost;
                *rows_out = r;
                *groups_out = groups;
            }
        }
        if (rows >= n_out) break;
    }
}

/* With dynamic balancing the threads still finish a job one item apart at worst, and on
 * a busy host the items' times vary: the last round of items (a quarter of a 4B's q/k/v,
 * o or down at 16 threads) runs in row pieces, so the threads end closer together for a
 * little more activation reading. Integer prefill only (its rows align to 16). */
static void tail_split(const cpu_backend *cpu, prefill_job *job, int nth) {
    long rounds = cpu->tail_rounds >= 0 ? cpu->tail_rounds : TAIL_ROUNDS;
    int pieces = cpu->tail_pieces >= 1 ? cpu->tail_pieces : TAIL_PIECES;
    job->tail_items = job->mode == PREFILL_IPANEL && nth > 1 ? rounds * nth : 0;
    if (job->tail_items > job->n_items) job->tail_items = job->n_items;
    job->tail_pieces = job->tail_items > 0 ? pieces : 1;
    job->n_work = job->n_items + job->tail_items * (job->tail_pieces - 1);
}

/* Column pieces of near-equal length up to max_len (2560 = 2 x 1280, not 2048 + 512). */
static int64_t kblock_for(const ue_tensor *w, int64_t max_len) {
    int64_t n_in = w->ne[0], bs = ue_type_get(w->type)->block_size;
    int64_t n_kb = (n_in + max_len - 1) / max_len;
    return ((n_in + n_kb - 1) / n_kb + bs - 1) / bs * bs;
}

/* Shorter pieces where the threads' unpacked chunks together would pass 4 x the matrix's
 * own bytes: with many threads a small model's scratch would otherwise outgrow its share
 * of memory (the 270M's 2048-wide down rows as words at 16 threads: +1 MB peak, past the
 * 1.1 x of weights + KV cache). Big matrices, few threads and chunks under FIT_MIN_BYTES
 * keep whole 2048 pieces; pieces stay at least 256 long (a whole K-quant block). The rows
 * counted are the matrix's own chunks (rows_alone), so a matrix has the same pieces, hence
 * the same sums, whether it runs alone or fused with others. */
static void fit_kblock(prefill_part *p, size_t qb, int nth, long rows_alone) {
    size_t budget = 4 * ue_type_row_bytes(p->w->type, p->w->ne[0]) * (size_t)p->w->ne[1] / (size_t)nth;
    if (budget < FIT_MIN_BYTES) budget = FIT_MIN_BYTES;
    for (int64_t max_len = PREFILL_KBLOCK / 2; max_len >= 256 && (size_t)rows_alone * (size_t)p->kblock * qb > budget;
         max_len /= 2)
        p->kblock = kblock_for(p->w, max_len);
}

/* Chunk sizes, item counts and scratch; 0 when the job cannot run this way. */
static int plan(cpu_backend *cpu, prefill_job *job) {
    const cpu_kernel_set *ks = cpu->kset;
    const cpu_type_kernel *kf = &ks->type[UE_TYPE_F32];
    int64_t n_in = job->x->ne[0], n_tok = job->x->ne[1], rows_total = 0;
    int nth = ue_pool_n_threads(cpu->pool);
    if (kf->nt_max > 8) return 0; /* f32_item's part[] holds 8 tokens */
    int ipanel = ks->ipanel_gemm != NULL;
    for (int i = 0; i < job->n_parts; i++) {
        prefill_part *p = &job->part[i];
        p->k = &ks->type[p->w->type];
        if (p->w->ne[0] != n_in || !p->k->deq) return 0;
        ipanel = ipanel && p->k->unpack;
        p->kblock = kblock_for(p->w, PREFILL_KBLOCK);
        rows_total += p->w->ne[1];
    }
    job->mode = ipanel ? PREFILL_IPANEL : ks->panel_gemm ? PREFILL_PANEL : PREFILL_ROWS;
    if ((job->n_parts > 1 || job->gelu) && job->mode != PREFILL_IPANEL) return 0;
    int64_t unit = job->mode == PREFILL_IPANEL ? CPU_IPANEL_TOKENS : job->mode == PREFILL_PANEL ? CPU_PANEL_TOKENS : kf->nt_max;
    long units = (long)((n_tok + unit - 1) / unit), groups = 1, rows = 1;
    size_t scratch = 0;
    if (job->mode == PREFILL_IPANEL) {
        prefill_split(rows_total, units, unit, nth, cpu->split_rows, &rows, &groups);
        if (cpu->split_groups > 0) groups = cpu->split_groups < units ? cpu->split_groups : units;
        scratch = (size_t)n_in * 64; /* the packing's */
    } else {
        /* whole f32 micro-tiles (mr); the f32 panels of a token group within a few MB (a
         * share of L3), else every row chunk streams the whole batch's panels from memory:
         * 4096 image patches x 4304 columns are 70 MB */
        int64_t kb = job->part[0].kblock, n_out = job->part[0].w->ne[1];
        if (job->mode == PREFILL_PANEL) {
            long per = (long)(PANEL_GROUP_BYTES / ((size_t)n_in * sizeof(float) * (size_t)unit));
            if (per < 1) per = 1;
            groups = (units + per - 1) / per;
        }
        rows = (long)(PREFILL_CHUNK_BYTES / ((size_t)kb * sizeof(float)));
        if (rows > PREFILL_MAX_ROWS) rows = PREFILL_MAX_ROWS;
        if (rows > (long)(n_out / (4 * nth))) rows = (long)(n_out / (4 * nth));
        if (rows < kf->mr) rows = kf->mr;
        rows = rows / kf->mr * kf->mr;
    }
    job->group_tokens = (units + groups - 1) / groups * unit;
    long token_groups = (long)((n_tok + job->group_tokens - 1) / job->group_tokens);
    job->n_items = 0;
    for (int i = 0; i < job->n_parts; i++) {
        prefill_part *p = &job->part[i];
        int64_t n_out = p->w->ne[1];
        p->chunk_rows = rows;
        if (p->chunk_rows > n_out) p->chunk_rows = (n_out + kf->mr - 1) / kf->mr * kf->mr;
        if (job->mode == PREFILL_IPANEL) {
            long rows_alone, groups_alone;
            prefill_split(n_out, units, unit, nth, cpu->split_rows, &rows_alone, &groups_alone);
            fit_kblock(p, qbytes(ks), nth, rows_alone);
        }
        p->row_chunks = (long)((n_out + p->chunk_rows - 1) / p->chunk_rows);
        p->first_item = job->n_items;
        job->n_items += p->row_chunks * token_groups;
        size_t need = job->mode == PREFILL_IPANEL ? ipanel_scratch_bytes(p, ks, job->gelu)
                                                  : (size_t)p->chunk_rows * (size_t)p->kblock * sizeof(float);
        if (need > scratch) scratch = need;
    }
    if (job->gelu) {
        prefill_part *u = &job->up;
        u->k = &ks->type[u->w->type];
        u->kblock = job->part[0].kblock;
        u->chunk_rows = job->part[0].chunk_rows;
        if (u->w->type != job->part[0].w->type || u->w->ne[0] != n_in || u->w->ne[1] != job->part[0].w->ne[1] ||
            !u->k->unpack)
            return 0;
    }
    tail_split(cpu, job, nth);
    for (int i = 0; i < nth; i++)
        if (!cpu_scratch_get(cpu, i, scratch / sizeof(float) + 16)) return 0;
    return 1;
}

static int prefill_run(cpu_backend *cpu, prefill_job *job) {
    if (!plan(cpu, job)) return 0;
    int64_t n_in = job->x->ne[0], n_tok = job->x->ne[1];
    int nth = ue_pool_n_threads(cpu->pool);
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
        atomic_store(&job->next_item, 0);
        cpu_pool_run_as(cpu, CPU_PROF_MM_PACK, pack_thread, job);
    } else if (job->mode == PREFILL_PANEL) {
        int64_t padded = (n_tok + CPU_PANEL_TOKENS - 1) / CPU_PANEL_TOKENS * CPU_PANEL_TOKENS;
        job->xt = cpu_shared_scratch_get(cpu, (size_t)padded * (size_t)n_in * sizeof(float));
        if (!job->xt) return 0;
        cpu_pool_run_as(cpu, CPU_PROF_MM_PACK, pack_thread, job);
    }
    atomic_store(&job->next_item, 0);
    cpu_pool_run(cpu, prefill_thread, job);
    return 1;
}

int cpu_prefill_matmul(cpu_backend *cpu, const ue_tensor *const *w, const ue_tensor *const *out, int n,
                       const ue_tensor *x) {
    if (n < 1 || n > MAX_PARTS) return 0;
    prefill_job job = {.cpu = cpu, .x = x, .n_parts = n};
    for (int i = 0; i < n; i++) job.part[i] = (prefill_part){.w = w[i], .out = out[i]};
    return prefill_run(cpu, &job);
}

int cpu_prefill_matmul_gelu(cpu_backend *cpu, const ue_tensor *w_gate, const ue_tensor *w_up, const ue_tensor *x,
                            const ue_tensor *g, const ue_tensor *u) {
    prefill_job job = {.cpu = cpu, .x = x, .n_parts = 1, .gelu = 1};
    job.part[0] = (prefill_part){.w = w_gate, .out = g};
    job.up = (prefill_part){.w = w_up, .out = u};
    return prefill_run(cpu, &job);
}
