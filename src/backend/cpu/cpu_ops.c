/* CPU element-wise ops, norms and rotary embedding (shared/docs/gemma3.md 1.2-1.3).
 * Work is split over rows across the pool; these ops are a small share of the time, so
 * one clear implementation serves both the reference and the fast kernels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

typedef struct row_job {
    const ue_tensor *a, *b, *c, *d, *e;
    const ue_qk_rope_args *qk;
    const float *table; /* rope: the call's angle table, NULL: compute per row */
    const int32_t *ids;
    float f0, f1;
    int i0, i1;
    int64_t pos0;
    void (*row_fn)(const struct row_job *job, int64_t row);
    const cpu_kernel_set *ks; /* fast kernels, NULL for the reference */
} row_job;

static void run_rows_thread(void *ctx, int ith, int nth) {
    const row_job *job = ctx;
    long begin, end;
    ue_pool_split((long)job->a->ne[1], ith, nth, &begin, &end);
    for (long r = begin; r < end; r++) job->row_fn(job, r);
}

/* Runs job->row_fn over the rows of job->a; small jobs stay on the calling thread. */
static void run_rows(ue_backend *be, row_job *job) {
    cpu_backend *cpu = (cpu_backend *)be;
    int64_t work = job->a->ne[0] * job->a->ne[1];
    if (work < 16384 || job->a->ne[1] < 2)
        run_rows_thread(job, 0, 1);
    else
        cpu_pool_run(cpu, run_rows_thread, job);
}

static float *row_f32(const ue_tensor *t, int64_t row) {
    return (float *)ue_tensor_host(t) + row * t->ne[0];
}

static void get_rows_row(const row_job *job, int64_t r) {
    const ue_tensor *table = job->b;
    size_t row_bytes = ue_type_row_bytes(table->type, table->ne[0]);
    int32_t id = job->ids[r];
    float *dst = row_f32(job->a, r);
    if (id < 0 || id >= table->ne[1]) { /* the model validates ids; never read outside */
        memset(dst, 0, (size_t)table->ne[0] * sizeof(float));
        return;
    }
    const char *src = (const char *)ue_tensor_host(table) + (size_t)id * row_bytes;
    ue_dequantize_row(table->type, src, dst, table->ne[0]);
    for (int64_t i = 0; i < table->ne[0]; i++) dst[i] *= job->f0;
}

void cpu_op_get_rows(ue_backend *be, const ue_tensor *table, const ue_tensor *ids, float scale,
                     const ue_tensor *out) {
    row_job job = {.a = out, .b = table, .ids = ue_tensor_host(ids), .f0 = scale,
                   .row_fn = get_rows_row};
    run_rows(be, &job);
}

/* y = x / rms(x) * w over n values (y may be x): the set's kernel, else the scalar loop. */
static void rms_norm_vec(const cpu_kernel_set *ks, const float *x, const float *w, float eps, float *y,
                         int64_t n) {
    if (ks && ks->rms_norm) {
        ks->rms_norm(x, w, eps, y, n);
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
    float inv = (float)(1.0 / sqrt(sum / (double)n + eps));
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * inv * w[i];
}

static void rms_norm_row(const row_job *job, int64_t r) {
    rms_norm_vec(job->ks, row_f32(job->a, r), ue_tensor_host(job->b), job->f0, row_f32(job->c, r), job->a->ne[0]);
}

void cpu_op_rms_norm(ue_backend *be, const ue_tensor *x, const ue_tensor *w, float eps,
                     const ue_tensor *out) {
    cpu_backend *cpu = (cpu_backend *)be;
    row_job job = {.a = x, .b = w, .c = out, .f0 = eps, .row_fn = rms_norm_row,
                   .ks = cpu->kernels == UE_CPU_KERNELS_REFERENCE ? NULL : cpu->kset};
    run_rows(be, &job);
}

/* cos and sin of the angle of pair i at position pos (shared/docs/gemma3.md 1.3). */
static void rope_angle(double pos, double base, int i, int n_rot, float *c, float *s) {
    double theta = pos * pow(base, -2.0 * i / n_rot);
    *c = (float)cos(theta);
    *s = (float)sin(theta);
}

/* Rotates the n_heads heads of one row at position pos (already scaled): angles from cs
 * (cos, sin pairs) or computed. */
static void rope_vec(float *x, int n_heads, int head_dim, int n_rot, const float *cs, double pos, double base) {
    int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        float c, s;
        if (cs) {
            c = cs[2 * i];
            s = cs[2 * i + 1];
        } else {
            rope_angle(pos, base, i, n_rot, &c, &s);
        }
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)h * head_dim;
            float a = v[i], b = v[i + half];
            v[i] = a * c - b * s;
            v[i + half] = a * s + b * c;
        }
    }
}

