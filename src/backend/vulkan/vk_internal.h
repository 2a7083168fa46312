/* Shared state of the Vulkan backend's files: the loaded entry points, the device, the
 * buffers (each with its own descriptor set), the pipelines and the command stream with
 * its hazard tracking (vk_stream.c). */
#ifndef UE_BACKEND_VULKAN_INTERNAL_H
#define UE_BACKEND_VULKAN_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan_core.h>

#include "backend/vulkan/vk_backend.h"

#define VK_GLOBAL_FNS(X) X(vkCreateInstance) X(vkEnumerateInstanceVersion)

#define VK_INSTANCE_FNS(X)                                                                  \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)     \
    X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceFeatures2)                       \
    X(vkGetPhysicalDeviceMemoryProperties) X(vkGetPhysicalDeviceQueueFamilyProperties)      \
    X(vkCreateDevice) X(vkGetDeviceProcAddr) X(vkEnumerateDeviceExtensionProperties)

#define VK_DEVICE_FNS(X)                                                                    \
    X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkCreateBuffer) X(vkDestroyBuffer)             \
    X(vkGetBufferMemoryRequirements) X(vkAllocateMemory) X(vkFreeMemory)                    \
    X(vkBindBufferMemory) X(vkMapMemory) X(vkUnmapMemory) X(vkCreateShaderModule)           \
    X(vkDestroyShaderModule) X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout) \
    X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout) X(vkCreateComputePipelines)        \
    X(vkDestroyPipeline) X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool)               \
    X(vkAllocateDescriptorSets) X(vkFreeDescriptorSets) X(vkUpdateDescriptorSets)           \
    X(vkCreateCommandPool) X(vkDestroyCommandPool) X(vkAllocateCommandBuffers)              \
    X(vkBeginCommandBuffer) X(vkEndCommandBuffer) X(vkResetCommandBuffer)                   \
    X(vkCmdBindPipeline) X(vkCmdBindDescriptorSets) X(vkCmdPushConstants) X(vkCmdDispatch)  \
    X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer) X(vkCmdUpdateBuffer) X(vkCmdFillBuffer)      \
    X(vkCmdWriteTimestamp) X(vkCmdResetQueryPool) X(vkCreateQueryPool)                      \
    X(vkDestroyQueryPool) X(vkGetQueryPoolResults) X(vkQueueSubmit) X(vkCreateFence)        \
    X(vkDestroyFence) X(vkWaitForFences) X(vkResetFences) X(vkDeviceWaitIdle)            \
    X(vkGetBufferDeviceAddress)

typedef struct vk_fns {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
#define VK_FN_FIELD(name) PFN_##name name;
    VK_GLOBAL_FNS(VK_FN_FIELD)
    VK_INSTANCE_FNS(VK_FN_FIELD)
    VK_DEVICE_FNS(VK_FN_FIELD)
#undef VK_FN_FIELD
} vk_fns;

/* The weight types with shaders (dequant.glsl); index into the per-type pipelines. */
enum { VK_N_WTYPES = 11 };
int vk_wtype_index(ue_type type); /* -1: no shader for this type */

