/* Vulkan backend: repacked weight matrices. Blocks of 18-34 or 210 bytes cannot be read
 * with aligned wide loads, so the first mat-vec over such a matrix records repack.comp,
 * which writes each block field into its own plane of a new buffer (layouts:
 * shaders/include/mv_items.glsl); later mat-vecs read the planes. Copies are keyed by
 * (buffer, offset) in an open-addressing table, redone when their source is written, and
 * freed with their source buffer. */
#ifdef UE_HAVE_VULKAN_BACKEND
#include <stdlib.h>
#include <string.h>

#include "backend/vulkan/vk_internal.h"

typedef struct vk_repack {
    const ue_buffer *src; /* NULL: empty slot */
    size_t off, bytes;
    int64_t rows, cols;
    ue_type type;
    ue_buffer *dst;
    uint32_t plane[4];
    int stale;
} vk_repack;

/* Bytes per block of each plane, in the order of mv_items.glsl. */
static int plane_bytes(ue_type type, uint32_t pb[4]) {
    memset(pb, 0, 4 * sizeof pb[0]);
    switch (type) {
    case UE_TYPE_Q4_0: pb[0] = 16, pb[1] = 2; return 1;
    case UE_TYPE_Q4_1: pb[0] = 16, pb[1] = 4; return 1;
    case UE_TYPE_Q5_0: pb[0] = 16, pb[1] = 2, pb[2] = 4; return 1;
    case UE_TYPE_Q5_1: pb[0] = 16, pb[1] = 4, pb[2] = 4; return 1;
    case UE_TYPE_Q8_0: pb[0] = 32, pb[1] = 2; return 1;
    case UE_TYPE_Q6_K: pb[0] = 128, pb[1] = 64, pb[2] = 16, pb[3] = 2; return 1;
    default: return 0;
    }
}

int vk_repack_needed(ue_type type) {
    uint32_t pb[4];
    return plane_bytes(type, pb);
}

static size_t slot_of(const vk_backend *vk, const ue_buffer *src, size_t off) {
    uint64_t h = (uint64_t)(uintptr_t)src * 0x9E3779B97F4A7C15ull ^ (uint64_t)off * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h >> 17) & (vk->cap_repacks - 1);
}

static vk_repack *find(vk_backend *vk, const ue_buffer *src, size_t off) {
    if (!vk->cap_repacks) return NULL;
    for (size_t i = slot_of(vk, src, off);; i = (i + 1) & (vk->cap_repacks - 1)) {
        vk_repack *e = &vk->repacks[i];
        if (!e->src) return NULL;
        if (e->src == src && e->off == off) return e;
    }
}

/* Inserts e (not present) into the table, growing it to keep it at most half full. */
static vk_repack *insert(vk_backend *vk, const vk_repack *e) {
    if (2 * (vk->n_repacks + 1) > vk->cap_repacks) {
        size_t cap = vk->cap_repacks ? 2 * vk->cap_repacks : 64;
        vk_repack *old = vk->repacks;
        size_t old_cap = vk->cap_repacks;
        vk_repack *t = calloc(cap, sizeof *t);
        if (!t) return NULL;
        vk->repacks = t;
        vk->cap_repacks = cap;
        vk->n_repacks = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].src) insert(vk, &old[i]);
        free(old);
    }
    size_t i = slot_of(vk, e->src, e->off);
    while (vk->repacks[i].src) i = (i + 1) & (vk->cap_repacks - 1);
    vk->repacks[i] = *e;
    vk->n_repacks++;
    return &vk->repacks[i];
}

