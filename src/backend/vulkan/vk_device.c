/* Vulkan backend: loading libvulkan.so.1 (dlopen, so binaries run without Vulkan), the
 * instance and device, memory types, buffers with their descriptor sets, host transfers
 * and the ops table. Discrete GPUs keep everything in device-local memory and move data
 * through host staging buffers; unified-memory devices (integrated GPUs, lavapipe) use
 * host-visible device-local memory, mapped, so weights are copied once. */
#ifdef UE_HAVE_VULKAN_BACKEND
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/discovery/discovery.h"
#include "backend/vulkan/vk_internal.h"

enum { UPLOAD_BYTES = 64u << 20, DOWNLOAD_BYTES = 64u << 20, MAX_SETS = 4096 };

ue_status vk_check(vk_backend *vk, VkResult r, const char *what, ue_error *err) {
    (void)vk;
    if (r == VK_SUCCESS) return UE_OK;
    ue_status code = (r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
                         ? UE_ERR_NOMEM
                         : UE_ERR_DEVICE;
    return ue_fail(err, code, "Vulkan: %s failed (VkResult %d)", what, (int)r);
}

/* The memory type with all of `need`, most of `want` and none of `avoid` (when
 * possible) among `bits`; -1 when none has `need`. */
static int find_memory_type(const vk_backend *vk, uint32_t bits, VkMemoryPropertyFlags need,
                            VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid) {
    int best = -1, best_score = -1;
    for (uint32_t i = 0; i < vk->mem.memoryTypeCount; i++) {
        VkMemoryPropertyFlags fl = vk->mem.memoryTypes[i].propertyFlags;
        if (!(bits & (1u << i)) || (fl & need) != need) continue;
        int score = 4 * __builtin_popcount(fl & want) + 2 * !(fl & avoid);
        if (score > best_score) best = (int)i, best_score = score;
    }
    return best;
}

static int memory_type_for(const vk_backend *vk, uint32_t bits, int kind) {
    const VkMemoryPropertyFlags DL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                                HC = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                CA = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    if (kind == VK_MEM_UPLOAD) return find_memory_type(vk, bits, HV | HC, 0, DL);
    if (kind == VK_MEM_DOWNLOAD) return find_memory_type(vk, bits, HV | HC, CA, DL);
    if (kind == VK_MEM_SHARED) return find_memory_type(vk, bits, HV | HC, DL, 0);
    if (vk->unified) {
        int t = find_memory_type(vk, bits, DL | HV | HC, CA, 0);
        if (t >= 0) return t;
    }
    /* Discrete: plain VRAM, away from the small host-visible BAR window. */
    int t = find_memory_type(vk, bits, DL, 0, HV);
    return t >= 0 ? t : find_memory_type(vk, bits, 0, 0, 0);
}

int vk_has_extension(vk_backend *vk, const char *name) {
    uint32_t n = 0;
    if (vk->f.vkEnumerateDeviceExtensionProperties(vk->pdev, NULL, &n, NULL) != VK_SUCCESS || !n)
        return 0;
    VkExtensionProperties *e = calloc(n, sizeof *e);
    int found = 0;
    if (e && vk->f.vkEnumerateDeviceExtensionProperties(vk->pdev, NULL, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(e[i].extensionName, name);
    free(e);
    return found;
}

ue_status vk_buffer_alloc(vk_backend *vk, size_t size, int kind, ue_buffer **out, ue_error *err) {
    *out = NULL;
    const vk_fns *f = &vk->f;
    size_t alloc = (size + 15) & ~(size_t)15;
    if (alloc < 16) alloc = 16;
    if (alloc < size)
        return ue_fail(err, UE_ERR_NOMEM, "Vulkan: a buffer of %zu bytes is too large", size);
    size_t align = vk->props.limits.minStorageBufferOffsetAlignment;
    if (align < 256) align = 256;
    size_t range = alloc, step = alloc;
    int n_sets = 1;
    if (alloc > vk->props.limits.maxStorageBufferRange) {
        range = vk->props.limits.maxStorageBufferRange & ~(align - 1);
        step = (range / 2) & ~(align - 1);
        size_t n = (alloc - range + step - 1) / step + 1;
        if (n > VK_MAX_WINDOWS && kind == VK_MEM_DEVICE)
            return ue_fail(err, UE_ERR_UNSUPPORTED,
                           "Vulkan: a buffer of %zu bytes needs %zu windows of the device's "
                           "%zu-byte storage-buffer range (at most %d)", size, n, range,
                           VK_MAX_WINDOWS);
        n_sets = (int)n;
        if (kind != VK_MEM_DEVICE) n_sets = 0;
    }
    ue_buffer *ub = calloc(1, sizeof *ub);
    vk_buf *b = calloc(1, sizeof *b);
    if (!ub || !b) {
        free(ub);
        free(b);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory creating a Vulkan buffer");
    }
    ub->impl = b;
    ub->size = size;
    b->alloc_size = alloc;
    b->range = range;
    b->step = step;
    ue_status st;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = alloc,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                                      (vk->bda ? VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT : 0),
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    if ((st = vk_check(vk, f->vkCreateBuffer(vk->dev, &bi, NULL, &b->buffer), "vkCreateBuffer",
                       err)))
        goto fail;
    VkMemoryRequirements req;
    f->vkGetBufferMemoryRequirements(vk->dev, b->buffer, &req);
    int type = memory_type_for(vk, req.memoryTypeBits, kind);
    if (type < 0) {
        st = ue_fail(err, UE_ERR_DEVICE, "Vulkan: no memory type fits a %zu-byte buffer", size);
        goto fail;
    }
    VkMemoryAllocateFlagsInfo af = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
                                    .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT};
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .pNext = vk->bda ? &af : NULL,
                               .allocationSize = req.size,
                               .memoryTypeIndex = (uint32_t)type};
    if ((st = vk_check(vk, f->vkAllocateMemory(vk->dev, &ai, NULL, &b->memory),
                       "vkAllocateMemory", err))) {
        ue_error_prefix(err, "%zu-byte buffer", size);
        goto fail;
    }
    if ((st = vk_check(vk, f->vkBindBufferMemory(vk->dev, b->buffer, b->memory, 0),
                       "vkBindBufferMemory", err)))
        goto fail;
    if (vk->bda) {
        VkBufferDeviceAddressInfo dai = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO,
                                         .buffer = b->buffer};
        b->addr = f->vkGetBufferDeviceAddress(vk->dev, &dai);
    }
    VkMemoryPropertyFlags fl = vk->mem.memoryTypes[type].propertyFlags;
    if ((fl & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (fl & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) {
        if ((st = vk_check(vk, f->vkMapMemory(vk->dev, b->memory, 0, VK_WHOLE_SIZE, 0, &ub->host),
                           "vkMapMemory", err)))
            goto fail;
        b->mapped = 1;
    }
    /* Staging buffers are only copied to and from: no shader binds them. */
    for (int i = 0; i < (kind == VK_MEM_DEVICE ? n_sets : 0); i++) {
        VkDescriptorSetAllocateInfo dai = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
            .descriptorPool = vk->desc_pool,
            .descriptorSetCount = 1,
            .pSetLayouts = &vk->set_layout};
        if ((st = vk_check(vk, f->vkAllocateDescriptorSets(vk->dev, &dai, &b->sets[i]),
                           "vkAllocateDescriptorSets", err)))
            goto fail;
        b->n_sets = i + 1;
        size_t lo = (size_t)i * step, n = alloc - lo < range ? alloc - lo : range;
        VkDescriptorBufferInfo dbi = {.buffer = b->buffer, .offset = lo, .range = n};
        VkWriteDescriptorSet w = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                  .dstSet = b->sets[i],
                                  .dstBinding = 0,
                                  .descriptorCount = 1,
                                  .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                  .pBufferInfo = &dbi};
        f->vkUpdateDescriptorSets(vk->dev, 1, &w, 0, NULL);
    }
    if (kind == VK_MEM_DEVICE) vk->device_bytes += req.size;
    *out = ub;
    return UE_OK;
fail:
    vk_buffer_free(vk, ub);
    return st;
}