typedef enum vk_pipe_id {
    VK_PIPE_RMS_NORM,
    VK_PIPE_ROPE,
    VK_PIPE_ADD,
    VK_PIPE_GELU_MUL,
    VK_PIPE_COPY_F32,
    VK_PIPE_COPY_F16,
    VK_PIPE_ATTENTION,
    VK_PIPE_ATTN_MERGE,
    VK_PIPE_ADD_RMS_NORM,
    VK_PIPE_QK_NORM_ROPE,
    VK_PIPE_ATTENTION_DEC,
    VK_PIPE_ATTENTION_QB,
    VK_PIPE_GELU,                                /* vision encoder ops (vk_ops_vision.c) */
    VK_PIPE_LAYER_NORM,
    VK_PIPE_ATTN_FULL,                           /* NULL where shared memory is too small */
    VK_PIPE_AVG_POOL,
    VK_PIPE_ATTENTION_DECF,                      /* attention_decf.comp (vk_decode.c) */
    VK_PIPE_DECODE_LAYER,                        /* decode_layer.comp (vk_persist.c) */
    VK_PIPE_SUM_PARTS,                           /* sum_parts.comp: split-K mul_mmc */
    VK_PIPE_ADD_RMS_NORM_W,                      /* add_rms_norm.comp for rows of 4097+ */
    VK_PIPE_QUANT_Q16,                           /* quant_q16.comp: x for the integer dots */
    VK_PIPE_ADD_RMS_NORM_Q,                      /* add_rms_norm + xn as 16-bit integers */
    VK_PIPE_ADD_RMS_NORM_WQ,                     /* the same, rows of 4097..8192 */
    VK_PIPE_MUL_MV,                              /* + type index */
    VK_PIPE_MUL_MM = VK_PIPE_MUL_MV + VK_N_WTYPES,
    VK_PIPE_GET_ROWS = VK_PIPE_MUL_MM + VK_N_WTYPES,
    VK_PIPE_MUL_MVF = VK_PIPE_GET_ROWS + VK_N_WTYPES, /* fast mat-vec, + type index */
    VK_PIPE_REPACK = VK_PIPE_MUL_MVF + VK_N_WTYPES,   /* + type index; only repacked types */
    VK_PIPE_MUL_MVG = VK_PIPE_REPACK + VK_N_WTYPES,   /* fused gate/up mat-vec, + type index */
    VK_PIPE_MUL_MVS = VK_PIPE_MUL_MVG + VK_N_WTYPES,  /* split-K mat-vec (mul_mvs.comp) */
    VK_PIPE_MUL_MVSN = VK_PIPE_MUL_MVS + VK_N_WTYPES, /* the same + add_rms_norm epilogue */
    VK_PIPE_MUL_MVSG = VK_PIPE_MUL_MVSN + VK_N_WTYPES, /* the same, gate/up product */
    VK_PIPE_MUL_MVFQ = VK_PIPE_MUL_MVSG + VK_N_WTYPES, /* mul_mvf over 16-bit integer x */
    VK_PIPE_MUL_MVGQ = VK_PIPE_MUL_MVFQ + VK_N_WTYPES, /* the same, gate/up product */
    VK_PIPE_MUL_MVSQ = VK_PIPE_MUL_MVGQ + VK_N_WTYPES, /* mul_mvs over 16-bit integer x */
    VK_PIPE_MUL_MMC = VK_PIPE_MUL_MVSQ + VK_N_WTYPES, /* mat-mat on matrix units, + type index */
    VK_PIPE_MUL_MMCW = VK_PIPE_MUL_MMC + VK_N_WTYPES, /* the same, 128-token tiles */
    VK_PIPE_MUL_MMCB = VK_PIPE_MUL_MMCW + VK_N_WTYPES, /* mul_mmcb.comp: 128 x 128 tiles */
    VK_PIPE_COUNT = VK_PIPE_MUL_MMCB + VK_N_WTYPES
} vk_pipe_id;

/* A buffer larger than the device's storage-buffer range is seen through windows:
 * descriptor set w covers bytes [w * step, w * step + range), windows overlapping by half,
 * so any tensor of up to range / 2 bytes lies wholly inside one. */
enum { VK_MAX_WINDOWS = 256 };
typedef struct vk_buf {
    VkBuffer buffer;
    VkDeviceMemory memory;
    VkDescriptorSet sets[VK_MAX_WINDOWS];
    int n_sets;
    size_t step, range;
    size_t alloc_size;
    int mapped; /* host pointer is the mapped memory (host-visible and coherent) */
    int has_repacks; /* some weight matrix in it has a repacked copy (vk_repack.c) */
    uint64_t addr;   /* device address where the device offers them, else 0 */
} vk_buf;

/* The window of buf holding bytes [lo, hi): its set and the byte where it starts. */
typedef struct vk_bind {
    VkDescriptorSet set;
    size_t base;
} vk_bind;

/* A byte range of a buffer that a recorded command reads or writes. */
typedef struct vk_range {
    const ue_buffer *buf;
    size_t lo, hi;
} vk_range;

enum { VK_MAX_TRACK = 32, VK_PUSH_MAX = 128, VK_MAX_TIMED = 8192, VK_MAX_CHUNKS = 32 };

