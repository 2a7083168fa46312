/* Shared state of the CPU backend's files: the backend struct, per-thread scratch and
 * the kernel entry points of each op family. */
#ifndef UE_BACKEND_CPU_INTERNAL_H
#define UE_BACKEND_CPU_INTERNAL_H

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"
#include "core/threadpool.h"

typedef struct cpu_scratch {
    float *data;
    size_t cap; /* floats */
    int mapped; /* an anonymous mapping, else a heap block */
} cpu_scratch;

/* Rotary angles of one rope call's positions: cs[(p - pos0) * n_rot + 2i .. +1] = cos, sin
 * of (p * freq_scale) * base^(-2i / n_rot), p in [pos0, pos0 + n_pos). q and k of a layer,
 * and every layer sharing a base, reuse it. */
typedef struct cpu_rope_table {
    double base, freq_scale;
    int n_rot;
    int64_t pos0, n_pos;
    float *cs;
    size_t cap; /* floats */
} cpu_rope_table;

enum { CPU_ROPE_TABLES = 2 }; /* Gemma 3: local and global bases alternate */

/* Batches of at least this many tokens take the prefill matmuls (cpu_prefill.c). */
enum { CPU_PREFILL_TOKENS = 8 };

/* Profiler entries (cpu_profile.c): the ops, parts of ops, then 2 per weight type for
 * matmuls (decode, prefill). */
typedef enum cpu_prof_id {
    CPU_PROF_GET_ROWS, CPU_PROF_RMS_NORM, CPU_PROF_ROPE, CPU_PROF_ADD, CPU_PROF_GELU_MUL,
    CPU_PROF_COPY_ROWS, CPU_PROF_ATTENTION, CPU_PROF_LAYER_NORM, CPU_PROF_ADD_BIAS,
    CPU_PROF_GELU, CPU_PROF_ATTENTION_FULL, CPU_PROF_AVG_POOL, CPU_PROF_HOST_COPY,
    CPU_PROF_MATMUL_QKV, CPU_PROF_MATMUL_GELU, /* fused prefill matmuls (all weight types) */
    CPU_PROF_ADD_RMS_NORM, CPU_PROF_QK_NORM_ROPE,
    CPU_PROF_MM_QUANT, CPU_PROF_MM_PACK, CPU_PROF_ROPE_TABLE, CPU_PROF_ATTN_MERGE, /* parts */
    CPU_PROF_MATMUL
} cpu_prof_id;
typedef struct cpu_prof cpu_prof;

typedef struct cpu_backend {
    ue_backend base;
    ue_pool *pool;
    ue_cpu_kernels kernels;
    cpu_scratch *scratch; /* one per thread */
    const cpu_kernel_set *kset; /* fast kernels (UE_CPU_KERNELS_FAST) */
    int int8_matmul;            /* UE_CPU_MATMUL=int8: Q8_32 activations for every batch */
    cpu_scratch shared;         /* quantized activations of the running matmul */
    cpu_rope_table rope[CPU_ROPE_TABLES];
    int rope_next;              /* the table replaced on the next miss */
    cpu_prof *prof;             /* UE_CPU_PROFILE=1, else NULL */
    /* UE_CPU_PREFILL_SPLIT=rows:groups (tuning experiments): integer prefill chunks of
     * `rows` rows and `groups` token groups instead of the chosen ones; 0: chosen */
    int split_rows, split_groups;
    /* UE_CPU_PREFILL_TAIL=rounds:pieces (tuning experiments): the integer prefill's last
     * rounds x threads items run in `pieces` row pieces each; -1: the default */
    int tail_rounds, tail_pieces;
} cpu_backend;

/* Profiling (cpu_profile.c). create: the ops table to use (base itself unless profiling);
 * report: the table to stderr; pool runs go through cpu_pool_run so their threads' busy
 * time is counted (sub >= 0: also as that part); a serial part is timed with
 * t0 = cpu_prof_begin(cpu) .. cpu_prof_end(cpu, id, t0). */
const ue_backend_ops *cpu_prof_create(cpu_backend *cpu, const ue_backend_ops *base);
void cpu_prof_report(cpu_backend *cpu);
void cpu_prof_destroy(cpu_backend *cpu);
void cpu_prof_pool_run(cpu_backend *cpu, int sub, ue_pool_fn fn, void *ctx);
void cpu_prof_add(cpu_prof *p, int id, uint64_t t0);
uint64_t cpu_prof_now(void);
/* Flops of a matmul of weights w over n_tok tokens (the profiler's prefill rate). */
static inline double cpu_matmul_flops(const ue_tensor *w, int64_t n_tok) {
    return 2.0 * (double)w->ne[0] * (double)w->ne[1] * (double)n_tok;
}
/* An op timed from inside the backend (the fused prefill matmuls, which fall back to
 * the separately timed matmuls): begin makes pool runs count for id; end adds the call
 * with its work (flops). */