void vk_buffer_free(vk_backend *vk, ue_buffer *ub) {
    if (!ub) return;
    vk_q16_touch(vk, ub, 0, SIZE_MAX);
    vk_buf *b = ub->impl;
    const vk_fns *f = &vk->f;
    if (b) {
        if (b->n_sets) f->vkFreeDescriptorSets(vk->dev, vk->desc_pool, (uint32_t)b->n_sets, b->sets);
        if (b->buffer) f->vkDestroyBuffer(vk->dev, b->buffer, NULL);
        if (b->memory) {
            if (b->mapped) f->vkUnmapMemory(vk->dev, b->memory);
            f->vkFreeMemory(vk->dev, b->memory, NULL);
            if (vk->device_bytes >= b->alloc_size) vk->device_bytes -= b->alloc_size;
        }
        free(b);
    }
    free(ub);
}

/* ---- ue_backend_ops: buffers and transfers ------------------------------------------ */

static ue_status vk_buffer_create(ue_backend *be, size_t size, ue_buffer **out, ue_error *err) {
    vk_backend *vk = (vk_backend *)be;
    ue_status st = vk_buffer_alloc(vk, size, VK_MEM_DEVICE, out, err);
    if (st != UE_OK) return st;
    vk_buf *b = (*out)->impl;
    if (b->mapped) {
        /* The host zeroes it; earlier recorded commands cannot reference a new buffer. */
        memset((*out)->host, 0, b->alloc_size);
        return UE_OK;
    }
    if ((st = vk_begin(vk, err)) != UE_OK) {
        vk_buffer_free(vk, *out);
        *out = NULL;
        return st;
    }
    vk_range w = {*out, 0, b->alloc_size};
    vk_hazard(vk, NULL, 0, &w, 1);
    vk->f.vkCmdFillBuffer(vk->cmd, b->buffer, 0, b->alloc_size, 0);
    vk->n_commands++;
    return UE_OK;
}