typedef struct vk_profile {
    VkQueryPool pool;
    double ns_per_tick;
    int n_timed;                       /* dispatches timed in the current command buffer */
    uint8_t label[VK_MAX_TIMED];       /* vk_pipe_id of each */
    double total_ns[VK_PIPE_COUNT];
    uint64_t count[VK_PIPE_COUNT];
} vk_profile;

typedef struct vk_backend {
    ue_backend base;
    vk_fns f;
    void *lib;
    VkInstance instance;
    VkPhysicalDevice pdev;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    int unified;                       /* integrated GPU or CPU device: one memory */
    int mt_device, mt_upload, mt_download; /* memory type indices; -1: none */
    VkDescriptorSetLayout set_layout;
    VkDescriptorPool desc_pool;
    VkPipelineLayout pipe_layout;
    VkPipeline pipes[VK_PIPE_COUNT];
    VkCommandPool cmd_pool;
    VkCommandBuffer cmd;               /* the one being recorded: cmds[chunk] */
    VkCommandBuffer cmds[VK_MAX_CHUNKS];
    int chunk;                         /* command buffers submitted since the last wait */
    VkFence fence;
    int recording;
    int n_commands;                    /* commands recorded since the last submit */
    ue_status deferred;                /* first error met while recording (ops return void) */
    ue_error deferred_err;
    vk_range written[VK_MAX_TRACK], read[VK_MAX_TRACK];
    int n_written, n_read;
    ue_buffer *dummy;                  /* bound to the sets a shader does not use */
    ue_buffer *upload, *download;      /* host staging (discrete devices) */
    size_t upload_used;
    ue_buffer *partials;               /* flash-decoding partial results */
    size_t device_bytes;
    vk_profile *prof;                  /* NULL unless UE_VK_PROFILE is set */
    uint32_t subgroup_size;
    int no_mvf;
    int pipe_stats;                    /* UE_VK_PIPE_STATS: print the compiler's statistics */
    int idot;                          /* integer dot products on: mat-vecs over 16-bit x */
    /* x range src as 16-bit integers (written by add_rms_norm beside its f32 xn), or with
     * f16 set as f16 values (for mul_mmcb.comp), in the scratch ring at `at`: the kernels
     * reading src use it while valid (a write to src or a newer ring region ends it) */
    struct {
        vk_range src, at;
        vk_bind bind;
        int valid, f16;
    } q16;
    int coopmat;                       /* mul_mmc.comp pipelines in use */
    int64_t mmc_min_weights;           /* smaller matrices take the tiled kernel */
    uint32_t mmc_epi, mmc_pf, mmc_bn;  /* mul_mmc.comp variant (vk_pipelines.c) */
    uint32_t mmc_hdq;                  /* Q4_K / Q6_K dequantized in f16 pairs (mmc_load.glsl) */
    uint32_t mmc_split_below, mmc_split_groups; /* split-K: grids below, to about (vk_ops.c) */
    int mmc_side_by_side;              /* recording matmuls that run together: no split-K */
    ue_buffer *mmc_parts;              /* its partial sums: a ring (vk_ops.c) */
    size_t mmc_parts_next;
    int64_t mmcb_min_weights, mmcb_min_tokens; /* where mul_mmcb.comp serves (vk_pipelines.c) */
    uint32_t att_qb;                   /* queries per attention_qb workgroup; 0: not used */
    uint32_t mvf_wg, mvf_nr, mvf_rpw, mvf_lanes, mvf_unroll; /* mul_mvf.comp sizes */
    /* decode fusions (vk_decode.c): mul_mvs.comp sizes, the row count up to which plain
     * mat-vecs take it, the fused ops switched on, and the counters of their
     * last-workgroup epilogues (bound as set 4 where the device binds 5 sets) */
    uint32_t mvs_wg, mvs_nr, mvs_rpw, mvs_lanes, mvs_unroll;
    int64_t mvs_rows_max;
    int qkv, mvnorm, attf;
    uint32_t attf_nq;                 /* attention_decf.comp's vec4s per lane (0: none) */
    uint32_t att_split;               /* its keys per workgroup */
    uint32_t n_sets;
    ue_buffer *sync;
    uint32_t sync_next, sync_cap;
    uint64_t n_dispatch, n_barrier;   /* recorded so far (the profile reports them) */
    /* one-dispatch decode layers (vk_persist.c): buffer device addresses on, grid and
     * workgroup size (grid 0: off), records written since the last wait, the grid
     * barriers' running arrival count, the records + counters block (host-visible) and
     * the kernel's scratch (activations, attention partials, per-workgroup rows) */
    int bda;
    uint32_t persist_g, persist_wg, persist_next, persist_total, persist_skip, persist_per_sm;
    int persist_verified, persist_probing; /* the grid checked resident; a check running */
    ue_buffer *persist_mem, *persist_act;
    struct vk_repack *repacks;         /* open-addressing table (vk_repack.c) */
    size_t n_repacks, cap_repacks;
} vk_backend;

