/* CPU ops of the SigLIP vision encoder (gemma3.md 2.2-2.3): layer norm with bias, bias
 * add, GELU (tanh form), average pooling, and full (unmasked) self-attention.
 * attention_full has two paths: the reference one (scalar, one query row and head at a
 * time, the oracle) and a fast one that runs the scores Q.K^T and the product P.V as small
 * GEMMs on the kernel set's f32 micro-kernels, a block of query rows of one head per work
 * item, with V transposed once per call so both products stream contiguous rows. */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
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
    float *vt; /* fast path: [n_head][hd][n] */
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

/* Floats of a thread's fast-attention scratch: the scores of QB query rows, then (64-byte
 * aligned) their packed f32 panel. */
static size_t attn_scratch(int64_t n, int hd) {
    return (size_t)QB * (size_t)n + 16 + (size_t)hd * CPU_PANEL_TOKENS;
}

static void attn_fast_thread(void *ctx, int ith, int nth) {
    attn_job *j = ctx;
    (void)nth;
    int64_t n = j->q->ne[1];
    const cpu_kernel_set *ks = j->cpu->kset;
    const cpu_type_kernel *gk = &ks->type[UE_TYPE_F32];
    float *s = cpu_scratch_get(j->cpu, ith, attn_scratch(n, j->hd));
    if (!s) return;
    size_t ldq = (size_t)j->q->ne[0] * sizeof(float), ldk = (size_t)j->k->ne[0] * sizeof(float);
    for (;;) {
        int item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->n_blocks * j->n_head) break;
        int h = item % j->n_head;
        int64_t t0 = (int64_t)(item / j->n_head) * QB;
        int nq = (int)(n - t0 < QB ? n - t0 : QB);
        const float *q = frow(j->q, t0) + (size_t)h * j->hd;
        const float *k = frow(j->k, 0) + (size_t)h * j->hd;
        /* scores: s[i][p] = q_i . k_p, keys as the "weight" rows: on the f32 panels where
         * the set has them (broadcast keys against the packed queries: the row tiles' dot
         * products over head_dim 72 spent more on horizontal sums than on products) */
        if (ks->panel_gemm && ks->panel_pack) {
            float *qt = (float *)(((uintptr_t)(s + (size_t)QB * (size_t)n) + 63) & ~(uintptr_t)63);
            ks->panel_pack(q, (size_t)j->q->ne[0], nq, j->hd, qt);
            ks->panel_gemm(j->hd, k, (size_t)j->k->ne[0], (int)n, qt, nq, s, (size_t)n, 0);
        } else
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

void cpu_op_attention_full(ue_backend *be, const ue_tensor *q, const ue_tensor *k,
                           const ue_tensor *v, const ue_tensor *out, int n_head, int head_dim,
                           float scale) {
    cpu_backend *cpu = (cpu_backend *)be;
    attn_job job = {.cpu = cpu, .q = q, .k = k, .v = v, .out = out, .n_head = n_head,
                    .hd = head_dim, .scale = scale};
    int64_t n = q->ne[1];
    int nth = ue_pool_n_threads(cpu->pool);
    int fast = cpu->kernels != UE_CPU_KERNELS_REFERENCE && cpu->kset->type[UE_TYPE_F32].gemm &&
               cpu->kset->exp_sub && n <= (1 << 24);
    for (int i = 0; fast && i < nth; i++)
        if (!cpu_scratch_get(cpu, i, attn_scratch(n, head_dim))) fast = 0;
    if (fast) {
        job.vt = cpu_shared_scratch_get(cpu, (size_t)n * (size_t)n_head * (size_t)head_dim * sizeof(float));
        fast = job.vt != NULL;
    }
    if (!fast) {
        for (int i = 0; i < nth; i++)
            if (!cpu_scratch_get(cpu, i, (size_t)n)) return; /* out of memory: nothing sane to do */
        cpu_pool_run(cpu, attn_reference_thread, &job);
        return;
    }
    cpu_pool_run(cpu, transpose_v_thread, &job);
    job.n_blocks = (int)((n + QB - 1) / QB);
    atomic_store(&job.next, 0);
    cpu_pool_run(cpu, attn_fast_thread, &job);
}