static void vk_buffer_destroy(ue_backend *be, ue_buffer *buf) {
    vk_backend *vk = (vk_backend *)be;
    if (!buf) return;
    /* Recorded commands may still use it: let them finish first. */
    if (vk_pending(vk)) {
        ue_error err = {0};
        ue_status st = vk_flush(vk, &err);
        if (st != UE_OK) vk_fail_deferred(vk, st, "%s", err.msg);
    }
    if (((vk_buf *)buf->impl)->has_repacks) vk_repack_forget(vk, buf);
    vk_buffer_free(vk, buf);
}

static ue_status check_range(const ue_buffer *buf, size_t offset, size_t size, const char *what,
                             ue_error *err) {
    if (offset > buf->size || size > buf->size - offset)
        return ue_fail(err, UE_ERR_ARGUMENT, "%s of %zu bytes at %zu past a %zu-byte buffer",
                       what, size, offset, buf->size);
    return UE_OK;
}

/* Copies size bytes from host memory into buf at offset through the upload buffer, one
 * staging-sized piece per submission. */
static ue_status upload(vk_backend *vk, ue_buffer *buf, size_t offset, const void *src,
                        size_t size, ue_error *err) {
    ue_status st;
    if (!vk->upload && (st = vk_buffer_alloc(vk, UPLOAD_BYTES, VK_MEM_UPLOAD, &vk->upload, err)))
        return st;
    vk_buf *dst = buf->impl, *stage = vk->upload->impl;
    while (size > 0) {
        if (vk->upload_used >= UPLOAD_BYTES && (st = vk_flush(vk, err)) != UE_OK) return st;
        size_t room = UPLOAD_BYTES - vk->upload_used, n = size < room ? size : room;
        memcpy((char *)vk->upload->host + vk->upload_used, src, n);
        if ((st = vk_begin(vk, err)) != UE_OK) return st;
        vk_range w = {buf, offset, offset + n};
        vk_hazard(vk, NULL, 0, &w, 1);
        VkBufferCopy c = {.srcOffset = vk->upload_used, .dstOffset = offset, .size = n};
        vk->f.vkCmdCopyBuffer(vk->cmd, stage->buffer, dst->buffer, 1, &c);
        vk->n_commands++;
        vk->upload_used += (n + 15) & ~(size_t)15;
        src = (const char *)src + n;
        offset += n;
        size -= n;
    }
    return UE_OK;
}

static ue_status vk_write(ue_backend *be, ue_buffer *buf, size_t offset, const void *src,
                          size_t size, ue_error *err) {
    vk_backend *vk = (vk_backend *)be;
    ue_status st = check_range(buf, offset, size, "write", err);
    if (st != UE_OK || size == 0) return st;
    vk_buf *b = buf->impl;
    if (b->has_repacks) vk_repack_touch(vk, buf, offset, offset + size);
    if (b->mapped) {
        /* Commands recorded before this write must see the old contents. */
        if (vk_pending(vk) && (st = vk_flush(vk, err)) != UE_OK) return st;
        vk_q16_touch(vk, buf, offset, offset + size);
        memcpy((char *)buf->host + offset, src, size);
        return UE_OK;
    }
    if (size <= 65536 && offset % 4 == 0 && size % 4 == 0) {
        /* Small writes travel inside the command buffer, in order with the ops. */
        if ((st = vk_begin(vk, err)) != UE_OK) return st;
        vk_range w = {buf, offset, offset + size};
        vk_hazard(vk, NULL, 0, &w, 1);
        vk->f.vkCmdUpdateBuffer(vk->cmd, b->buffer, offset, size, src);
        vk->n_commands++;
        return UE_OK;
    }
    return upload(vk, buf, offset, src, size, err);
}