/* vk_coopmat.c: VK_KHR_cooperative_matrix (not in Debian 12's headers) */
#define VK_COOPMAT_FEATURES_STYPE ((VkStructureType)1000506000)
typedef struct vk_coopmat_features {
    VkStructureType sType;
    void *pNext;
    VkBool32 cooperativeMatrix;
    VkBool32 cooperativeMatrixRobustBufferAccess;
} vk_coopmat_features;
/* Whether mul_mmc.comp can run here (extension, 16x16x16 f16/f32 subgroup shape, f16
 * arithmetic, memory model, subgroups of 32). */
int vk_coopmat_probe(vk_backend *vk);

/* vk_device.c */
ue_status vk_buffer_alloc(vk_backend *vk, size_t size, int kind, ue_buffer **out, ue_error *err);
/* VK_MEM_SHARED: host-visible, device-local where possible (records the device reads) */
enum { VK_MEM_DEVICE = 0, VK_MEM_UPLOAD = 1, VK_MEM_DOWNLOAD = 2, VK_MEM_SHARED = 3 };
void vk_buffer_free(vk_backend *vk, ue_buffer *buf);
/* Whether the physical device offers extension name. */
int vk_has_extension(vk_backend *vk, const char *name);
ue_status vk_check(vk_backend *vk, VkResult r, const char *what, ue_error *err);

/* vk_pipelines.c */
ue_status vk_pipelines_create(vk_backend *vk, ue_error *err);
void vk_pipelines_destroy(vk_backend *vk);
const char *vk_pipe_name(int id);

/* vk_stream.c: recording, hazards, submission */
void vk_fail_deferred(vk_backend *vk, ue_status st, const char *fmt, ...) UE_PRINTF(3, 4);
ue_status vk_begin(vk_backend *vk, ue_error *err);
/* Records what a command reads and writes; puts a barrier before it when it touches
 * memory an earlier unbarriered command wrote (or writes what one read). */
void vk_hazard(vk_backend *vk, const vk_range *reads, int n_reads, const vk_range *writes,
               int n_writes);
/* A write to [lo, hi) of buf (hi: SIZE_MAX for the whole buffer, freed): the kept copy of
 * x (vk->q16: 16-bit integers or f16) ends if it was there or was made from there. */
void vk_q16_touch(vk_backend *vk, const ue_buffer *buf, size_t lo, size_t hi);
/* The window of buf covering [lo, hi); a deferred error (and the dummy buffer) when no
 * window holds it all. */
vk_bind vk_window(vk_backend *vk, const ue_buffer *buf, size_t lo, size_t hi);
/* Bytes of one row of k values as 16-bit integers (mvq_items.glsl's layout: hi and lo
 * bytes, then a scale and a sum per 32), a multiple of 16 for k a multiple of 64. */
static inline size_t vk_q16_row_bytes(int64_t k) { return (size_t)k * 2 + (size_t)k / 4; }
/* vk_ops.c: room for n_tok rows of k 16-bit integer x in the scratch ring, its window and
 * range (0: none); x as 16-bit integers where a producer left it (0: not there); and
 * keeping what a producer just recorded: src as integers at `at`, seen through bind. */
