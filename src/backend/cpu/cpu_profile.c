/* CPU op profiler, on when the environment has UE_CPU_PROFILE=1: the backend then takes a
 * copy of its ops table whose ops time each call (matmuls by weight type and by prefill /
 * decode), pool runs record each thread's busy time, and destroying the backend prints a
 * table to stderr. Off, the ops table is the plain one and each pool run costs one branch
 * (cpu_pool_run in cpu_internal.h). Used for docs/PERFORMANCE.md's "where the time goes". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/cpu_internal.h"

enum { PROF_N = CPU_PROF_MATMUL + 2 * UE_TYPE_COUNT };

typedef struct prof_entry {
    uint64_t calls;
    uint64_t ns;      /* wall time of the calls */
    uint64_t pool_ns; /* of which inside pool runs (the rest ran on the calling thread) */
    uint64_t busy_ns; /* thread time inside those runs spent in the job itself */
    uint64_t sync_ns; /* pool-run time no thread was busy for: waking and joining */
    double work;      /* matmul: bytes of weights (decode) or flops (prefill) */
} prof_entry;

typedef struct prof_busy {
    _Alignas(64) uint64_t ns; /* own cache line: each thread writes its own */
} prof_busy;

struct cpu_prof {
    ue_backend_ops ops;        /* the plain table with the ops below wrapped */
    const ue_backend_ops *base; /* the plain table */
    prof_entry e[PROF_N];
    int cur;                   /* the entry of the op running now */
    int nth;
    uint64_t first_ns, last_ns; /* start of the first op, end of the last */
    prof_busy *busy;           /* [nth] of the pool run in progress */
    ue_pool_fn fn;
    void *ctx;
};

uint64_t cpu_prof_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void prof_thread(void *ctx, int ith, int nth) {
    cpu_prof *p = ctx;
    uint64_t t0 = cpu_prof_now();
    p->fn(p->ctx, ith, nth);
    p->busy[ith].ns = cpu_prof_now() - t0;
}

void cpu_prof_pool_run(cpu_backend *cpu, int sub, ue_pool_fn fn, void *ctx) {
    cpu_prof *p = cpu->prof;
    p->fn = fn;
    p->ctx = ctx;
    uint64_t t0 = cpu_prof_now();
    ue_pool_run(cpu->pool, prof_thread, p);
    uint64_t wall = cpu_prof_now() - t0, busy = 0, longest = 0;
    for (int i = 0; i < p->nth; i++) {
        busy += p->busy[i].ns;
        if (p->busy[i].ns > longest) longest = p->busy[i].ns;
    }
    uint64_t sync = wall > longest ? wall - longest : 0;
    prof_entry *e = &p->e[p->cur];
    e->pool_ns += wall;
    e->busy_ns += busy;
    e->sync_ns += sync;
    if (sub >= 0) {
        e = &p->e[sub];
        e->calls++;
        e->ns += wall;
        e->pool_ns += wall;
        e->busy_ns += busy;
        e->sync_ns += sync;
    }
}

void cpu_prof_add(cpu_prof *p, int id, uint64_t t0) {
    p->e[id].calls++;
    p->e[id].ns += cpu_prof_now() - t0;
}

static cpu_prof *prof_of(ue_backend *be) { return ((cpu_backend *)be)->prof; }

static uint64_t op_begin(cpu_prof *p, int id) {
    p->cur = id;
    uint64_t t = cpu_prof_now();
    if (!p->first_ns) p->first_ns = t;
    return t;
}

static void op_end(cpu_prof *p, int id, uint64_t t0, double work) {
    uint64_t t = cpu_prof_now();
    p->e[id].calls++;
    p->e[id].ns += t - t0;
    p->e[id].work += work;
    p->last_ns = t;
}

uint64_t cpu_prof_op_begin(cpu_backend *cpu, int id) { return cpu->prof ? op_begin(cpu->prof, id) : 0; }