static ue_status vk_read(ue_backend *be, ue_buffer *buf, size_t offset, void *dst, size_t size,
                         ue_error *err) {
    vk_backend *vk = (vk_backend *)be;
    ue_status st = check_range(buf, offset, size, "read", err);
    if (st != UE_OK) return st;
    vk_buf *b = buf->impl;
    if (b->mapped) {
        if ((st = vk_flush(vk, err)) != UE_OK) return st;
        memcpy(dst, (const char *)buf->host + offset, size);
        return UE_OK;
    }
    if (!vk->download &&
        (st = vk_buffer_alloc(vk, DOWNLOAD_BYTES, VK_MEM_DOWNLOAD, &vk->download, err)))
        return st;
    vk_buf *stage = vk->download->impl;
    /* The first piece's copy joins the recorded ops: one submission for ops and read. */
    while (size > 0) {
        size_t n = size < DOWNLOAD_BYTES ? size : DOWNLOAD_BYTES;
        if ((st = vk_begin(vk, err)) != UE_OK) return st;
        vk_range r = {buf, offset, offset + n};
        vk_hazard(vk, &r, 1, NULL, 0);
        VkBufferCopy c = {.srcOffset = offset, .dstOffset = 0, .size = n};
        vk->f.vkCmdCopyBuffer(vk->cmd, b->buffer, stage->buffer, 1, &c);
        vk->n_commands++;
        if ((st = vk_flush(vk, err)) != UE_OK) return st;
        memcpy(dst, vk->download->host, n);
        dst = (char *)dst + n;
        offset += n;
        size -= n;
    }
    return UE_OK;
}

static ue_status vk_buffer_from_host(ue_backend *be, const void *data, size_t size,
                                     ue_buffer **out, ue_error *err) {
    vk_backend *vk = (vk_backend *)be;
    ue_status st = vk_buffer_alloc(vk, size, VK_MEM_DEVICE, out, err);
    if (st != UE_OK) return st;
    vk_buf *b = (*out)->impl;
    if (b->mapped) { /* unified memory: the one copy the device reads from */
        memcpy((*out)->host, data, size);
        return UE_OK;
    }
    if ((st = vk_flush(vk, err)) != UE_OK || (st = upload(vk, *out, 0, data, size, err)) != UE_OK ||
        (st = vk_flush(vk, err)) != UE_OK) {
        vk_buffer_free(vk, *out);
        *out = NULL;
    }
    return st;
}

static ue_status vk_sync(ue_backend *be, ue_error *err) {
    return vk_flush((vk_backend *)be, err);
}

int vk_wtype_index(ue_type type) {
    switch (type) {
    case UE_TYPE_F32: return 0;
    case UE_TYPE_F16: return 1;
    case UE_TYPE_BF16: return 2;
    case UE_TYPE_Q4_0: return 3;
    case UE_TYPE_Q4_1: return 4;
    case UE_TYPE_Q5_0: return 5;
    case UE_TYPE_Q5_1: return 6;
    case UE_TYPE_Q8_0: return 7;
    case UE_TYPE_Q4_K: return 8;
    case UE_TYPE_Q5_K: return 9;
    case UE_TYPE_Q6_K: return 10;
    default: return -1;
    }
}

static int vk_supports(const ue_backend *be, ue_op op, ue_type type) {
    (void)be;
    switch (op) {
    case UE_OP_MATMUL:
    case UE_OP_GET_ROWS: return vk_wtype_index(type) >= 0;
    case UE_OP_COPY_ROWS: return type == UE_TYPE_F32 || type == UE_TYPE_F16;
    case UE_OP_ATTENTION:
    case UE_OP_RMS_NORM:
    case UE_OP_ROPE:
    case UE_OP_ADD:
    case UE_OP_GELU_MUL:
    case UE_OP_ADD_RMS_NORM:
    case UE_OP_LAYER_NORM:
    case UE_OP_ADD_BIAS:
    case UE_OP_GELU:
    case UE_OP_ATTENTION_FULL:
    case UE_OP_AVG_POOL: return type == UE_TYPE_F32;
    case UE_OP_QK_NORM_ROPE: return type == UE_TYPE_F32 || type == UE_TYPE_F16;
    case UE_OP_MATMUL_GELU:
    case UE_OP_MATMUL_QKV:
    case UE_OP_MATMUL_ADD_NORM: return vk_wtype_index(type) >= 0;
    case UE_OP_ATTENTION_ROPE: return type == UE_TYPE_F32 || type == UE_TYPE_F16;
    default: return 0;
    }
}