int vk_q16_room(vk_backend *vk, int64_t k, int64_t n_tok, vk_bind *bq, vk_range *rq);
int vk_q16_cached(const vk_backend *vk, const ue_tensor *x, vk_bind *bq, vk_range *rq);
void vk_q16_keep(vk_backend *vk, vk_range src, vk_range at, vk_bind bind);
/* Bytes a tensor may span and still fit one window of any buffer of this device. */
size_t vk_max_span(const vk_backend *vk);
/* Records one dispatch of pipeline `pipe` with sets 0..3 (VK_NULL_HANDLE: dummy). */
void vk_dispatch(vk_backend *vk, int pipe, const VkDescriptorSet sets[4], const void *push,
                 size_t push_size, uint32_t gx, uint32_t gy, uint32_t gz,
                 const vk_range *reads, int n_reads, const vk_range *writes, int n_writes);
/* The same with set 4 given (where the layout has 5 sets; else it is the counters). */
void vk_dispatch5(vk_backend *vk, int pipe, const VkDescriptorSet sets[4], VkDescriptorSet set4,
                  const void *push, size_t push_size, uint32_t gx, uint32_t gy, uint32_t gz,
                  const vk_range *reads, int n_reads, const vk_range *writes, int n_writes);
/* Submits what was recorded and waits for it (and for chunks submitted before). */
ue_status vk_flush(vk_backend *vk, ue_error *err);
/* Whether recorded or submitted work has not been waited for. */
static inline int vk_pending(const vk_backend *vk) { return vk->recording || vk->chunk > 0; }
void vk_profile_report(vk_backend *vk);

/* vk_repack.c: weight matrices of awkward block sizes, repacked into aligned planes on
 * the device the first time a mat-vec reads them. */
typedef struct vk_repacked {
    const ue_buffer *buf;  /* the planes, one window */
    uint32_t plane[4];     /* byte offset of each plane */
} vk_repacked;
int vk_repack_needed(ue_type type);
/* The repacked copy of weight matrix w (recording its repack when new or stale); 0 when
 * it cannot be made (then the caller reads w in place). */
int vk_repack_get(vk_backend *vk, const ue_tensor *w, vk_repacked *out);
/* A write to [lo, hi) of buf: repacked copies of matrices there are redone before use. */
void vk_repack_touch(vk_backend *vk, const ue_buffer *buf, size_t lo, size_t hi);
/* Frees the copies of matrices in buf (buf is being destroyed; nothing is in flight). */
void vk_repack_forget(vk_backend *vk, const ue_buffer *buf);
void vk_repack_destroy(vk_backend *vk);

/* vk_ops.c */
void vk_op_get_rows(ue_backend *be, const ue_tensor *table, const ue_tensor *ids, float scale,
                    const ue_tensor *out);
void vk_op_rms_norm(ue_backend *be, const ue_tensor *x, const ue_tensor *w, float eps,
                    const ue_tensor *out);
void vk_op_matmul(ue_backend *be, const ue_tensor *w, const ue_tensor *x, const ue_tensor *out);
void vk_op_rope(ue_backend *be, const ue_tensor *x, int head_dim, int n_rot, int64_t pos0,
                float base, float freq_scale);
void vk_op_attention(ue_backend *be, const ue_attention_args *a);
void vk_op_add(ue_backend *be, const ue_tensor *x, const ue_tensor *y);
void vk_op_gelu_mul(ue_backend *be, const ue_tensor *g, const ue_tensor *u);
void vk_op_copy_rows(ue_backend *be, const ue_tensor *src, const ue_tensor *dst);
int64_t vk_mmc_min_weights(void);
/* Helpers shared with vk_fused.c and vk_ops_vision.c */
size_t vk_tensor_bytes(const ue_tensor *t);
vk_range vk_range_of(const ue_tensor *t);
/* The window holding all of tensor t (a deferred error when none does). */
vk_bind vk_bind_tensor(vk_backend *vk, const ue_tensor *t);
/* Offset of an f32 / i32 tensor in 4-byte elements from its window's start (0 and a
 * deferred error when misaligned). */
uint32_t vk_off4(vk_backend *vk, const ue_tensor *t, const vk_bind *b, const char *what);
/* Whether t has type want (else a deferred error naming `what`). */
int vk_check_type(vk_backend *vk, const ue_tensor *t, ue_type want, const char *what);
int vk_matvec_fast(vk_backend *vk, const ue_tensor *w, const ue_tensor *w_up, const ue_tensor *x,
                   const ue_tensor *out, int64_t r0, const vk_bind *bx, const vk_bind *bo);
