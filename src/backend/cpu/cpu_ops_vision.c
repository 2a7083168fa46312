/* CPU ops of the SigLIP vision encoder (gemma3.md 2.2-2.3): layer norm with bias, bias
 * add, GELU (tanh form), average pooling, and full (unmasked) self-attention.
 * attention_full has three paths: the reference one (scalar, one query row and head at a
 * time, the oracle), and fast ones that run the scores Q.K^T and the product P.V as small
 * GEMMs, a block of query rows of one head per work item, with V transposed once per call:
 * on the set's f32 panel kernel where it has one (below), else on its f32 row tiles. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

enum { QB = 32 }; /* query rows per work item of the fast attention */

typedef struct vrow_job {
    const ue_tensor *x, *w, *b, *out;
    float eps;
    const cpu_kernel_set *ks; /* gelu: the fast set, NULL for the reference backend */
    void (*fn)(const struct vrow_job *job, int64_t row);
} vrow_job;

static void vrow_thread(void *ctx, int ith, int nth) {
    const vrow_job *job = ctx;
    long begin, end;
    ue_pool_split((long)job->x->ne[1], ith, nth, &begin, &end);
    for (long r = begin; r < end; r++) job->fn(job, r);
}

static void run_vrows(ue_backend *be, vrow_job *job) {
    if (job->x->ne[0] * job->x->ne[1] < 16384 || job->x->ne[1] < 2)
        vrow_thread(job, 0, 1);
    else
        cpu_pool_run((cpu_backend *)be, vrow_thread, job);
}

static float *frow(const ue_tensor *t, int64_t r) { return (float *)ue_tensor_host(t) + r * t->ne[0]; }

static void layer_norm_row(const vrow_job *job, int64_t r) {
    const float *x = frow(job->x, r), *w = ue_tensor_host(job->w), *b = ue_tensor_host(job->b);
    float *y = frow(job->out, r);
    int64_t n = job->x->ne[0];
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += ((double)x[i] - mean) * ((double)x[i] - mean);
    float inv = (float)(1.0 / sqrt(var / (double)n + job->eps)), m = (float)mean;
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m) * inv * w[i] + b[i];
}

void cpu_op_layer_norm(ue_backend *be, const ue_tensor *x, const ue_tensor *w,
                       const ue_tensor *b, float eps, const ue_tensor *out) {
    vrow_job job = {.x = x, .w = w, .b = b, .out = out, .eps = eps, .fn = layer_norm_row};
    run_vrows(be, &job);
}

static void add_bias_row(const vrow_job *job, int64_t r) {
    float *x = frow(job->x, r);
    const float *b = ue_tensor_host(job->b);
    for (int64_t i = 0; i < job->x->ne[0]; i++) x[i] += b[i];
}

void cpu_op_add_bias(ue_backend *be, const ue_tensor *x, const ue_tensor *b) {
    vrow_job job = {.x = x, .b = b, .fn = add_bias_row};
    run_vrows(be, &job);
}

/* The fast sets have gelu only as gelu(g) * u (the text feed-forward's): times ones,
 * which is exact. Measured: tanhf took 6.6% of a 2-thread 4B-shape image encode. */
enum { GELU_SPAN = 256 };