static void vk_destroy(ue_backend *be) {
    vk_backend *vk = (vk_backend *)be;
    if (!vk) return;
    const vk_fns *f = &vk->f;
    if (vk->dev) {
        ue_error err = {0};
        if (vk_pending(vk)) vk_flush(vk, &err);
        f->vkDeviceWaitIdle(vk->dev);
        if (vk->prof) {
            vk_profile_report(vk);
            if (vk->prof->pool) f->vkDestroyQueryPool(vk->dev, vk->prof->pool, NULL);
            free(vk->prof);
        }
        vk_buffer_free(vk, vk->dummy);
        vk_buffer_free(vk, vk->upload);
        vk_buffer_free(vk, vk->download);
        vk_buffer_free(vk, vk->partials);
        vk_buffer_free(vk, vk->mmc_parts);
        vk_buffer_free(vk, vk->sync);
        vk_persist_destroy(vk);
        vk_repack_destroy(vk);
        vk_pipelines_destroy(vk);
        if (vk->fence) f->vkDestroyFence(vk->dev, vk->fence, NULL);
        if (vk->cmd_pool) f->vkDestroyCommandPool(vk->dev, vk->cmd_pool, NULL);
        if (vk->desc_pool) f->vkDestroyDescriptorPool(vk->dev, vk->desc_pool, NULL);
        if (vk->set_layout) f->vkDestroyDescriptorSetLayout(vk->dev, vk->set_layout, NULL);
        f->vkDestroyDevice(vk->dev, NULL);
    }
    if (vk->instance && f->vkDestroyInstance) f->vkDestroyInstance(vk->instance, NULL);
    /* The loader stays loaded: drivers register exit handlers that must outlive us. */
    free(vk);
}

static const ue_backend_ops vk_ops = {
    .destroy = vk_destroy,
    .supports = vk_supports,
    .buffer_create = vk_buffer_create,
    .buffer_from_host = vk_buffer_from_host,
    .buffer_destroy = vk_buffer_destroy,
    .write = vk_write,
    .read = vk_read,
    .get_rows = vk_op_get_rows,
    .rms_norm = vk_op_rms_norm,
    .matmul = vk_op_matmul,
    .rope = vk_op_rope,
    .attention = vk_op_attention,
    .add = vk_op_add,
    .gelu_mul = vk_op_gelu_mul,
    .copy_rows = vk_op_copy_rows,
    .layer_norm = vk_op_layer_norm,
    .add_bias = vk_op_add_bias,
    .gelu = vk_op_gelu,
    .attention_full = vk_op_attention_full,
    .avg_pool = vk_op_avg_pool,
    .add_rms_norm = vk_op_add_rms_norm,
    .qk_norm_rope = vk_op_qk_norm_rope,
    .matmul_gelu = vk_op_matmul_gelu,
    .matmul_qkv = vk_op_matmul_qkv,
    .attention_rope = vk_op_attention_rope,
    .matmul_add_rms_norm = vk_op_matmul_add_rms_norm,
    .decode_layer = vk_op_decode_layer,
    .sync = vk_sync,
};

/* ---- creation ------------------------------------------------------------------------ */

static ue_status load_instance(vk_backend *vk, ue_error *err) {
    vk_fns *f = &vk->f;
    vk->lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!vk->lib) vk->lib = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
    if (!vk->lib)
        return ue_fail(err, UE_ERR_UNSUPPORTED, "Vulkan: libvulkan.so.1 not found (no loader)");
    *(void **)&f->vkGetInstanceProcAddr = dlsym(vk->lib, "vkGetInstanceProcAddr");
    if (!f->vkGetInstanceProcAddr)
        return ue_fail(err, UE_ERR_DEVICE, "Vulkan: the loader has no vkGetInstanceProcAddr");
#define LOAD_G(name) *(void **)&f->name = (void *)f->vkGetInstanceProcAddr(NULL, #name);
    VK_GLOBAL_FNS(LOAD_G)
#undef LOAD_G
    if (!f->vkCreateInstance)
        return ue_fail(err, UE_ERR_DEVICE, "Vulkan: the loader has no vkCreateInstance");
    uint32_t api = VK_API_VERSION_1_0;
    if (f->vkEnumerateInstanceVersion) f->vkEnumerateInstanceVersion(&api);
    if (api < VK_API_VERSION_1_2)
        return ue_fail(err, UE_ERR_UNSUPPORTED, "Vulkan: the loader offers %u.%u, need 1.2",
                       VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api));
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "unicorn",
                             .pEngineName = "Unicorn Engine",
                             .apiVersion = VK_API_VERSION_1_2};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pApplicationInfo = &app};
    int objects_before = ue_disc_count_objects();
    VkResult r = f->vkCreateInstance(&ci, NULL, &vk->instance);
    ue_disc_pin_objects_after(objects_before); /* drivers stay mapped (see discovery.h) */
    ue_status st = vk_check(vk, r, "vkCreateInstance", err);
    if (st != UE_OK) return st;
