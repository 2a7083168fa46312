/* CPU backend: creation, host buffers, scratch and the ops table. The ops themselves live
 * in cpu_ops.c (element-wise and norms), cpu_matmul.c (matmuls; prefill in cpu_prefill.c)
 * and cpu_attention.c. */
#include "backend/cpu/cpu_internal.h"
#include "backend/fused_compose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Buffers from this size (KV cache, activations, logits) are anonymous mappings: their
 * zero pages become resident only once written, so a 4096-position context holds memory
 * for the positions used so far. Under ASan they stay on the heap, where its redzones
 * catch overruns. */
#if defined(__SANITIZE_ADDRESS__)
#define CPU_MAP_BYTES SIZE_MAX
#define CPU_MAP_SCRATCH_BYTES SIZE_MAX
#else
#define CPU_MAP_BYTES ((size_t)1 << 20)
/* Scratch grows in steps as a prefill meets larger rows (thread scratch ~100 -> 350 KB,
 * token panels 0.7 -> 2.3 MB for the 270M model); each step frees the last size. Mapped,
 * the freed steps go back to the system; as heap blocks (once glibc's mmap threshold has
 * risen past them) they would stay resident as holes. */
#define CPU_MAP_SCRATCH_BYTES ((size_t)64 << 10)
#endif
enum { CPU_BUF_HEAP = 1, CPU_BUF_MAPPED = 2 }; /* ue_buffer.owns_host */

static void scratch_free(cpu_scratch *s) {
    if (s->mapped) munmap(s->data, ((s->cap * sizeof(float)) + 63) & ~(size_t)63);
    else free(s->data);
    *s = (cpu_scratch){0};
}

static void cpu_destroy(ue_backend *be) {
    cpu_backend *cpu = (cpu_backend *)be;
    if (!cpu) return;
    cpu_prof_report(cpu);
    cpu_prof_destroy(cpu);
    if (cpu->scratch) {
        for (int i = 0; i < ue_pool_n_threads(cpu->pool); i++) scratch_free(&cpu->scratch[i]);
        free(cpu->scratch);
    }
    scratch_free(&cpu->shared);
    for (int i = 0; i < CPU_ROPE_TABLES; i++) free(cpu->rope[i].cs);
    ue_pool_destroy(cpu->pool);
    free(cpu);
}

static int cpu_supports(const ue_backend *be, ue_op op, ue_type type) {
    (void)be;
    const ue_type_traits *tr = ue_type_get((uint32_t)type);
    if (!tr || !tr->can_compute) return 0;
    if (op == UE_OP_COPY_ROWS || op == UE_OP_QK_NORM_ROPE || op == UE_OP_ATTENTION_ROPE)
        return type == UE_TYPE_F32 || type == UE_TYPE_F16;
    if (op == UE_OP_ADD_RMS_NORM) return type == UE_TYPE_F32;
    return op < UE_OP_COUNT;
}