static void gelu_row(const vrow_job *job, int64_t r) {
    float *x = frow(job->x, r);
    int64_t n = job->x->ne[0];
    if (job->ks) {
        float ones[GELU_SPAN];
        for (int i = 0; i < GELU_SPAN; i++) ones[i] = 1.0f;
        for (int64_t i = 0; i < n; i += GELU_SPAN) job->ks->gelu_mul(x + i, ones, n - i < GELU_SPAN ? n - i : GELU_SPAN);
        return;
    }
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

void cpu_op_gelu(ue_backend *be, const ue_tensor *x) {
    cpu_backend *cpu = (cpu_backend *)be;
    vrow_job job = {.x = x, .fn = gelu_row, .ks = cpu->kernels == UE_CPU_KERNELS_REFERENCE ? NULL : cpu->kset};
    run_vrows(be, &job);
}

void cpu_op_avg_pool(ue_backend *be, const ue_tensor *x, int side, int k, const ue_tensor *out) {
    (void)be;
    int64_t c = x->ne[0];
    int os = side / k;
    float inv = 1.0f / (float)(k * k);
    for (int oy = 0; oy < os; oy++)
        for (int ox = 0; ox < os; ox++) {
            float *o = frow(out, (int64_t)oy * os + ox);
            memset(o, 0, (size_t)c * sizeof(float));
            for (int dy = 0; dy < k; dy++)
                for (int dx = 0; dx < k; dx++) {
                    const float *s = frow(x, (int64_t)(oy * k + dy) * side + ox * k + dx);
                    for (int64_t i = 0; i < c; i++) o[i] += s[i];
                }
            for (int64_t i = 0; i < c; i++) o[i] *= inv;
        }
}

/* ---------------------------------------------------------------- attention */

typedef struct attn_job {
    cpu_backend *cpu;
    const ue_tensor *q, *k, *v, *out;
    int n_head, hd;
    float scale;
    float *vt; /* fast paths: [n_head][hd][n] */
    float *kt; /* panel path: per head and group of PQ keys, their f32 panel [hd][PQ] */
    int n_blocks;
    atomic_int next;
} attn_job;

static void attn_reference_thread(void *ctx, int ith, int nth) {
    const attn_job *j = ctx;
    int64_t n = j->q->ne[1];
    float *s = cpu_scratch_get(j->cpu, ith, (size_t)n);
    if (!s) return; /* the caller grew every thread's scratch */
    long begin, end;
    ue_pool_split((long)n * j->n_head, ith, nth, &begin, &end);
    for (long item = begin; item < end; item++) {
        int64_t t = item / j->n_head;
        int h = (int)(item % j->n_head);
        const float *q = frow(j->q, t) + (size_t)h * j->hd;
        float mx = -INFINITY;
        for (int64_t p = 0; p < n; p++) {
            const float *k = frow(j->k, p) + (size_t)h * j->hd;
            float d = 0.0f;
            for (int i = 0; i < j->hd; i++) d += q[i] * k[i];
            s[p] = d * j->scale;
            if (s[p] > mx) mx = s[p];
        }
        double sum = 0.0;
        for (int64_t p = 0; p < n; p++) {
            s[p] = expf(s[p] - mx);
            sum += s[p];
        }
        float *o = frow(j->out, t) + (size_t)h * j->hd;
        for (int i = 0; i < j->hd; i++) {
            double acc = 0.0;
            for (int64_t p = 0; p < n; p++) acc += (double)s[p] * frow(j->v, p)[(size_t)h * j->hd + i];
            o[i] = (float)(acc / sum);
        }
    }
}

static void transpose_v_thread(void *ctx, int ith, int nth) {
    const attn_job *j = ctx;
    int64_t n = j->q->ne[1];
    long begin, end;
    ue_pool_split((long)j->n_head * j->hd, ith, nth, &begin, &end);
    for (long hc = begin; hc < end; hc++) { /* hc = h * hd + c: one output row */
        float *dst = j->vt + (size_t)hc * (size_t)n;
        for (int64_t p = 0; p < n; p++) dst[p] = frow(j->v, p)[hc];
    }
}

/* The next work item of a fast path: head h and query rows [t0, t0 + nq) of a block of
 * `rows`; 0 once every item is taken. */
static int next_item(attn_job *j, int rows, int *h, int64_t *t0, int *nq) {
    int item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (item >= j->n_blocks * j->n_head) return 0;
    int64_t n = j->q->ne[1];
    *h = item % j->n_head;
    *t0 = (int64_t)(item / j->n_head) * rows;
    *nq = (int)(n - *t0 < rows ? n - *t0 : rows);
    return 1;
}

static void attn_fast_thread(void *ctx, int ith, int nth) {
    attn_job *j = ctx;
    (void)nth;
    int64_t n = j->q->ne[1];
    const cpu_kernel_set *ks = j->cpu->kset;
    const cpu_type_kernel *gk = &ks->type[UE_TYPE_F32];
    float *s = cpu_scratch_get(j->cpu, ith, (size_t)QB * (size_t)n);
    if (!s) return;
    size_t ldq = (size_t)j->q->ne[0] * sizeof(float), ldk = (size_t)j->k->ne[0] * sizeof(float);
    int h, nq;
    int64_t t0;
    while (next_item(j, QB, &h, &t0, &nq)) {
        const float *q = frow(j->q, t0) + (size_t)h * j->hd;
        const float *k = frow(j->k, 0) + (size_t)h * j->hd;
        /* scores: s[i][p] = q_i . k_p, keys as the "weight" rows */
        for (int i0 = 0; i0 < nq; i0 += gk->nt_max) {
            int nt = nq - i0 < gk->nt_max ? nq - i0 : gk->nt_max;
            for (int64_t p0 = 0; p0 < n; p0 += gk->mr) {
                int nr = (int)(n - p0 < gk->mr ? n - p0 : gk->mr);
                gk->gemm(j->hd, (const char *)k + (size_t)p0 * ldk, ldk, nr,
                         (const char *)q + (size_t)i0 * ldq, ldq, nt, s + (size_t)i0 * n + p0,
                         (size_t)n);
            }
        }
        float inv[QB];
        for (int i = 0; i < nq; i++) {
            float *si = s + (size_t)i * n, mx = -INFINITY;
            for (int64_t p = 0; p < n; p++) {
                si[p] *= j->scale;
                mx = fmaxf(mx, si[p]);
            }
            float sum = ks->exp_sub(si, (int)n, mx);
            inv[i] = sum > 0.0f ? 1.0f / sum : 0.0f;
        }
        /* out[i][c] = sum_p s[i][p] * vt[h][c][p], rows of V^T as the "weight" rows */
        float *o = frow(j->out, t0) + (size_t)h * j->hd;
        const float *vt = j->vt + (size_t)h * (size_t)j->hd * (size_t)n;
        size_t lds = (size_t)n * sizeof(float);
        for (int i0 = 0; i0 < nq; i0 += gk->nt_max) {
            int nt = nq - i0 < gk->nt_max ? nq - i0 : gk->nt_max;
            for (int c0 = 0; c0 < j->hd; c0 += gk->mr) {
                int nr = j->hd - c0 < gk->mr ? j->hd - c0 : gk->mr;
                gk->gemm(n, vt + (size_t)c0 * n, lds, nr, s + (size_t)i0 * n, lds, nt,
                         o + (size_t)i0 * j->out->ne[0] + c0, (size_t)j->out->ne[0]);
            }
        }
        for (int i = 0; i < nq; i++) {
            float *oi = o + (size_t)i * j->out->ne[0];
            for (int c = 0; c < j->hd; c++) oi[c] *= inv[i];
        }
    }
}

/* The panel path (sets with f32 panels): per work item one head and PQ query rows, all on
 * the panel kernel without horizontal sums. The scores come out key-major, st[p][i] =
 * q_i . k_p (the queries as the weight rows, the keys' panels, packed once per call, as
 * the tokens), which is the panel layout the product P.V then takes as its tokens against
 * the rows of V^T; the softmax runs down the columns. */
enum { PQ = CPU_PANEL_TOKENS };

static int64_t key_groups(int64_t n) { return (n + PQ - 1) / PQ; }

static void pack_k_thread(void *ctx, int ith, int nth) {
    const attn_job *j = ctx;
    int64_t n = j->q->ne[1], groups = key_groups(n);
    long begin, end;
    ue_pool_split((long)(j->n_head * groups), ith, nth, &begin, &end);
    for (long hg = begin; hg < end; hg++) {
        int h = (int)(hg / groups);
        int64_t g = hg % groups, p0 = g * PQ;
        int nk = (int)(n - p0 < PQ ? n - p0 : PQ);
        j->cpu->kset->panel_pack(frow(j->k, p0) + (size_t)h * j->hd, (size_t)j->k->ne[0], nk, j->hd,
                                 j->kt + (size_t)hg * (size_t)j->hd * PQ);
    }
}

static void attn_panel_thread(void *ctx, int ith, int nth) {
    attn_job *j = ctx;
    (void)nth;
    const cpu_kernel_set *ks = j->cpu->kset;
    int64_t n = j->q->ne[1], groups = key_groups(n);
    size_t ldo = (size_t)j->out->ne[0];
    float *st = cpu_scratch_get(j->cpu, ith, (size_t)PQ * (size_t)n); /* [n][PQ] */
    if (!st) return;
    int h, nq;
    int64_t t0;
    while (next_item(j, PQ, &h, &t0, &nq)) {
        if (nq < PQ) memset(st, 0, (size_t)PQ * (size_t)n * sizeof(float)); /* idle lanes: finite */
        const float *q = frow(j->q, t0) + (size_t)h * j->hd;
        const float *kt = j->kt + (size_t)h * (size_t)groups * (size_t)j->hd * PQ;
        for (int64_t g = 0; g < groups; g++) {
            int nk = (int)(n - g * PQ < PQ ? n - g * PQ : PQ);
            ks->panel_gemm(j->hd, q, (size_t)j->q->ne[0], nq, kt + (size_t)g * (size_t)j->hd * PQ, nk,
                           st + (size_t)g * PQ * PQ, PQ, 0);
        }
        float m[PQ], sum[PQ];
        for (int i = 0; i < PQ; i++) {
            m[i] = -INFINITY;
            sum[i] = 0.0f;
        }
        for (int64_t p = 0; p < n; p++)
            for (int i = 0; i < PQ; i++) m[i] = fmaxf(m[i], st[p * PQ + i]);
        for (int64_t p = 0; p < n; p++)
            for (int i = 0; i < PQ; i++) st[p * PQ + i] = (st[p * PQ + i] - m[i]) * j->scale;
        ks->exp_sub(st, (int)(n * PQ), 0.0f);
        for (int64_t p = 0; p < n; p++)
            for (int i = 0; i < PQ; i++) sum[i] += st[p * PQ + i];
        float *o = frow(j->out, t0) + (size_t)h * j->hd;
        ks->panel_gemm(n, j->vt + (size_t)h * (size_t)j->hd * (size_t)n, (size_t)n, j->hd, st, nq, o, ldo, 0);
        for (int i = 0; i < nq; i++) {
            float inv = sum[i] > 0.0f ? 1.0f / sum[i] : 0.0f;
            for (int c = 0; c < j->hd; c++) o[(size_t)i * ldo + c] *= inv;
        }
    }
}

void cpu_op_attention_full(ue_backend *be, const ue_tensor *q, const ue_tensor *k,
                           const ue_tensor *v, const ue_tensor *out, int n_head, int head_dim,
                           float scale) {
    cpu_backend *cpu = (cpu_backend *)be;
    attn_job job = {.cpu = cpu, .q = q, .k = k, .v = v, .out = out, .n_head = n_head,
                    .hd = head_dim, .scale = scale};
    int64_t n = q->ne[1];
    int nth = ue_pool_n_threads(cpu->pool);
    int fast = cpu->kernels != UE_CPU_KERNELS_REFERENCE && cpu->kset->type[UE_TYPE_F32].gemm &&
               cpu->kset->exp_sub && n <= (1 << 22);
    int panel = fast && cpu->kset->panel_gemm && cpu->kset->panel_pack;
    size_t rows = panel ? PQ : QB, vt_floats = ((size_t)n * (size_t)n_head * (size_t)head_dim + 15) / 16 * 16;
    size_t kt_floats = panel ? (size_t)n_head * (size_t)key_groups(n) * (size_t)head_dim * PQ : 0;
    for (int i = 0; fast && i < nth; i++)
        if (!cpu_scratch_get(cpu, i, rows * (size_t)n)) fast = 0;
    if (fast) {
        job.vt = cpu_shared_scratch_get(cpu, (vt_floats + kt_floats) * sizeof(float));
        fast = job.vt != NULL;
        job.kt = fast ? job.vt + vt_floats : NULL;
    }
    if (!fast) {
        for (int i = 0; i < nth; i++)
            if (!cpu_scratch_get(cpu, i, (size_t)n)) return; /* out of memory: nothing sane to do */
        cpu_pool_run(cpu, attn_reference_thread, &job);
        return;
    }
    cpu_pool_run(cpu, transpose_v_thread, &job);
    if (panel) cpu_pool_run(cpu, pack_k_thread, &job);
    job.n_blocks = (int)((n + (int64_t)rows - 1) / (int64_t)rows);
    atomic_store(&job.next, 0);
    cpu_pool_run(cpu, panel ? attn_panel_thread : attn_fast_thread, &job);
}