#define LOAD_I(name) *(void **)&f->name = (void *)f->vkGetInstanceProcAddr(vk->instance, #name);
    VK_INSTANCE_FNS(LOAD_I)
#undef LOAD_I
#define CHECK_FN(name) if (!f->name) return ue_fail(err, UE_ERR_DEVICE, "Vulkan: no %s", #name);
    VK_INSTANCE_FNS(CHECK_FN)
    return UE_OK;
}

static ue_status pick_device(vk_backend *vk, int index, ue_error *err) {
    const vk_fns *f = &vk->f;
    VkPhysicalDevice pds[16];
    uint32_t n = 16;
    VkResult r = f->vkEnumeratePhysicalDevices(vk->instance, &n, pds);
    if (r < 0) return vk_check(vk, r, "vkEnumeratePhysicalDevices", err);
    if (n == 0) return ue_fail(err, UE_ERR_UNSUPPORTED, "Vulkan: no device found");
    if (index < 0) index = 0;
    if ((uint32_t)index >= n)
        return ue_fail(err, UE_ERR_ARGUMENT, "Vulkan device %d does not exist (%u found)", index, n);
    vk->pdev = pds[index];
    f->vkGetPhysicalDeviceProperties(vk->pdev, &vk->props);
    f->vkGetPhysicalDeviceMemoryProperties(vk->pdev, &vk->mem);
    if (vk->props.apiVersion < VK_API_VERSION_1_2)
        return ue_fail(err, UE_ERR_UNSUPPORTED, "Vulkan: %s offers Vulkan %u.%u, need 1.2",
                       vk->props.deviceName, VK_API_VERSION_MAJOR(vk->props.apiVersion),
                       VK_API_VERSION_MINOR(vk->props.apiVersion));
    /* Tests shrink the storage-buffer range to exercise windows on small buffers. */
    const char *test_range = getenv("UE_VK_TEST_RANGE");
    if (test_range && atol(test_range) >= 65536 &&
        (uint64_t)atol(test_range) < vk->props.limits.maxStorageBufferRange)
        vk->props.limits.maxStorageBufferRange = (uint32_t)atol(test_range);
    vk->unified = vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
                  vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;

    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &sg};
    f->vkGetPhysicalDeviceProperties2(vk->pdev, &p2);
    VkSubgroupFeatureFlags need_sg = VK_SUBGROUP_FEATURE_BASIC_BIT |
                                     VK_SUBGROUP_FEATURE_ARITHMETIC_BIT |
                                     VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
    if ((sg.supportedOperations & need_sg) != need_sg ||
        !(sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) || sg.subgroupSize < 4)
        return ue_fail(err, UE_ERR_UNSUPPORTED,
                       "Vulkan: %s lacks subgroup arithmetic or shuffles in compute shaders (subgroup size %u)",
                       vk->props.deviceName, sg.subgroupSize);
    vk->subgroup_size = sg.subgroupSize;
    vk->no_mvf = getenv("UE_VK_NO_MVF") != NULL; /* kernel comparisons: the old mat-vec */
    vk->mmc_min_weights = vk_mmc_min_weights();
    /* a fifth descriptor set (the epilogue counters) where the device binds that many */
    vk->n_sets = vk->props.limits.maxBoundDescriptorSets >= 5 ? 5 : 4;
    vk_decode_config(vk);
    if (vk->props.limits.maxComputeWorkGroupSize[0] < 256 ||
        vk->props.limits.maxComputeWorkGroupInvocations < 256 ||
        vk->props.limits.maxComputeSharedMemorySize < 16384 + 512)
        return ue_fail(err, UE_ERR_UNSUPPORTED, "Vulkan: %s has too small compute workgroups",
                       vk->props.deviceName);

    uint32_t nq = 0;
    f->vkGetPhysicalDeviceQueueFamilyProperties(vk->pdev, &nq, NULL);
    VkQueueFamilyProperties qf[32];
    if (nq > 32) nq = 32;
    f->vkGetPhysicalDeviceQueueFamilyProperties(vk->pdev, &nq, qf);
    int fam = -1;
    for (uint32_t i = 0; i < nq && fam < 0; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) fam = (int)i;
    if (fam < 0) return ue_fail(err, UE_ERR_UNSUPPORTED, "Vulkan: %s has no compute queue",
                                vk->props.deviceName);
    vk->queue_family = (uint32_t)fam;
    if (getenv("UE_VK_PROFILE") && qf[fam].timestampValidBits > 0 &&
        vk->props.limits.timestampComputeAndGraphics) {
        vk->prof = calloc(1, sizeof *vk->prof);
        if (vk->prof) vk->prof->ns_per_tick = vk->props.limits.timestampPeriod;
    }
    return UE_OK;
}

