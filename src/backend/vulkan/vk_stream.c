/* Vulkan backend: the command stream. Ops are recorded into command buffers submitted
 * in chunks as they fill (the GPU starts while the host records the rest) and waited for
 * at sync (one wait per decoded token). A barrier goes in only
 * where a command touches memory that an earlier command since the last barrier wrote,
 * or writes memory one read (compute/transfer to compute/transfer, memory barrier only).
 * With UE_VK_PROFILE set, timestamps around each dispatch are summed per pipeline (the
 * dispatches then run one after another). */
#ifdef UE_HAVE_VULKAN_BACKEND
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend/vulkan/vk_internal.h"

void vk_fail_deferred(vk_backend *vk, ue_status st, const char *fmt, ...) {
    if (vk->deferred != UE_OK) return; /* the first error is the one to report */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vk->deferred_err.msg, sizeof vk->deferred_err.msg, fmt, ap);
    va_end(ap);
    vk->deferred = st;
    vk->deferred_err.code = st;
}

ue_status vk_begin(vk_backend *vk, ue_error *err) {
    if (vk->recording) return UE_OK;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    ue_status st = vk_check(vk, vk->f.vkBeginCommandBuffer(vk->cmd, &bi), "vkBeginCommandBuffer",
                            err);
    if (st != UE_OK) return st;
    vk->recording = 1;
    vk->n_commands = 0;
    if (vk->prof) {
        vk->f.vkCmdResetQueryPool(vk->cmd, vk->prof->pool, 0, 2 * VK_MAX_TIMED);
        vk->prof->n_timed = 0;
    }
    return UE_OK;
}

static int overlaps(const vk_range *a, const vk_range *b) {
    return a->buf == b->buf && a->lo < b->hi && b->lo < a->hi;
}

static int touches(const vk_range *r, const vk_range *list, int n) {
    for (int i = 0; i < n; i++)
        if (overlaps(r, &list[i])) return 1;
    return 0;
}

static void barrier(vk_backend *vk) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT |
                                           VK_ACCESS_TRANSFER_WRITE_BIT};
    VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vk->f.vkCmdPipelineBarrier(vk->cmd, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
    vk->n_written = vk->n_read = 0;
    vk->n_barrier++;
}

void vk_q16_touch(vk_backend *vk, const ue_buffer *buf, size_t lo, size_t hi) {
    vk_range w = {buf, lo, hi};
    if (vk->q16.valid && (overlaps(&w, &vk->q16.src) || overlaps(&w, &vk->q16.at)))
        vk->q16.valid = 0; /* the kept copy is stale or gone */
}

void vk_hazard(vk_backend *vk, const vk_range *reads, int n_reads, const vk_range *writes,
               int n_writes) {
    int need = 0;
    for (int i = 0; i < n_reads && !need; i++) need = touches(&reads[i], vk->written, vk->n_written);
    for (int i = 0; i < n_writes && !need; i++)
        need = touches(&writes[i], vk->written, vk->n_written) ||
               touches(&writes[i], vk->read, vk->n_read);
    if (!need && (vk->n_read + n_reads > VK_MAX_TRACK || vk->n_written + n_writes > VK_MAX_TRACK))
        need = 1;
    if (need) barrier(vk);
    for (int i = 0; i < n_writes; i++)
        if (((const vk_buf *)writes[i].buf->impl)->has_repacks)
            vk_repack_touch(vk, writes[i].buf, writes[i].lo, writes[i].hi);
    for (int i = 0; i < n_writes; i++) vk_q16_touch(vk, writes[i].buf, writes[i].lo, writes[i].hi);
    for (int i = 0; i < n_reads; i++) vk->read[vk->n_read++] = reads[i];
    for (int i = 0; i < n_writes; i++) vk->written[vk->n_written++] = writes[i];
}

void vk_dispatch(vk_backend *vk, int pipe, const VkDescriptorSet sets[4], const void *push,
                 size_t push_size, uint32_t gx, uint32_t gy, uint32_t gz,
                 const vk_range *reads, int n_reads, const vk_range *writes, int n_writes) {
    vk_dispatch5(vk, pipe, sets, VK_NULL_HANDLE, push, push_size, gx, gy, gz, reads, n_reads,
                 writes, n_writes);
}

