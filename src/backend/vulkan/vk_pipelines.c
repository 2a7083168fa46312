/* Vulkan backend: one compute pipeline per shader variant, all sharing one layout (four
 * descriptor sets of one storage buffer each, 128 bytes of push constants). Variants per
 * weight type come from the embedded SPIR-V table (vk_shaders.h). */
#ifdef UE_HAVE_VULKAN_BACKEND
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/vulkan/vk_internal.h"
#include "backend/vulkan/vk_shaders.h"

static const char *wtype_suffix[VK_N_WTYPES] = {"f32",  "f16",  "bf16", "q4_0", "q4_1", "q5_0",
                                                "q5_1", "q8_0", "q4_k", "q5_k", "q6_k"};

/* Shader name of pipeline id (into buf for per-type variants). */
static const char *pipe_shader(int id, char *buf, size_t cap) {
    static const char *fixed[] = {"rms_norm",   "rope",         "add",         "gelu_mul",
                                  "copy_f32",   "copy_f16",     "attention",   "attn_merge",
                                  "add_rms_norm", "qk_norm_rope", "attention_dec",
                                  "attention_qb", "gelu",       "layer_norm",
                                  "attention_full", "avg_pool", "attention_decf",
                                  "decode_layer", "sum_parts",  "add_rms_norm_w", "quant_q16",
                                  "add_rms_norm_q", "add_rms_norm_wq"};
    static const char *families[] = {"mul_mv",  "mul_mm",   "get_rows", "mul_mvf",
                                     "repack",  "mul_mvg",  "mul_mvs",  "mul_mvsn",
                                     "mul_mvsg", "mul_mvfq", "mul_mvgq", "mul_mvsq", "mul_mmc",
                                     "mul_mmcw", "mul_mmcb"};
    if (id < VK_PIPE_MUL_MV) return fixed[id];
    int fam = (id - VK_PIPE_MUL_MV) / VK_N_WTYPES, t = (id - VK_PIPE_MUL_MV) % VK_N_WTYPES;
    snprintf(buf, cap, "%s_%s", families[fam], wtype_suffix[t]);
    return buf;
}

/* Sizes of mul_mvf.comp: 128 invocations, a whole subgroup per row group (measured on
 * an H100: 16-lane groups lost 7%, 4 rows per group 30%), 2 rows per group pass, every
 * group one pass per workgroup, one item per lane per iteration.
 * UE_VK_MV="wg,nr,passes,lanes,unroll" overrides them (kernel experiments). */
static void mvf_sizes(vk_backend *vk) {
    uint32_t wg = 128, nr = 2, passes = 1, lanes = 32, unroll = 1;
    uint32_t sg = vk->subgroup_size ? vk->subgroup_size : 32;
    const char *env = getenv("UE_VK_MV");
    unsigned a, b, c, d, e;
    if (env && sscanf(env, "%u,%u,%u,%u,%u", &a, &b, &c, &d, &e) == 5 && a >= sg && a <= 1024 &&
        a % sg == 0 && b >= 1 && b <= 16 && c >= 1 && c <= 16 && d >= 1 && d <= 128 &&
        !(d & (d - 1)) && e >= 1 && e <= 4)
        wg = a, nr = b, passes = c, lanes = d, unroll = e;
    vk->mvf_unroll = unroll;
    if (wg < sg) wg = sg;
    if (lanes > sg) lanes = sg;
    vk->mvf_wg = wg;
    vk->mvf_nr = nr;
    vk->mvf_lanes = lanes;
    vk->mvf_rpw = nr * (wg / lanes) * passes;
}

const char *vk_pipe_name(int id) {
    static char names[VK_PIPE_COUNT][32];
    return pipe_shader(id, names[id], sizeof names[id]);
}

/* UE_VK_PIPE_STATS: one line per pipeline on stderr with the driver's statistics of its
 * executables (registers, spills, shared memory: what bounds a kernel's occupancy). */