static ue_status create_device(vk_backend *vk, ue_error *err) {
    vk_fns *f = &vk->f;
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &f11};
    f->vkGetPhysicalDeviceFeatures2(vk->pdev, &f2);
    if (!f11.storageBuffer16BitAccess)
        return ue_fail(err, UE_ERR_UNSUPPORTED, "Vulkan: %s lacks 16-bit storage buffer access",
                       vk->props.deviceName);
    vk->coopmat = vk_coopmat_probe(vk);
    /* buffer device addresses and 64-bit integers: the one-dispatch decode layer */
    VkPhysicalDeviceVulkan12Features has12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceFeatures2 has = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                     .pNext = &has12};
    f->vkGetPhysicalDeviceFeatures2(vk->pdev, &has);
    vk->bda = has12.bufferDeviceAddress && has.features.shaderInt64 && vk_persist_wanted(vk);
    if (!vk->bda) vk->persist_g = 0;
    vk_coopmat_features on_cm = {.sType = VK_COOPMAT_FEATURES_STYPE, .cooperativeMatrix = VK_TRUE};
    VkPhysicalDeviceVulkan12Features on12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .pNext = vk->coopmat ? &on_cm : NULL,
        .shaderFloat16 = (VkBool32)vk->coopmat,
        .vulkanMemoryModel = (VkBool32)vk->coopmat,
        .bufferDeviceAddress = (VkBool32)vk->bda};
    VkPhysicalDeviceVulkan11Features on11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .pNext = vk->coopmat || vk->bda ? &on12 : NULL,
        .storageBuffer16BitAccess = VK_TRUE};
    VkPhysicalDeviceFeatures2 on = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &on11};
    on.features.shaderInt64 = (VkBool32)vk->bda;
    /* UE_VK_PIPE_STATS (kernel work): the driver's statistics of each pipeline (registers,
     * spills, shared memory), where it offers them */
    vk->pipe_stats = getenv("UE_VK_PIPE_STATS") &&
                     vk_has_extension(vk, "VK_KHR_pipeline_executable_properties");
    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR on_pe = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
        .pNext = &on11,
        .pipelineExecutableInfo = VK_TRUE};
    if (vk->pipe_stats) on.pNext = &on_pe;
    /* integer dot products (Vulkan 1.3's, through the extension: the instance asks 1.2):
     * the mat-vecs over 16-bit x (mvq_items.glsl); UE_VK_Q16=0 keeps f32 x */
    VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR has_dot = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR};
    const char *q16 = getenv("UE_VK_Q16");
    if (vk_has_extension(vk, "VK_KHR_shader_integer_dot_product") && !(q16 && !strcmp(q16, "0"))) {
        VkPhysicalDeviceFeatures2 hd = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                        .pNext = &has_dot};
        f->vkGetPhysicalDeviceFeatures2(vk->pdev, &hd);
        vk->idot = has_dot.shaderIntegerDotProduct;
    }
    VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR on_dot = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR,
        .pNext = on.pNext,
        .shaderIntegerDotProduct = VK_TRUE};
    if (vk->idot) on.pNext = &on_dot;
    /* the matrix units' extension last: a device refused with it is asked again without */
    const char *exts[3];
    uint32_t n_ext = 0;
    if (vk->pipe_stats) exts[n_ext++] = "VK_KHR_pipeline_executable_properties";
    if (vk->idot) exts[n_ext++] = "VK_KHR_shader_integer_dot_product";
    if (vk->coopmat) exts[n_ext++] = "VK_KHR_cooperative_matrix";
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                  .queueFamilyIndex = vk->queue_family,
                                  .queueCount = 1,
                                  .pQueuePriorities = &prio};
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .pNext = &on,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qi,
                             .enabledExtensionCount = n_ext,
                             .ppEnabledExtensionNames = n_ext ? exts : NULL};
    VkResult cr = f->vkCreateDevice(vk->pdev, &di, NULL, &vk->dev);
    if (cr != VK_SUCCESS && vk->coopmat) { /* without the matrix units, then */
        vk->coopmat = 0;
        on12.pNext = NULL;
        on12.shaderFloat16 = on12.vulkanMemoryModel = VK_FALSE;
        on11.pNext = vk->bda ? &on12 : NULL;
        di.enabledExtensionCount = --n_ext;
        di.ppEnabledExtensionNames = n_ext ? exts : NULL;
        cr = f->vkCreateDevice(vk->pdev, &di, NULL, &vk->dev);
    }
    ue_status st = vk_check(vk, cr, "vkCreateDevice", err);
    if (st != UE_OK) return st;