int vk_mvf_weights(vk_backend *vk, const ue_tensor *w, VkDescriptorSet *set, uint32_t pl[4],
                   vk_range *rd);
/* *buf holding at least `bytes` (device memory): kept when big enough, else remade after
 * the recorded work, which may use the old one, has finished. */
ue_status vk_buffer_reserve(vk_backend *vk, ue_buffer **buf, size_t bytes, ue_error *err);
ue_buffer *vk_partials(vk_backend *vk, size_t bytes);

/* vk_fused.c: the fused ops of backend.h (composed from the plain ops where the
 * operands do not suit the fused kernels) */
void vk_op_add_rms_norm(ue_backend *be, const ue_tensor *o, const ue_tensor *w_post,
                        const ue_tensor *x, const ue_tensor *w_next, float eps,
                        const ue_tensor *xn);
void vk_op_qk_norm_rope(ue_backend *be, const ue_qk_rope_args *a);
void vk_op_matmul_gelu(ue_backend *be, const ue_tensor *w_gate, const ue_tensor *w_up,
                       const ue_tensor *x, const ue_tensor *g, const ue_tensor *u);
/* One window of a buffer holding all of the n tensors (one buffer, 4-byte aligned); 0
 * when none does. */
int vk_window_all(const ue_tensor *const *ts, int n, vk_bind *out);

/* vk_decode.c: decode-step fusions, each switched by an environment variable */
void vk_decode_config(vk_backend *vk);
ue_status vk_decode_init(vk_backend *vk, ue_error *err); /* the counters' buffer */
int vk_matvec_split(vk_backend *vk, const ue_tensor *w, const ue_tensor *x, const ue_tensor *out,
                    int64_t r0, const vk_bind *bx, const vk_bind *bo);
int vk_matvec_split_gelu(vk_backend *vk, const ue_tensor *w_gate, const ue_tensor *w_up,
                         const ue_tensor *x, const ue_tensor *g);
void vk_op_matmul_qkv(ue_backend *be, const ue_tensor *wq, const ue_tensor *wk,
                      const ue_tensor *wv, const ue_tensor *x, const ue_tensor *q,
                      const ue_tensor *k, const ue_tensor *v);
void vk_op_attention_rope(ue_backend *be, const ue_qk_rope_args *r, const ue_attention_args *a);
void vk_op_matmul_add_rms_norm(ue_backend *be, const ue_tensor *w, const ue_tensor *y,
                               const ue_tensor *o, const ue_tensor *w_post, const ue_tensor *x,
                               const ue_tensor *w_next, float eps, const ue_tensor *xn);

/* vk_persist.c: a decoded token's layer in one dispatch (decode_layer.comp) */
/* Whether to build it (sets the grid and workgroup size; before the device exists). */
int vk_persist_wanted(vk_backend *vk);
uint32_t vk_persist_maxnq(const vk_backend *vk); /* its MAXNQ specialization */
ue_status vk_persist_init(vk_backend *vk, ue_error *err); /* after the pipelines */
void vk_persist_destroy(vk_backend *vk);
/* After each wait: records reusable; an error when a grid barrier timed out. */
ue_status vk_persist_after_wait(vk_backend *vk, ue_error *err);
int vk_op_decode_layer(ue_backend *be, const ue_decode_layer_args *a);

/* vk_ops_vision.c: the vision encoder's ops of backend.h */
enum { VK_ATTN_FULL_SHMEM = 32384 }; /* bytes of shared memory attention_full.comp uses */
void vk_op_layer_norm(ue_backend *be, const ue_tensor *x, const ue_tensor *w, const ue_tensor *b,
                      float eps, const ue_tensor *out);
void vk_op_add_bias(ue_backend *be, const ue_tensor *x, const ue_tensor *b);
void vk_op_gelu(ue_backend *be, const ue_tensor *x);
void vk_op_attention_full(ue_backend *be, const ue_tensor *q, const ue_tensor *k,
                          const ue_tensor *v, const ue_tensor *out, int n_head, int head_dim,
                          float scale);
void vk_op_avg_pool(ue_backend *be, const ue_tensor *x, int side, int k, const ue_tensor *out);

#endif