void cpu_prof_op_end(cpu_backend *cpu, int id, uint64_t t0, double work) {
    if (cpu->prof) op_end(cpu->prof, id, t0, work);
}

#define PROF_WRAP(name, id, params, args)                                                     \
    static void prof_##name params {                                                          \
        cpu_prof *p = prof_of(be);                                                            \
        uint64_t t0 = op_begin(p, id);                                                        \
        p->base->name args;                                                                   \
        op_end(p, id, t0, 0.0);                                                               \
    }
PROF_WRAP(get_rows, CPU_PROF_GET_ROWS,
          (ue_backend * be, const ue_tensor *t, const ue_tensor *ids, float s, const ue_tensor *o),
          (be, t, ids, s, o))
PROF_WRAP(rms_norm, CPU_PROF_RMS_NORM,
          (ue_backend * be, const ue_tensor *x, const ue_tensor *w, float eps, const ue_tensor *o),
          (be, x, w, eps, o))
PROF_WRAP(rope, CPU_PROF_ROPE,
          (ue_backend * be, const ue_tensor *x, int hd, int n_rot, int64_t pos0, float base, float fs),
          (be, x, hd, n_rot, pos0, base, fs))
PROF_WRAP(attention, CPU_PROF_ATTENTION, (ue_backend * be, const ue_attention_args *a), (be, a))
PROF_WRAP(add_rms_norm, CPU_PROF_ADD_RMS_NORM,
          (ue_backend * be, const ue_tensor *o, const ue_tensor *wp, const ue_tensor *x, const ue_tensor *wn,
           float eps, const ue_tensor *xn),
          (be, o, wp, x, wn, eps, xn))
PROF_WRAP(qk_norm_rope, CPU_PROF_QK_NORM_ROPE, (ue_backend * be, const ue_qk_rope_args *a), (be, a))
PROF_WRAP(add, CPU_PROF_ADD, (ue_backend * be, const ue_tensor *x, const ue_tensor *y), (be, x, y))
PROF_WRAP(gelu_mul, CPU_PROF_GELU_MUL, (ue_backend * be, const ue_tensor *g, const ue_tensor *u), (be, g, u))
PROF_WRAP(copy_rows, CPU_PROF_COPY_ROWS, (ue_backend * be, const ue_tensor *s, const ue_tensor *d), (be, s, d))
PROF_WRAP(layer_norm, CPU_PROF_LAYER_NORM,
          (ue_backend * be, const ue_tensor *x, const ue_tensor *w, const ue_tensor *b, float eps,
           const ue_tensor *o),
          (be, x, w, b, eps, o))
PROF_WRAP(add_bias, CPU_PROF_ADD_BIAS, (ue_backend * be, const ue_tensor *x, const ue_tensor *b), (be, x, b))
PROF_WRAP(gelu, CPU_PROF_GELU, (ue_backend * be, const ue_tensor *x), (be, x))
PROF_WRAP(attention_full, CPU_PROF_ATTENTION_FULL,
          (ue_backend * be, const ue_tensor *q, const ue_tensor *k, const ue_tensor *v,
           const ue_tensor *o, int n_head, int hd, float scale),
          (be, q, k, v, o, n_head, hd, scale))
PROF_WRAP(avg_pool, CPU_PROF_AVG_POOL,
          (ue_backend * be, const ue_tensor *x, int side, int k, const ue_tensor *o), (be, x, side, k, o))
#undef PROF_WRAP

/* Matmuls by weight type and batch: decode counts the weight bytes read, prefill the flops. */
static void prof_matmul(ue_backend *be, const ue_tensor *w, const ue_tensor *x, const ue_tensor *out) {
    cpu_prof *p = prof_of(be);
    int prefill = x->ne[1] >= CPU_PREFILL_TOKENS;
    int id = CPU_PROF_MATMUL + 2 * (int)w->type + prefill;
    uint64_t t0 = op_begin(p, id);
    p->base->matmul(be, w, x, out);
    double work = prefill ? cpu_matmul_flops(w, x->ne[1])
                          : (double)ue_type_row_bytes(w->type, w->ne[0]) * (double)w->ne[1];
    op_end(p, id, t0, work);
}