uint64_t cpu_prof_op_begin(cpu_backend *cpu, int id);
void cpu_prof_op_end(cpu_backend *cpu, int id, uint64_t t0, double work);
static inline void cpu_pool_run_as(cpu_backend *cpu, int sub, ue_pool_fn fn, void *ctx) {
    if (cpu->prof)
        cpu_prof_pool_run(cpu, sub, fn, ctx);
    else
        ue_pool_run(cpu->pool, fn, ctx);
}
static inline void cpu_pool_run(cpu_backend *cpu, ue_pool_fn fn, void *ctx) { cpu_pool_run_as(cpu, -1, fn, ctx); }
static inline uint64_t cpu_prof_begin(const cpu_backend *cpu) { return cpu->prof ? cpu_prof_now() : 0; }
static inline void cpu_prof_end(cpu_backend *cpu, int id, uint64_t t0) {
    if (cpu->prof) cpu_prof_add(cpu->prof, id, t0);
}

/* Per-thread scratch of at least n floats. Grows on first use of a size, so steady-state
 * decoding allocates nothing; returns NULL when out of memory. */
float *cpu_scratch_get(cpu_backend *cpu, int ith, size_t n);
/* Scratch shared by all threads of one op (at least `bytes`, 64-byte aligned); grows
 * like cpu_scratch_get. Only the calling thread may grow it, before ue_pool_run. */
void *cpu_shared_scratch_get(cpu_backend *cpu, size_t bytes);

void cpu_op_get_rows(ue_backend *be, const ue_tensor *table, const ue_tensor *ids, float scale,
                     const ue_tensor *out);
void cpu_op_rms_norm(ue_backend *be, const ue_tensor *x, const ue_tensor *w, float eps,
                     const ue_tensor *out);
void cpu_op_rope(ue_backend *be, const ue_tensor *x, int head_dim, int n_rot, int64_t pos0,
                 float base, float freq_scale);
void cpu_op_add(ue_backend *be, const ue_tensor *x, const ue_tensor *y);
void cpu_op_gelu_mul(ue_backend *be, const ue_tensor *g, const ue_tensor *u);
void cpu_op_copy_rows(ue_backend *be, const ue_tensor *src, const ue_tensor *dst);
void cpu_op_add_rms_norm(ue_backend *be, const ue_tensor *o, const ue_tensor *w_post, const ue_tensor *x,
                         const ue_tensor *w_next, float eps, const ue_tensor *xn);
void cpu_op_qk_norm_rope(ue_backend *be, const ue_qk_rope_args *a);
void cpu_op_matmul(ue_backend *be, const ue_tensor *w, const ue_tensor *x, const ue_tensor *out);
void cpu_op_matmul_qkv(ue_backend *be, const ue_tensor *wq, const ue_tensor *wk, const ue_tensor *wv,
                       const ue_tensor *x, const ue_tensor *q, const ue_tensor *k, const ue_tensor *v);
void cpu_op_matmul_gelu(ue_backend *be, const ue_tensor *w_gate, const ue_tensor *w_up, const ue_tensor *x,
                        const ue_tensor *g, const ue_tensor *u);
/* Prefill matmuls (cpu_prefill.c): out[i] = x times w[i] for n <= 3 weights of x's width,
 * the activations packed once; gelu: g = gelu(x w_gate) * (x w_up), u used only where rows
 * split into column pieces. Return 0 (nothing written) where the kernels or memory do
 * not allow it. */
int cpu_prefill_matmul(cpu_backend *cpu, const ue_tensor *const *w, const ue_tensor *const *out, int n,
                       const ue_tensor *x);
int cpu_prefill_matmul_gelu(cpu_backend *cpu, const ue_tensor *w_gate, const ue_tensor *w_up, const ue_tensor *x,
                            const ue_tensor *g, const ue_tensor *u);
void cpu_op_attention(ue_backend *be, const ue_attention_args *args);
/* Vision encoder ops (cpu_ops_vision.c). */
void cpu_op_layer_norm(ue_backend *be, const ue_tensor *x, const ue_tensor *w,
                       const ue_tensor *b, float eps, const ue_tensor *out);
void cpu_op_add_bias(ue_backend *be, const ue_tensor *x, const ue_tensor *b);
void cpu_op_gelu(ue_backend *be, const ue_tensor *x);
void cpu_op_attention_full(ue_backend *be, const ue_tensor *q, const ue_tensor *k,
                           const ue_tensor *v, const ue_tensor *out, int n_head, int head_dim,
                           float scale);
void cpu_op_avg_pool(ue_backend *be, const ue_tensor *x, int side, int k, const ue_tensor *out);

#endif