static void print_pipe_stats(vk_backend *vk, int id) {
    PFN_vkGetPipelineExecutablePropertiesKHR get_exe =
        (PFN_vkGetPipelineExecutablePropertiesKHR)vk->f.vkGetDeviceProcAddr(
            vk->dev, "vkGetPipelineExecutablePropertiesKHR");
    PFN_vkGetPipelineExecutableStatisticsKHR get_stats =
        (PFN_vkGetPipelineExecutableStatisticsKHR)vk->f.vkGetDeviceProcAddr(
            vk->dev, "vkGetPipelineExecutableStatisticsKHR");
    if (!get_exe || !get_stats) return;
    VkPipelineInfoKHR pinfo = {.sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR, .pipeline = vk->pipes[id]};
    uint32_t n_exe = 0;
    if (get_exe(vk->dev, &pinfo, &n_exe, NULL) != VK_SUCCESS) return;
    for (uint32_t e = 0; e < n_exe && e < 4; e++) {
        VkPipelineExecutableInfoKHR ei = {.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR,
                                          .pipeline = vk->pipes[id],
                                          .executableIndex = e};
        VkPipelineExecutableStatisticKHR st[32];
        uint32_t n = 32;
        for (uint32_t i = 0; i < n; i++)
            st[i] = (VkPipelineExecutableStatisticKHR){
                .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR};
        VkResult r = get_stats(vk->dev, &ei, &n, st);
        if (r != VK_SUCCESS && r != VK_INCOMPLETE) continue;
        fprintf(stderr, "pipeline %s:", vk_pipe_name(id));
        for (uint32_t i = 0; i < n; i++) {
            fprintf(stderr, " %s=", st[i].name);
            switch (st[i].format) {
            case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
                fprintf(stderr, "%u", (unsigned)st[i].value.b32);
                break;
            case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
                fprintf(stderr, "%lld", (long long)st[i].value.i64);
                break;
            case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
                fprintf(stderr, "%llu", (unsigned long long)st[i].value.u64);
                break;
            default:
                fprintf(stderr, "%g", st[i].value.f64);
            }
        }
        fputc('\n', stderr);
    }
}