static ue_status prof_write(ue_backend *be, ue_buffer *buf, size_t off, const void *src, size_t size,
                            ue_error *err) {
    cpu_prof *p = prof_of(be);
    uint64_t t0 = op_begin(p, CPU_PROF_HOST_COPY);
    ue_status st = p->base->write(be, buf, off, src, size, err);
    op_end(p, CPU_PROF_HOST_COPY, t0, 0.0);
    return st;
}

static ue_status prof_read(ue_backend *be, ue_buffer *buf, size_t off, void *dst, size_t size, ue_error *err) {
    cpu_prof *p = prof_of(be);
    uint64_t t0 = op_begin(p, CPU_PROF_HOST_COPY);
    ue_status st = p->base->read(be, buf, off, dst, size, err);
    op_end(p, CPU_PROF_HOST_COPY, t0, 0.0);
    return st;
}

const ue_backend_ops *cpu_prof_create(cpu_backend *cpu, const ue_backend_ops *base) {
    const char *env = getenv("UE_CPU_PROFILE");
    if (!env || strcmp(env, "1") != 0) return base;
    cpu_prof *p = calloc(1, sizeof *p);
    int nth = ue_pool_n_threads(cpu->pool);
    prof_busy *busy = p ? aligned_alloc(64, sizeof(prof_busy) * (size_t)nth) : NULL;
    if (!busy) { /* out of memory: run unprofiled */
        free(p);
        return base;
    }
    p->busy = busy;
    p->nth = nth;
    p->base = base;
    p->ops = *base;
    p->ops.get_rows = prof_get_rows;
    p->ops.rms_norm = prof_rms_norm;
    p->ops.matmul = prof_matmul;
    p->ops.rope = prof_rope;
    p->ops.attention = prof_attention;
    p->ops.add = prof_add;
    p->ops.gelu_mul = prof_gelu_mul;
    p->ops.copy_rows = prof_copy_rows;
    if (base->add_rms_norm) p->ops.add_rms_norm = prof_add_rms_norm;
    if (base->qk_norm_rope) p->ops.qk_norm_rope = prof_qk_norm_rope;
    if (base->layer_norm) p->ops.layer_norm = prof_layer_norm;
    if (base->add_bias) p->ops.add_bias = prof_add_bias;
    if (base->gelu) p->ops.gelu = prof_gelu;
    if (base->attention_full) p->ops.attention_full = prof_attention_full;
    if (base->avg_pool) p->ops.avg_pool = prof_avg_pool;
    p->ops.write = prof_write;
    p->ops.read = prof_read;
    cpu->prof = p;
    return &p->ops;
}

static const char *const k_names[CPU_PROF_MATMUL] = {
    [CPU_PROF_GET_ROWS] = "get_rows",
    [CPU_PROF_RMS_NORM] = "rms_norm",
    [CPU_PROF_ROPE] = "rope",
    [CPU_PROF_ADD] = "add",
    [CPU_PROF_GELU_MUL] = "gelu_mul",
    [CPU_PROF_COPY_ROWS] = "copy_rows",
    [CPU_PROF_ATTENTION] = "attention",
    [CPU_PROF_LAYER_NORM] = "layer_norm",
    [CPU_PROF_ADD_BIAS] = "add_bias",
    [CPU_PROF_GELU] = "gelu",
    [CPU_PROF_ATTENTION_FULL] = "attention_full",
    [CPU_PROF_AVG_POOL] = "avg_pool",
    [CPU_PROF_HOST_COPY] = "read/write",
    [CPU_PROF_MATMUL_QKV] = "matmul q/k/v prefill",
    [CPU_PROF_MATMUL_GELU] = "matmul gate/up+gelu prefill",
    [CPU_PROF_ADD_RMS_NORM] = "add_rms_norm",
    [CPU_PROF_QK_NORM_ROPE] = "qk_norm_rope",
    [CPU_PROF_MM_QUANT] = " (part) matmul act. quantize",
    [CPU_PROF_MM_PACK] = " (part) matmul act. panels",
    [CPU_PROF_ROPE_TABLE] = " (part) rope angle table",
    [CPU_PROF_ATTN_MERGE] = " (part) attention merge",
};