static void rope_row(const row_job *job, int64_t r) {
    int head_dim = job->i0, n_rot = job->i1;
    rope_vec(row_f32(job->a, r), (int)(job->a->ne[0] / head_dim), head_dim, n_rot,
             job->table ? job->table + (size_t)r * (size_t)n_rot : NULL, (double)(job->pos0 + r) * job->f1, job->f0);
}

typedef struct rope_table_job {
    float *cs;
    int64_t pos0, n_pos;
    int n_rot;
    double freq_scale;
    const double *pw; /* pw[i] = base^(-2i / n_rot), as rope_angle computes it */
} rope_table_job;

static void rope_table_thread(void *ctx, int ith, int nth) {
    const rope_table_job *job = ctx;
    long begin, end;
    ue_pool_split((long)job->n_pos, ith, nth, &begin, &end);
    for (long p = begin; p < end; p++) {
        double pos = (double)(job->pos0 + p) * job->freq_scale;
        float *cs = job->cs + (size_t)p * (size_t)job->n_rot;
        for (int i = 0; i < job->n_rot / 2; i++) {
            double theta = pos * job->pw[i];
            cs[2 * i] = (float)cos(theta);
            cs[2 * i + 1] = (float)sin(theta);
        }
    }
}

enum { ROPE_MAX_PAIRS = 1024, ROPE_PARALLEL = 4096 /* angles worth splitting over threads */ };

/* The angle table of n_pos positions from pos0, from the cache or computed into its
 * oldest slot (over the threads: a prefill's table is ~100k cos and sin); NULL when out of
 * memory or rotating more pairs than ROPE_MAX_PAIRS (rows then compute their own angles).
 * The values are those rope_row computes, so both ways give identical results. */
static const float *rope_table(cpu_backend *cpu, int n_rot, int64_t pos0, int64_t n_pos,
                               float base, float freq_scale) {
    for (int i = 0; i < CPU_ROPE_TABLES; i++) {
        cpu_rope_table *t = &cpu->rope[i];
        if (t->cs && t->base == base && t->freq_scale == freq_scale && t->n_rot == n_rot &&
            pos0 >= t->pos0 && pos0 + n_pos <= t->pos0 + t->n_pos)
            return t->cs + (size_t)(pos0 - t->pos0) * (size_t)n_rot;
    }
    if (n_rot / 2 > ROPE_MAX_PAIRS) return NULL;
    cpu_rope_table *t = &cpu->rope[cpu->rope_next];
    cpu->rope_next = (cpu->rope_next + 1) % CPU_ROPE_TABLES;
    size_t need = (size_t)n_pos * (size_t)n_rot;
    if (t->cap < need) {
        free(t->cs);
        t->cs = malloc(need * sizeof(float));
        t->cap = t->cs ? need : 0;
        if (!t->cs) return NULL;
    }
    t->base = base;
    t->freq_scale = freq_scale;
    t->n_rot = n_rot;
    t->pos0 = pos0;
    t->n_pos = n_pos;
    double pw[ROPE_MAX_PAIRS];
    for (int i = 0; i < n_rot / 2; i++) pw[i] = pow(base, -2.0 * i / n_rot);
    rope_table_job job = {t->cs, pos0, n_pos, n_rot, freq_scale, pw};
    if (n_pos * n_rot >= ROPE_PARALLEL && n_pos > 1) {
        cpu_pool_run_as(cpu, CPU_PROF_ROPE_TABLE, rope_table_thread, &job);
    } else {
        uint64_t t0 = cpu_prof_begin(cpu);
        rope_table_thread(&job, 0, 1);
        cpu_prof_end(cpu, CPU_PROF_ROPE_TABLE, t0);
    }
    return t->cs;
}

void cpu_op_rope(ue_backend *be, const ue_tensor *x, int head_dim, int n_rot, int64_t pos0,
                 float base, float freq_scale) {
    cpu_backend *cpu = (cpu_backend *)be;
    row_job job = {.a = x, .i0 = head_dim, .i1 = n_rot, .pos0 = pos0, .f0 = base,
                   .f1 = freq_scale, .row_fn = rope_row};
    job.table = rope_table(cpu, n_rot, pos0, x->ne[1], base, freq_scale);
    run_rows(be, &job);
}