static ue_status cpu_buffer_create(ue_backend *be, size_t size, ue_buffer **out, ue_error *err) {
    (void)be;
    *out = NULL;
    ue_buffer *buf = calloc(1, sizeof *buf);
    /* 64-byte alignment for vector loads; round the size up as aligned_alloc wants. */
    size_t rounded = (size + 63) & ~(size_t)63;
    int mapped = rounded >= CPU_MAP_BYTES;
    void *mem = NULL;
    if (buf && rounded >= size) {
        if (mapped) {
            mem = mmap(NULL, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (mem == MAP_FAILED) mem = NULL;
        } else if ((mem = aligned_alloc(64, rounded ? rounded : 64))) {
            memset(mem, 0, rounded ? rounded : 64);
        }
    }
    if (!mem) {
        free(buf);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory allocating a %zu-byte CPU buffer", size);
    }
    buf->host = mem;
    buf->size = size;
    buf->owns_host = mapped ? CPU_BUF_MAPPED : CPU_BUF_HEAP;
    *out = buf;
    return UE_OK;
}

static ue_status cpu_buffer_from_host(ue_backend *be, const void *data, size_t size,
                                      ue_buffer **out, ue_error *err) {
    (void)be;
    *out = NULL;
    ue_buffer *buf = calloc(1, sizeof *buf);
    if (!buf) return ue_fail(err, UE_ERR_NOMEM, "out of memory wrapping host memory");
    buf->host = (void *)data; /* weights are only read */
    buf->size = size;
    *out = buf;
    return UE_OK;
}

static void cpu_buffer_destroy(ue_backend *be, ue_buffer *buf) {
    (void)be;
    if (!buf) return;
    if (buf->owns_host == CPU_BUF_MAPPED) munmap(buf->host, (buf->size + 63) & ~(size_t)63);
    else if (buf->owns_host) free(buf->host);
    free(buf);
}

static ue_status cpu_write(ue_backend *be, ue_buffer *buf, size_t offset, const void *src,
                           size_t size, ue_error *err) {
    (void)be;
    if (offset > buf->size || size > buf->size - offset)
        return ue_fail(err, UE_ERR_ARGUMENT, "write of %zu bytes at %zu past a %zu-byte buffer",
                       size, offset, buf->size);
    memcpy((char *)buf->host + offset, src, size);
    return UE_OK;
}

static ue_status cpu_read(ue_backend *be, ue_buffer *buf, size_t offset, void *dst, size_t size,
                          ue_error *err) {
    (void)be;
    if (offset > buf->size || size > buf->size - offset)
        return ue_fail(err, UE_ERR_ARGUMENT, "read of %zu bytes at %zu past a %zu-byte buffer",
                       size, offset, buf->size);
    memcpy(dst, (const char *)buf->host + offset, size);
    return UE_OK;
}

static ue_status cpu_sync(ue_backend *be, ue_error *err) {
    (void)be;
    (void)err;
    return UE_OK;
}

static const ue_backend_ops cpu_ops = {
    .destroy = cpu_destroy,
    .supports = cpu_supports,
    .buffer_create = cpu_buffer_create,
    .buffer_from_host = cpu_buffer_from_host,
    .buffer_destroy = cpu_buffer_destroy,
    .write = cpu_write,
    .read = cpu_read,
    .get_rows = cpu_op_get_rows,
    .rms_norm = cpu_op_rms_norm,
    .matmul = cpu_op_matmul,
    .rope = cpu_op_rope,
    .attention = cpu_op_attention,
    .add = cpu_op_add,
    .gelu_mul = cpu_op_gelu_mul,
    .copy_rows = cpu_op_copy_rows,
    .layer_norm = cpu_op_layer_norm,
    .add_bias = cpu_op_add_bias,
    .gelu = cpu_op_gelu,
    .attention_full = cpu_op_attention_full,
    .avg_pool = cpu_op_avg_pool,
    .add_rms_norm = cpu_op_add_rms_norm,
    .qk_norm_rope = cpu_op_qk_norm_rope,
    .matmul_gelu = cpu_op_matmul_gelu,
    .matmul_qkv = cpu_op_matmul_qkv,
    .attention_rope = ue_compose_attention_rope,
    .matmul_add_rms_norm = ue_compose_matmul_add_rms_norm,
    .sync = cpu_sync,
};

static float *scratch_grow(cpu_scratch *s, size_t n) {
    if (s->cap < n) {
        scratch_free(s);
        size_t bytes = ((n * sizeof(float)) + 63) & ~(size_t)63;
        if (bytes >= CPU_MAP_SCRATCH_BYTES) {
            void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            s->data = m == MAP_FAILED ? NULL : m;
            s->mapped = s->data != NULL;
        } else {
            s->data = aligned_alloc(64, bytes);
        }
        s->cap = s->data ? n : 0;
    }
    return s->data;
}

float *cpu_scratch_get(cpu_backend *cpu, int ith, size_t n) {
    return scratch_grow(&cpu->scratch[ith], n);
}

void *cpu_shared_scratch_get(cpu_backend *cpu, size_t bytes) {
    return scratch_grow(&cpu->shared, (bytes + sizeof(float) - 1) / sizeof(float));
}

ue_status ue_cpu_backend_create(int n_threads, ue_cpu_kernels kernels, ue_backend **out,
                                ue_error *err) {
    *out = NULL;
    if (n_threads <= 0) n_threads = ue_cpu_count();
    cpu_backend *cpu = calloc(1, sizeof *cpu);
    if (!cpu) return ue_fail(err, UE_ERR_NOMEM, "out of memory creating the CPU backend");
    cpu->base.ops = &cpu_ops;
    cpu->kernels = kernels;
    cpu->kset = cpu_kernels_get(cpu_isa_detect());
    const char *mm = getenv("UE_CPU_MATMUL");
    cpu->int8_matmul = mm && strcmp(mm, "int8") == 0;
    const char *split = getenv("UE_CPU_PREFILL_SPLIT");
    if (split && sscanf(split, "%d:%d", &cpu->split_rows, &cpu->split_groups) != 2)
        cpu->split_rows = cpu->split_groups = 0;
    const char *tail = getenv("UE_CPU_PREFILL_TAIL");
    if (!tail || sscanf(tail, "%d:%d", &cpu->tail_rounds, &cpu->tail_pieces) != 2 || cpu->tail_rounds < 0 ||
        cpu->tail_pieces < 1)
        cpu->tail_rounds = cpu->tail_pieces = -1;
    ue_status st = ue_pool_create(n_threads, &cpu->pool, err);
    if (st != UE_OK) {
        free(cpu);
        return st;
    }
    cpu->scratch = calloc((size_t)n_threads, sizeof *cpu->scratch);
    if (!cpu->scratch) {
        cpu_destroy(&cpu->base);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory creating the CPU backend");
    }
    cpu->base.ops = cpu_prof_create(cpu, &cpu_ops);
    cpu->base.name = kernels == UE_CPU_KERNELS_REFERENCE ? "cpu-ref" : "cpu";
    snprintf(cpu->base.description, sizeof cpu->base.description, "CPU, %d thread%s, %s kernels%s",
             n_threads, n_threads == 1 ? "" : "s",
             kernels == UE_CPU_KERNELS_REFERENCE ? "scalar reference" : cpu->kset->name,
             kernels != UE_CPU_KERNELS_REFERENCE && cpu->int8_matmul ? ", int8 activations" : "");
    *out = &cpu->base;
    return UE_OK;
}