void vk_dispatch5(vk_backend *vk, int pipe, const VkDescriptorSet sets[4], VkDescriptorSet set4,
                  const void *push, size_t push_size, uint32_t gx, uint32_t gy, uint32_t gz,
                  const vk_range *reads, int n_reads, const vk_range *writes, int n_writes) {
    if (vk->deferred != UE_OK) return; /* reported at sync */
    ue_error err = {0};
    ue_status st = vk_begin(vk, &err);
    if (st != UE_OK) {
        vk_fail_deferred(vk, st, "%s", err.msg);
        return;
    }
    const VkPhysicalDeviceLimits *lim = &vk->props.limits;
    if (gx > lim->maxComputeWorkGroupCount[0] || gy > lim->maxComputeWorkGroupCount[1] ||
        gz > lim->maxComputeWorkGroupCount[2]) {
        vk_fail_deferred(vk, UE_ERR_UNSUPPORTED, "Vulkan: %s needs a grid of %u x %u x %u",
                         vk_pipe_name(pipe), gx, gy, gz);
        return;
    }
    if (gx == 0 || gy == 0 || gz == 0) return;
    vk_hazard(vk, reads, n_reads, writes, n_writes);
    const vk_fns *f = &vk->f;
    /* set 4, where the layout has it: the counters of last-workgroup epilogues */
    VkDescriptorSet bound[5];
    for (int i = 0; i < 4; i++)
        bound[i] = sets[i] ? sets[i] : ((vk_buf *)vk->dummy->impl)->sets[0];
    bound[4] = set4 ? set4 : ((vk_buf *)(vk->sync ? vk->sync : vk->dummy)->impl)->sets[0];
    f->vkCmdBindPipeline(vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->pipes[pipe]);
    f->vkCmdBindDescriptorSets(vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->pipe_layout, 0,
                               vk->n_sets, bound, 0, NULL);
    vk->n_dispatch++;
    f->vkCmdPushConstants(vk->cmd, vk->pipe_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                          (uint32_t)push_size, push);
    vk_profile *pr = vk->prof;
    int timed = pr && pr->n_timed < VK_MAX_TIMED;
    /* The start stamp waits for earlier dispatches to finish (a top-of-pipe stamp would
     * be written at once and charge this dispatch with their tails). */
    if (timed)
        f->vkCmdWriteTimestamp(vk->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, pr->pool,
                               2u * (uint32_t)pr->n_timed);
    f->vkCmdDispatch(vk->cmd, gx, gy, gz);
    if (timed) {
        f->vkCmdWriteTimestamp(vk->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pr->pool,
                               2u * (uint32_t)pr->n_timed + 1u);
        pr->label[pr->n_timed++] = (uint8_t)pipe;
    }
    vk->n_commands++;
    /* Long recordings go to the GPU in chunks, so it starts while the rest is recorded
     * (the first chunk small). Hazard tracking carries over: a barrier in a later chunk
     * also orders against the chunks submitted before it. Not while profiling (the
     * queries live in one command buffer). */
    if (!pr && vk->n_commands >= (vk->chunk == 0 ? 8 : 48) && vk->chunk + 1 < VK_MAX_CHUNKS) {
        VkResult r = f->vkEndCommandBuffer(vk->cmd);
        if (r == VK_SUCCESS) {
            VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                               .commandBufferCount = 1,
                               .pCommandBuffers = &vk->cmd};
            r = f->vkQueueSubmit(vk->queue, 1, &si, VK_NULL_HANDLE);
        }
        vk->recording = 0;
        vk->chunk++;
        vk->cmd = vk->cmds[vk->chunk];
        if (r != VK_SUCCESS)
            vk_fail_deferred(vk, UE_ERR_DEVICE, "Vulkan: submitting a command chunk failed (VkResult %d)",
                             (int)r);
    }
}

size_t vk_max_span(const vk_backend *vk) {
    return vk->props.limits.maxStorageBufferRange / 2 - 4096;
}

vk_bind vk_window(vk_backend *vk, const ue_buffer *buf, size_t lo, size_t hi) {
    const vk_buf *b = buf->impl;
    size_t w = b->n_sets > 1 ? lo / b->step : 0;
    if (w >= (size_t)b->n_sets) w = (size_t)b->n_sets - 1;
    vk_bind r = {b->sets[w], w * b->step};
    if (hi > r.base + b->range) {
        vk_fail_deferred(vk, UE_ERR_UNSUPPORTED,
                         "Vulkan: %zu bytes at %zu do not fit one %zu-byte storage-buffer window",
                         hi - lo, lo, b->range);
        r.set = ((vk_buf *)vk->dummy->impl)->sets[0];
        r.base = 0;
    }
    return r;
}