static void add_row(const row_job *job, int64_t r) {
    float *restrict x = row_f32(job->a, r);
    const float *restrict y = row_f32(job->b, r);
    int64_t n = job->a->ne[0];
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

void cpu_op_add(ue_backend *be, const ue_tensor *x, const ue_tensor *y) {
    row_job job = {.a = x, .b = y, .row_fn = add_row};
    run_rows(be, &job);
}

static inline float gelu_tanh(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

static void gelu_mul_row(const row_job *job, int64_t r) {
    float *g = row_f32(job->a, r);
    const float *u = row_f32(job->b, r);
    if (job->ks) { /* SIMD exp: tanhf was a fifth of prefill time */
        job->ks->gelu_mul(g, u, job->a->ne[0]);
        return;
    }
    for (int64_t i = 0; i < job->a->ne[0]; i++) g[i] = gelu_tanh(g[i]) * u[i];
}

void cpu_op_gelu_mul(ue_backend *be, const ue_tensor *g, const ue_tensor *u) {
    cpu_backend *cpu = (cpu_backend *)be;
    row_job job = {.a = g, .b = u, .row_fn = gelu_mul_row,
                   .ks = cpu->kernels == UE_CPU_KERNELS_REFERENCE ? NULL : cpu->kset};
    run_rows(be, &job);
}

/* Row r of src (n f32 values) into row r of dst, f32 or f16. */
static void copy_vec(const float *src, const ue_tensor *dst, int64_t r, int64_t n) {
    if (dst->type == UE_TYPE_F32) {
        memcpy(row_f32(dst, r), src, (size_t)n * sizeof(float));
    } else { /* F16 */
        uint16_t *d = (uint16_t *)ue_tensor_host(dst) + r * n;
        for (int64_t i = 0; i < n; i++) d[i] = ue_f32_to_f16(src[i]);
    }
}

static void copy_row(const row_job *job, int64_t r) { copy_vec(row_f32(job->a, r), job->b, r, job->a->ne[0]); }

void cpu_op_copy_rows(ue_backend *be, const ue_tensor *src, const ue_tensor *dst) {
    row_job job = {.a = src, .b = dst, .row_fn = copy_row};
    run_rows(be, &job);
}

/* ---- fused row ops (backend.h): each row in one pass, with the same kernels in the same
 * order as the composed ops (fused_compose.c), so the results are identical; at 16
 * threads the composed passes cost a 4B prefill ~2.5% (six pool runs per norm-add and
 * per attention input, each streaming the batch's rows). */

/* a = o, b = x, c = xn, d = w_post, e = w_next (or NULL) */
static void add_rms_norm_row(const row_job *job, int64_t r) {
    int64_t n = job->a->ne[0];
    float *restrict o = row_f32(job->a, r), *restrict x = row_f32(job->b, r);
    rms_norm_vec(job->ks, o, ue_tensor_host(job->d), job->f0, o, n);
    for (int64_t i = 0; i < n; i++) x[i] += o[i];
    if (job->e) rms_norm_vec(job->ks, x, ue_tensor_host(job->e), job->f0, row_f32(job->c, r), n);
}

void cpu_op_add_rms_norm(ue_backend *be, const ue_tensor *o, const ue_tensor *w_post, const ue_tensor *x,
                         const ue_tensor *w_next, float eps, const ue_tensor *xn) {
    cpu_backend *cpu = (cpu_backend *)be;
    row_job job = {.a = o, .b = x, .c = xn, .d = w_post, .e = w_next, .f0 = eps, .row_fn = add_rms_norm_row,
                   .ks = cpu->kernels == UE_CPU_KERNELS_REFERENCE ? NULL : cpu->kset};
    run_rows(be, &job);
}

/* One token's attention input: its q heads normed and rotated in place, its k heads normed
 * into the cache row (or in place, then converted, for an f16 cache) and rotated there,
 * its v copied. a = q; qk: the args. */
static void qk_norm_rope_row(const row_job *job, int64_t r) {
    const ue_qk_rope_args *a = job->qk;
    int hd = a->head_dim, nq = (int)(a->q.ne[0] / hd), nk = (int)(a->k.ne[0] / hd);
    const float *cs = job->table ? job->table + (size_t)r * (size_t)hd : NULL;
    double pos = (double)(a->pos0 + r) * a->freq_scale;
    float *q = row_f32(&a->q, r), *k = row_f32(&a->k, r);
    float *kd = a->k_dst.type == UE_TYPE_F32 ? row_f32(&a->k_dst, r) : k;
    for (int h = 0; h < nq; h++)
        rms_norm_vec(job->ks, q + (size_t)h * hd, ue_tensor_host(&a->q_norm), a->eps, q + (size_t)h * hd, hd);
    for (int h = 0; h < nk; h++)
        rms_norm_vec(job->ks, k + (size_t)h * hd, ue_tensor_host(&a->k_norm), a->eps, kd + (size_t)h * hd, hd);
    rope_vec(q, nq, hd, hd, cs, pos, a->base);
    rope_vec(kd, nk, hd, hd, cs, pos, a->base);
    if (kd == k) copy_vec(k, &a->k_dst, r, a->k.ne[0]);
    copy_vec(row_f32(&a->v, r), &a->v_dst, r, a->v.ne[0]);
}

void cpu_op_qk_norm_rope(ue_backend *be, const ue_qk_rope_args *a) {
    cpu_backend *cpu = (cpu_backend *)be;
    row_job job = {.a = &a->q, .qk = a, .row_fn = qk_norm_rope_row,
                   .ks = cpu->kernels == UE_CPU_KERNELS_REFERENCE ? NULL : cpu->kset};
    job.table = rope_table(cpu, a->head_dim, a->pos0, a->q.ne[1], a->base, a->freq_scale);
    run_rows(be, &job);
}