ue_status vk_pipelines_create(vk_backend *vk, ue_error *err) {
    const vk_fns *f = &vk->f;
    VkDescriptorSetLayout sets[5] = {vk->set_layout, vk->set_layout, vk->set_layout,
                                     vk->set_layout, vk->set_layout};
    VkPushConstantRange pc = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0,
                              .size = VK_PUSH_MAX};
    VkPipelineLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                     .setLayoutCount = vk->n_sets,
                                     .pSetLayouts = sets,
                                     .pushConstantRangeCount = 1,
                                     .pPushConstantRanges = &pc};
    ue_status st = vk_check(vk, f->vkCreatePipelineLayout(vk->dev, &li, NULL, &vk->pipe_layout),
                            "vkCreatePipelineLayout", err);
    if (st != UE_OK) return st;
    mvf_sizes(vk);
    /* mul_mmc.comp output path and prefetch, attention_qb.comp queries per workgroup;
     * UE_VK_MMC="epi,pf" and UE_VK_ATTQB=n (0: per-query kernel) override them */
    unsigned e0, e1, e2;
    const char *env_mmc = getenv("UE_VK_MMC"), *env_qb = getenv("UE_VK_ATTQB");
    /* measured on an H100 (pp512): whole-tile output with prefetch fastest for the 270M
     * and 4B models; query blocks of 4 beat 2, 8 and the per-query kernel */
    vk->mmc_epi = 0, vk->mmc_pf = 1, vk->mmc_bn = 64;
    if (env_mmc && sscanf(env_mmc, "%u,%u,%u", &e0, &e1, &e2) == 3 && e0 <= 1 && e1 <= 1 &&
        (e2 == 64 || e2 == 128))
        vk->mmc_epi = e0, vk->mmc_pf = e1, vk->mmc_bn = e2;
    /* mul_mmcw: the same with 128-token tiles (4B model: 11% faster than 64; the 270M
     * model's smaller matrices were faster with 64) */
    uint32_t mmcw_vals[6] = {vk->mmc_epi, vk->mmc_epi ? 256 / 32 * 256 : 64 * 128, vk->mmc_pf,
                             256, 128, 0};
    /* mul_mmcb.comp (128 x 128 tiles) for matrices of 2M+ weights in batches of 65+
     * tokens (H100, 4B, before split-K: pp512 12.5k t/s against 8.1k on mul_mmc's tiles,
     * pp384 11.0k vs 8.9k, pp256 8.5k vs 8.2k, pp192 even, pp128 2-5k vs 6.0k; with
     * split-K, H200, run 50: pp96 6.4k vs 5.8k, pp128 8.4k vs 7.1k, pp192 9.6k vs 6.8k,
     * pp224 10.7k vs 7.4k; run 51: pp80 5.2k vs 3.7k, pp48 / pp64 3-4% slower than the
     * 64-token mul_mmc tiles; the 270M model's matrices are all smaller);
     * UE_VK_MMCB="weights[,tokens]" sets both minima (tokens 1 unless given). Q4_K / Q6_K
     * dequantized in f16 pairs (4B pp512: +16%); UE_VK_HDQ=0: the f32 path */
    const char *env_b = getenv("UE_VK_MMCB"), *env_h = getenv("UE_VK_HDQ");
    long long mw = 1 << 21, mt = 65;
    if (env_b && sscanf(env_b, "%lld,%lld", &mw, &mt) < 2) mt = 1;
    vk->mmcb_min_weights = mw, vk->mmcb_min_tokens = mt;
    vk->mmc_hdq = env_h ? (uint32_t)(atoi(env_h) == 1) : 1;
    /* split-K for mul_mmc grids of fewer workgroups than this, to about mmc_split_groups
     * (vk_ops.c's mmc_splits); UE_VK_MMC_SPLIT=below[,groups] sets them, 0 off */
    const char *env_s = getenv("UE_VK_MMC_SPLIT");
    unsigned below = 64, groups = 96; /* the best of run 45's sweep (H200) */
    if (env_s && sscanf(env_s, "%u,%u", &below, &groups) < 1) below = 0;
    vk->mmc_split_below = below, vk->mmc_split_groups = groups ? groups : 1;
    vk->att_qb = 4;
    if (env_qb && atoi(env_qb) >= 0 && atoi(env_qb) <= 8) vk->att_qb = (uint32_t)atoi(env_qb);
    uint32_t mmc_wg = 2 * vk->mmc_bn;
    uint32_t mmc_vals[6] = {vk->mmc_epi, vk->mmc_epi ? mmc_wg / 32 * 256 : 64 * vk->mmc_bn,
                            vk->mmc_pf, mmc_wg, vk->mmc_bn, vk->mmc_hdq};
    mmcw_vals[5] = vk->mmc_hdq;
    VkSpecializationMapEntry mmc_entries[6] = {{0, 0, 4},  {1, 4, 4},  {2, 8, 4},
                                               {3, 12, 4}, {4, 16, 4}, {5, 20, 4}};
    VkSpecializationInfo mmc_spec = {6, mmc_entries, sizeof mmc_vals, mmc_vals};
    VkSpecializationInfo mmcw_spec = {6, mmc_entries, sizeof mmcw_vals, mmcw_vals};
    VkSpecializationMapEntry hdq_entry = {5, 0, 4};
    VkSpecializationInfo mmcb_spec = {1, &hdq_entry, sizeof vk->mmc_hdq, &vk->mmc_hdq};
    uint32_t qb_val = vk->att_qb ? vk->att_qb : 4;
    VkSpecializationMapEntry qb_entry = {0, 0, 4};
    VkSpecializationInfo qb_spec = {1, &qb_entry, sizeof qb_val, &qb_val};
    VkSpecializationInfo decf_spec = {1, &qb_entry, sizeof vk->attf_nq, &vk->attf_nq};
    uint32_t dl_vals[2] = {vk->persist_wg, vk_persist_maxnq(vk)};
    VkSpecializationMapEntry dl_entries[2] = {{0, 0, 4}, {1, 4, 4}};
    VkSpecializationInfo dl_spec = {2, dl_entries, sizeof dl_vals, dl_vals};
    uint32_t spec[5] = {vk->mvf_wg, vk->mvf_nr, vk->mvf_rpw, vk->mvf_lanes, vk->mvf_unroll};
    VkSpecializationMapEntry entries[5] = {{0, 0, 4}, {1, 4, 4}, {2, 8, 4}, {3, 12, 4}, {4, 16, 4}};
    VkSpecializationInfo mvf_spec = {5, entries, sizeof spec, spec};
    uint32_t mvs_vals[5] = {vk->mvs_wg, vk->mvs_nr, vk->mvs_rpw, vk->mvs_lanes, vk->mvs_unroll};
    VkSpecializationInfo mvs_spec = {5, entries, sizeof mvs_vals, mvs_vals};
    for (int id = 0; id < VK_PIPE_COUNT; id++) {
        char buf[32];
        const char *name = pipe_shader(id, buf, sizeof buf);
        if (id >= VK_PIPE_MUL_MMCW && id < VK_PIPE_MUL_MMCB) /* mul_mmc's module, wider tiles */
            name = pipe_shader(id - VK_N_WTYPES, buf, sizeof buf);
        const ue_vk_spirv *spv = NULL;
        for (size_t i = 0; i < ue_vk_spirv_count && !spv; i++)
            if (!strcmp(ue_vk_spirv_table[i].name, name)) spv = &ue_vk_spirv_table[i];
        /* types read in place have no repack; mul_mmc: only some types, only where the
         * build had a cooperative-matrix compiler and the device runs it */
        if (!spv && id >= VK_PIPE_REPACK && id < VK_PIPE_MUL_MVG) continue;
        /* the integer-dot mat-vecs: Q4_K and Q6_K, where the device has the dots */
        if ((!spv || !vk->idot) && id >= VK_PIPE_MUL_MVFQ && id < VK_PIPE_MUL_MMC) continue;
        if (!vk->idot && id == VK_PIPE_QUANT_Q16) continue;
        if ((!vk->idot || vk->n_sets < 5) &&
            (id == VK_PIPE_ADD_RMS_NORM_Q || id == VK_PIPE_ADD_RMS_NORM_WQ))
            continue;
        /* the shaders with counters (set 4) only where the layout has a fifth set */
        if ((vk->n_sets < 5 || !vk->attf_nq) && id == VK_PIPE_ATTENTION_DECF) continue;
        if (vk->n_sets < 5 && id >= VK_PIPE_MUL_MVSN && id < VK_PIPE_MUL_MVSG) continue;
        if (id == VK_PIPE_DECODE_LAYER && !vk->persist_g) continue;
        if (id >= VK_PIPE_MUL_MMC && (!spv || !vk->coopmat)) continue;
        /* optional: attention_full falls back on the attention kernels */
        if (id == VK_PIPE_ATTN_FULL &&
            vk->props.limits.maxComputeSharedMemorySize < VK_ATTN_FULL_SHMEM)
            continue;
        if (!spv) return ue_fail(err, UE_ERR_DEVICE, "Vulkan: shader '%s' is not embedded", name);
        VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                       .codeSize = spv->size,
                                       .pCode = spv->code};
        VkShaderModule mod;
        VkResult r = f->vkCreateShaderModule(vk->dev, &mi, NULL, &mod);
        if (r != VK_SUCCESS && id >= VK_PIPE_MUL_MMCB) continue; /* optional: mul_mmc serves */
        if (r != VK_SUCCESS && id == VK_PIPE_DECODE_LAYER) continue; /* optional: the ops serve */
        if (r != VK_SUCCESS && id >= VK_PIPE_MUL_MMC) { /* optional: the tiled path serves */
            vk->coopmat = 0;
            continue;
        }
        if ((st = vk_check(vk, r, "vkCreateShaderModule", err))) {
            ue_error_prefix(err, "shader %s", name);
            return st;
        }
        VkComputePipelineCreateInfo pi = {
            .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
            .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                      .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                      .module = mod,
                      .pName = "main",
                      .pSpecializationInfo =
                          (id >= VK_PIPE_MUL_MVF && id < VK_PIPE_REPACK) ||
                                  (id >= VK_PIPE_MUL_MVG && id < VK_PIPE_MUL_MVS) ||
                                  (id >= VK_PIPE_MUL_MVFQ && id < VK_PIPE_MUL_MVSQ)
                              ? &mvf_spec
                          : (id >= VK_PIPE_MUL_MVS && id < VK_PIPE_MUL_MVFQ) ||
                                  (id >= VK_PIPE_MUL_MVSQ && id < VK_PIPE_MUL_MMC)
                              ? &mvs_spec
                          : id >= VK_PIPE_MUL_MMCB       ? &mmcb_spec
                          : id >= VK_PIPE_MUL_MMCW       ? &mmcw_spec
                          : id >= VK_PIPE_MUL_MMC        ? &mmc_spec
                          : id == VK_PIPE_ATTENTION_QB   ? &qb_spec
                          : id == VK_PIPE_ATTENTION_DECF ? &decf_spec
                          : id == VK_PIPE_DECODE_LAYER   ? &dl_spec
                                                         : NULL},
            .layout = vk->pipe_layout};
        if (vk->pipe_stats) pi.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
        r = f->vkCreateComputePipelines(vk->dev, VK_NULL_HANDLE, 1, &pi, NULL, &vk->pipes[id]);
        f->vkDestroyShaderModule(vk->dev, mod, NULL);
        if (r != VK_SUCCESS && id >= VK_PIPE_MUL_MMCB) {
            vk->pipes[id] = VK_NULL_HANDLE;
            continue;
        }
        if (r != VK_SUCCESS && id >= VK_PIPE_MUL_MMC) {
            vk->pipes[id] = VK_NULL_HANDLE;
            vk->coopmat = 0;
            continue;
        }
        if (r != VK_SUCCESS && id == VK_PIPE_DECODE_LAYER) {
            vk->pipes[id] = VK_NULL_HANDLE;
            continue;
        }
        if ((st = vk_check(vk, r, "vkCreateComputePipelines", err))) {
            ue_error_prefix(err, "shader %s", name);
            return st;
        }
        if (vk->pipe_stats) print_pipe_stats(vk, id);
    }
    return UE_OK;
}

void vk_pipelines_destroy(vk_backend *vk) {
    for (int id = 0; id < VK_PIPE_COUNT; id++)
        if (vk->pipes[id]) vk->f.vkDestroyPipeline(vk->dev, vk->pipes[id], NULL);
    if (vk->pipe_layout) vk->f.vkDestroyPipelineLayout(vk->dev, vk->pipe_layout, NULL);
}

#else
typedef int ue_vk_pipelines_not_built;
#endif