#define LOAD_D(name) *(void **)&f->name = (void *)f->vkGetDeviceProcAddr(vk->dev, #name);
    VK_DEVICE_FNS(LOAD_D)
#undef LOAD_D
    VK_DEVICE_FNS(CHECK_FN)
#undef CHECK_FN
    f->vkGetDeviceQueue(vk->dev, vk->queue_family, 0, &vk->queue);

    VkDescriptorSetLayoutBinding bind = {.binding = 0,
                                         .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                         .descriptorCount = 1,
                                         .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo sli = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = 1,
        .pBindings = &bind};
    VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = MAX_SETS};
    VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                      .flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT,
                                      .maxSets = MAX_SETS,
                                      .poolSizeCount = 1,
                                      .pPoolSizes = &ps};
    VkCommandPoolCreateInfo cpi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = vk->queue_family};
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((st = vk_check(vk, f->vkCreateDescriptorSetLayout(vk->dev, &sli, NULL, &vk->set_layout),
                       "vkCreateDescriptorSetLayout", err)) ||
        (st = vk_check(vk, f->vkCreateDescriptorPool(vk->dev, &dpi, NULL, &vk->desc_pool),
                       "vkCreateDescriptorPool", err)) ||
        (st = vk_check(vk, f->vkCreateCommandPool(vk->dev, &cpi, NULL, &vk->cmd_pool),
                       "vkCreateCommandPool", err)) ||
        (st = vk_check(vk, f->vkCreateFence(vk->dev, &fi, NULL, &vk->fence), "vkCreateFence", err)))
        return st;
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = vk->cmd_pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = VK_MAX_CHUNKS};
    if ((st = vk_check(vk, f->vkAllocateCommandBuffers(vk->dev, &cai, vk->cmds),
                       "vkAllocateCommandBuffers", err)))
        return st;
    vk->cmd = vk->cmds[0];
    if (vk->prof) {
        VkQueryPoolCreateInfo qpi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                     .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                     .queryCount = 2 * VK_MAX_TIMED};
        if (f->vkCreateQueryPool(vk->dev, &qpi, NULL, &vk->prof->pool) != VK_SUCCESS) {
            free(vk->prof);
            vk->prof = NULL;
        }
    }
    return UE_OK;
}

ue_status ue_vk_backend_create(int index, ue_backend **out, ue_error *err) {
    *out = NULL;
    vk_backend *vk = calloc(1, sizeof *vk);
    if (!vk) return ue_fail(err, UE_ERR_NOMEM, "out of memory creating the Vulkan backend");
    vk->base.ops = &vk_ops;
    vk->base.name = "vulkan";
    ue_status st;
    if ((st = load_instance(vk, err)) || (st = pick_device(vk, index, err)) ||
        (st = create_device(vk, err)) || (st = vk_pipelines_create(vk, err)) ||
        (st = vk_buffer_alloc(vk, 64, VK_MEM_DEVICE, &vk->dummy, err)) ||
        (st = vk_decode_init(vk, err)) || (st = vk_persist_init(vk, err)))
        goto fail;
    static const char *types[] = {"other", "integrated GPU", "discrete GPU", "virtual GPU", "CPU"};
    int t = vk->props.deviceType <= VK_PHYSICAL_DEVICE_TYPE_CPU ? (int)vk->props.deviceType : 0;
    snprintf(vk->base.description, sizeof vk->base.description, "Vulkan: %.80s (%s%s%s%s)",
             vk->props.deviceName, types[t], vk->unified ? ", unified memory" : "",
             vk->coopmat ? ", matrix units" : "", vk->idot ? ", integer dot products" : "");
    *out = &vk->base;
    return UE_OK;
fail:
    vk_destroy(&vk->base);
    return st;
}

size_t ue_vk_backend_memory(const ue_backend *be) {
    return ((const vk_backend *)be)->device_bytes;
}

#else
typedef int ue_vk_device_not_built;
#endif