static int is_part(int id) { return id >= CPU_PROF_MM_QUANT && id < CPU_PROF_MATMUL; }

void cpu_prof_report(cpu_backend *cpu) {
    cpu_prof *p = cpu->prof;
    if (!p) return;
    uint64_t total = 0;
    for (int i = 0; i < PROF_N; i++)
        if (!is_part(i)) total += p->e[i].ns;
    uint64_t span = p->last_ns > p->first_ns ? p->last_ns - p->first_ns : 0;
    int order[PROF_N], n = 0;
    for (int i = 0; i < PROF_N; i++)
        if (p->e[i].calls) order[n++] = i;
    for (int i = 1; i < n; i++) /* by time, longest first */
        for (int j = i; j > 0 && p->e[order[j]].ns > p->e[order[j - 1]].ns; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    fprintf(stderr,
            "\nCPU profile (UE_CPU_PROFILE=1): %d threads, %s kernels; %.1f ms in ops, %.1f ms "
            "between them (first op to last)\n"
            "serial: time on the calling thread outside pool runs; sync: pool-run time before the "
            "first thread starts and after the last one ends its share;\npar.eff: busy thread time "
            "/ (threads x pool-run time); (part) rows are included in the rows of their op\n",
            p->nth, cpu->kernels == UE_CPU_KERNELS_REFERENCE ? "reference" : cpu->kset->name,
            (double)total / 1e6, span > total ? (double)(span - total) / 1e6 : 0.0);
    fprintf(stderr, "%-30s %8s %10s %7s %9s %10s %9s %8s %14s\n", "op", "calls", "total ms", "share",
            "us/call", "serial ms", "sync ms", "par.eff", "rate");
    for (int k = 0; k < n; k++) {
        int i = order[k];
        const prof_entry *e = &p->e[i];
        char name[48], rate[32] = "";
        if (i >= CPU_PROF_MATMUL) {
            int type = (i - CPU_PROF_MATMUL) / 2, prefill = (i - CPU_PROF_MATMUL) % 2;
            snprintf(name, sizeof name, "matmul %s %s", ue_type_get((uint32_t)type)->name,
                     prefill ? "prefill" : "decode");
            if (e->ns)
                snprintf(rate, sizeof rate, prefill ? "%.1f GFLOP/s" : "%.1f GB/s", e->work / (double)e->ns);
        } else {
            snprintf(name, sizeof name, "%s", k_names[i]);
            if (e->work > 0.0 && e->ns) snprintf(rate, sizeof rate, "%.1f GFLOP/s", e->work / (double)e->ns);
        }
        char eff[16] = "-";
        if (e->pool_ns) snprintf(eff, sizeof eff, "%.0f%%", 100.0 * (double)e->busy_ns / ((double)p->nth * (double)e->pool_ns));
        fprintf(stderr, "%-30s %8llu %10.2f %6.1f%% %9.1f %10.2f %9.2f %8s %14s\n", name,
                (unsigned long long)e->calls, (double)e->ns / 1e6,
                total ? 100.0 * (double)e->ns / (double)total : 0.0,
                (double)e->ns / 1e3 / (double)e->calls, (double)(e->ns - e->pool_ns) / 1e6,
                (double)e->sync_ns / 1e6, eff, rate);
    }
}

void cpu_prof_destroy(cpu_backend *cpu) {
    if (!cpu->prof) return;
    free(cpu->prof->busy);
    free(cpu->prof);
    cpu->prof = NULL;
}