static void profile_collect(vk_backend *vk) {
    vk_profile *pr = vk->prof;
    if (!pr || pr->n_timed == 0) return;
    static uint64_t ts[2 * VK_MAX_TIMED];
    VkResult r = vk->f.vkGetQueryPoolResults(vk->dev, pr->pool, 0, 2u * (uint32_t)pr->n_timed,
                                             sizeof ts, ts, sizeof(uint64_t),
                                             VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (r != VK_SUCCESS) return;
    for (int i = 0; i < pr->n_timed; i++) {
        pr->total_ns[pr->label[i]] += (double)(ts[2 * i + 1] - ts[2 * i]) * pr->ns_per_tick;
        pr->count[pr->label[i]]++;
    }
    pr->n_timed = 0;
}

void vk_profile_report(vk_backend *vk) {
    vk_profile *pr = vk->prof;
    double total = 0.0;
    for (int i = 0; i < VK_PIPE_COUNT; i++) total += pr->total_ns[i];
    if (total <= 0.0) return;
    fprintf(stderr, "Vulkan profile (%s): GPU time per pipeline\n", vk->props.deviceName);
    fprintf(stderr, "  %-14s %10s %12s %10s %6s\n", "pipeline", "calls", "total ms", "us/call", "%");
    for (int i = 0; i < VK_PIPE_COUNT; i++) {
        if (!pr->count[i]) continue;
        fprintf(stderr, "  %-14s %10llu %12.3f %10.2f %6.1f\n", vk_pipe_name(i),
                (unsigned long long)pr->count[i], pr->total_ns[i] / 1e6,
                pr->total_ns[i] / 1e3 / (double)pr->count[i], 100.0 * pr->total_ns[i] / total);
    }
    fprintf(stderr, "  %-14s %10s %12.3f\n", "total", "", total / 1e6);
    fprintf(stderr, "  recorded: %llu dispatches, %llu barriers\n",
            (unsigned long long)vk->n_dispatch, (unsigned long long)vk->n_barrier);
    if (vk->persist_g)
        fprintf(stderr, "  decode_layer grid: %u workgroups of %u\n", vk->persist_g, vk->persist_wg);
}

ue_status vk_flush(vk_backend *vk, ue_error *err) {
    const vk_fns *f = &vk->f;
    ue_status st = UE_OK;
    if (!vk->recording && vk->chunk > 0 && (st = vk_begin(vk, err)) != UE_OK) return st;
    if (vk->recording) {
        /* Results become visible to host reads of mapped memory after the fence. */
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
        f->vkCmdPipelineBarrier(vk->cmd,
                                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                                VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
        vk->recording = 0;
        st = vk_check(vk, f->vkEndCommandBuffer(vk->cmd), "vkEndCommandBuffer", err);
        if (st == UE_OK) {
            VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                               .commandBufferCount = 1,
                               .pCommandBuffers = &vk->cmd};
            st = vk_check(vk, f->vkQueueSubmit(vk->queue, 1, &si, vk->fence), "vkQueueSubmit", err);
            if (st == UE_OK) {
                st = vk_check(vk, f->vkWaitForFences(vk->dev, 1, &vk->fence, VK_TRUE, UINT64_MAX),
                              "vkWaitForFences", err);
                f->vkResetFences(vk->dev, 1, &vk->fence);
                if (st == UE_OK) profile_collect(vk);
            }
        }
        if (st != UE_OK) f->vkDeviceWaitIdle(vk->dev); /* chunks may still run */
        for (int i = 0; i <= vk->chunk; i++) f->vkResetCommandBuffer(vk->cmds[i], 0);
        vk->chunk = 0;
        vk->cmd = vk->cmds[0];
        vk->n_commands = 0;
        vk->n_written = vk->n_read = 0;
        vk->upload_used = 0;
        if (st == UE_OK) st = vk_persist_after_wait(vk, err);
    }
    if (st == UE_OK && vk->deferred != UE_OK) {
        st = ue_fail(err, vk->deferred, "%s", vk->deferred_err.msg);
        vk->deferred = UE_OK;
    }
    return st;
}

#else
typedef int ue_vk_stream_not_built;
#endif