/* Records repack.comp from w into e's planes. */
static void record(vk_backend *vk, const ue_tensor *w, const vk_repack *e) {
    vk_range r = {w->buf, w->offset, w->offset + e->bytes};
    vk_bind bs = vk_window(vk, w->buf, r.lo, r.hi);
    uint32_t nb = (uint32_t)(e->cols / ue_type_get(e->type)->block_size);
    uint32_t n_blocks = (uint32_t)(nb * (uint64_t)e->rows);
    struct {
        uint32_t src_off, row_bytes, nb, n_blocks, pl[4];
    } pc = {(uint32_t)(w->offset - bs.base), (uint32_t)ue_type_row_bytes(e->type, e->cols), nb,
            n_blocks, {e->plane[0], e->plane[1], e->plane[2], e->plane[3]}};
    vk_bind bd = vk_window(vk, e->dst, 0, e->dst->size);
    VkDescriptorSet sets[4] = {bs.set, VK_NULL_HANDLE, bd.set, VK_NULL_HANDLE};
    vk_range wr = {e->dst, 0, e->dst->size};
    uint32_t groups = (n_blocks + 63) / 64, gx = groups < 65535 ? groups : 65535;
    vk_dispatch(vk, VK_PIPE_REPACK + vk_wtype_index(e->type), sets, &pc, sizeof pc, gx,
                (groups + gx - 1) / gx, 1, &r, 1, &wr, 1);
}

int vk_repack_get(vk_backend *vk, const ue_tensor *w, vk_repacked *out) {
    uint32_t pb[4];
    int t = vk_wtype_index(w->type);
    if (t < 0 || !plane_bytes(w->type, pb) || !vk->pipes[VK_PIPE_REPACK + t] || w->offset % 2)
        return 0;
    vk_repack *e = find(vk, w->buf, w->offset);
    if (e && (e->rows != w->ne[1] || e->cols != w->ne[0] || e->type != w->type)) return 0;
    if (!e) {
        int64_t blocks = w->ne[0] / ue_type_get(w->type)->block_size * w->ne[1];
        vk_repack n = {.src = w->buf, .off = w->offset, .rows = w->ne[1], .cols = w->ne[0],
                       .type = w->type, .stale = 1};
        n.bytes = ue_type_row_bytes(w->type, w->ne[0]) * (size_t)w->ne[1];
        size_t size = 0;
        for (int i = 0; i < 4; i++) {
            n.plane[i] = (uint32_t)size;
            size += ((size_t)blocks * pb[i] + 255) & ~(size_t)255;
        }
        if (size > vk->props.limits.maxStorageBufferRange || size > UINT32_MAX) return 0;
        ue_error err = {0};
        if (vk_buffer_alloc(vk, size, VK_MEM_DEVICE, &n.dst, &err) != UE_OK) return 0;
        if (!(e = insert(vk, &n))) {
            vk_buffer_free(vk, n.dst);
            return 0;
        }
        ((vk_buf *)w->buf->impl)->has_repacks = 1;
    }
    if (e->stale) {
        e->stale = 0;
        record(vk, w, e);
    }
    out->buf = e->dst;
    memcpy(out->plane, e->plane, sizeof out->plane);
    return 1;
}

void vk_repack_touch(vk_backend *vk, const ue_buffer *buf, size_t lo, size_t hi) {
    for (size_t i = 0; i < vk->cap_repacks; i++) {
        vk_repack *e = &vk->repacks[i];
        if (e->src == buf && e->off < hi && lo < e->off + e->bytes) e->stale = 1;
    }
}

void vk_repack_forget(vk_backend *vk, const ue_buffer *buf) {
    if (!vk->cap_repacks) return;
    vk_repack *old = vk->repacks;
    size_t old_cap = vk->cap_repacks;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].src == buf) {
            vk_buffer_free(vk, old[i].dst);
            old[i].src = NULL;
        }
    /* Rebuild so that probe chains stay unbroken. */
    vk_repack *t = calloc(old_cap, sizeof *t);
    if (!t) { /* cannot rebuild: drop every copy (they are remade on demand) */
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].src) vk_buffer_free(vk, old[i].dst);
        memset(old, 0, old_cap * sizeof *old);
        vk->n_repacks = 0;
        return;
    }
    vk->repacks = t;
    vk->n_repacks = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].src) insert(vk, &old[i]);
    free(old);
}

void vk_repack_destroy(vk_backend *vk) {
    for (size_t i = 0; i < vk->cap_repacks; i++)
        if (vk->repacks[i].src) vk_buffer_free(vk, vk->repacks[i].dst);
    free(vk->repacks);
    vk->repacks = NULL;
    vk->n_repacks = vk->cap_repacks = 0;
}

#else
typedef int ue_vk_repack_not_built;
#endif
