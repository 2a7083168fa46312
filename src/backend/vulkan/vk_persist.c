/* Vulkan backend: a decoded token's layer as one dispatch of decode_layer.comp, a grid kept
 * resident on the device with grid-wide barriers between its phases, meant to remove the
 * fixed cost of ~10 dependent dispatches per layer. The kernel reads its operands through
 * buffer device addresses from a per-call record written here into host-visible memory.
 * Opt-in: on the H100 (docs/PERFORMANCE.md, runs 33-37) it decodes the 4B model at 222
 * t/s against 280 for the plain ops: a grid barrier costs about what a dependent dispatch
 * does there, and the mat-vec phases, bound by the f32 activations' instructions like
 * the plain kernels, run with fewer warps.
 * The grid must fit the device at once, which Vulkan does not promise: it is sized from
 * the multiprocessor count where the driver reports one (NVIDIA SM builtins, AMD shader
 * core properties) and checked before the first layer (grid_verified). UE_VK_PERSIST=auto
 * switches it on with that grid (or one workgroup where the count is unknown: the tests'
 * setting), =G with a grid of G workgroups; UE_VK_PERSIST_WG sets the workgroup size
 * (default 256), UE_VK_PERSIST_PER_SM the workgroups per multiprocessor (default 2).
 * UE_VK_PERSIST_SKIP=mask leaves phases out (decode_layer.comp's bits; wrong results,
 * for timing the phases only). */
#ifdef UE_HAVE_VULKAN_BACKEND
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/vulkan/vk_internal.h"

/* decode_layer.comp's Mat and Rec (std430). */
typedef struct dl_mat {
    uint64_t base;
    uint32_t pl1, pl2, pl3, type, rows, k, row_bytes, gl, nr, pad;
} dl_mat;
typedef struct dl_record {
    dl_mat m[7];
    uint64_t nq, nk, npa, nffn, npf, nnext;
    uint64_t x, xn, q, k, v, attn, part, o, g, h, kc, vc, sync;
    uint32_t n_embd, n_head, n_head_kv, head_dim, pos, first, has_next, n_split;
    uint32_t split_keys, sync_base, skip, n_phases;
    float eps, log2_base, freq_scale, scale;
} dl_record;
_Static_assert(sizeof(dl_mat) == 48, "dl_mat must match decode_layer.comp's Mat");
_Static_assert(sizeof(dl_record) == 552, "dl_record must match decode_layer.comp's Rec");

enum {
    REC_STRIDE = 576, N_RECORDS = 4096, SYNC_BYTES = 256, /* host-visible block layout */
    BARRIERS = 6, PHASES = 7, ALL_PHASES = 255, /* decode_layer.comp's barriers, phases */
    MAX_SPLIT = 256, MIN_SPLIT_KEYS = 8, KPI = 2, /* decode_layer.comp's keys per step */
    DL_Q4K = 0, DL_Q6K = 1, DL_Q50 = 2, DL_Q80 = 3, DL_Q40 = 4,
};

static int dl_type(ue_type t) {
    switch (t) {
    case UE_TYPE_Q4_K: return DL_Q4K;
    case UE_TYPE_Q6_K: return DL_Q6K;
    case UE_TYPE_Q5_0: return DL_Q50;
    case UE_TYPE_Q8_0: return DL_Q80;
    case UE_TYPE_Q4_0: return DL_Q40;
    default: return -1;
    }
}

/* Multiprocessors (SMs, CUs) the driver reports; 0 when it reports none. */
static uint32_t multiprocessors(vk_backend *vk) {
    if (vk_has_extension(vk, "VK_NV_shader_sm_builtins")) {
        VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
        VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                          .pNext = &sm};
        vk->f.vkGetPhysicalDeviceProperties2(vk->pdev, &p2);
        return sm.shaderSMCount;
    }
    if (vk_has_extension(vk, "VK_AMD_shader_core_properties")) {
        VkPhysicalDeviceShaderCorePropertiesAMD c = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
        VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                          .pNext = &c};
        vk->f.vkGetPhysicalDeviceProperties2(vk->pdev, &p2);
        return c.shaderEngineCount * c.shaderArraysPerEngineCount * c.computeUnitsPerShaderArray;
    }
    return 0;
}

int vk_persist_wanted(vk_backend *vk) {
    const char *e = getenv("UE_VK_PERSIST");
    if (!e || (strcmp(e, "auto") && atoi(e) <= 0)) return 0; /* opt-in (header) */
    const char *w = getenv("UE_VK_PERSIST_WG");
    uint32_t wg = w && atoi(w) >= 32 && atoi(w) <= 1024 ? (uint32_t)atoi(w) : 256;
    uint32_t sg = vk->subgroup_size ? vk->subgroup_size : 32;
    if (wg % sg || wg / sg > 32 || wg > vk->props.limits.maxComputeWorkGroupSize[0]) return 0;
    uint32_t g = 0, per = 1;
    if (e && strcmp(e, "auto")) {
        g = (uint32_t)atoi(e);
    } else {
        const char *ps = getenv("UE_VK_PERSIST_PER_SM");
        per = ps && atoi(ps) >= 1 && atoi(ps) <= 16 ? (uint32_t)atoi(ps) : 2;
        g = multiprocessors(vk) * per;
        if (!g) g = 1; /* one workgroup where the count is unknown (tests) */
    }
    if (g == 0 || g > vk->props.limits.maxComputeWorkGroupCount[0]) return 0;
    vk->persist_g = g;
    vk->persist_per_sm = per;
    vk->persist_wg = wg;
    const char *sk = getenv("UE_VK_PERSIST_SKIP");
    vk->persist_skip = sk ? (uint32_t)strtoul(sk, NULL, 0) : 0;
    return 1;
}

uint32_t vk_persist_maxnq(const vk_backend *vk) {
    uint32_t sg = vk->subgroup_size ? vk->subgroup_size : 32;
    uint32_t nq = 256 / (4 * sg); /* Gemma 3's widest heads */
    return nq < 2 ? 2 : nq;
}

ue_status vk_persist_init(vk_backend *vk, ue_error *err) {
    if (!vk->persist_g || !vk->pipes[VK_PIPE_DECODE_LAYER]) {
        vk->persist_g = 0;
        return UE_OK;
    }
    ue_status st = vk_buffer_alloc(vk, SYNC_BYTES + (size_t)N_RECORDS * REC_STRIDE,
                                   VK_MEM_SHARED, &vk->persist_mem, err);
    if (st != UE_OK) return st;
    if (!vk->persist_mem->host) { /* no host-visible memory to write records into */
        vk_buffer_free(vk, vk->persist_mem);
        vk->persist_mem = NULL;
        vk->persist_g = 0;
        return UE_OK;
    }
    memset(vk->persist_mem->host, 0, SYNC_BYTES);
    return UE_OK;
}

void vk_persist_destroy(vk_backend *vk) {
    if (vk->persist_mem) vk_buffer_free(vk, vk->persist_mem);
    if (vk->persist_act) vk_buffer_free(vk, vk->persist_act);
    vk->persist_mem = vk->persist_act = NULL;
}

ue_status vk_persist_after_wait(vk_backend *vk, ue_error *err) {
    if (!vk->persist_mem) return UE_OK;
    vk->persist_next = 0;
    volatile uint32_t *sync = vk->persist_mem->host;
    if (!sync[1]) return UE_OK;
    uint32_t g = vk->persist_g;
    vk->persist_g = 0; /* off from now on; the plain ops serve */
    sync[0] = sync[1] = 0;
    vk->persist_total = 0;
    if (vk->persist_probing) return UE_OK; /* grid_verified() tries a smaller grid */
    return ue_fail(err, UE_ERR_DEVICE,
                   "Vulkan: the one-dispatch decode layer's %u workgroups were not all resident "
                   "on %s (a grid barrier timed out), so that token's results are void; it is "
                   "off now (UE_VK_PERSIST=0 keeps it off)", g, vk->props.deviceName);
}

static uint64_t addr_of(const ue_tensor *t) {
    return ((const vk_buf *)t->buf->impl)->addr + t->offset;
}

/* Lanes per row group and rows per group for a matrix: the fewest bytes loaded by the
 * busiest lane (units per workgroup x rounds of two items x (16 weight bytes per item
 * and row + 128 bytes of x per item, which the rows of a group share; 32 values of x
 * per item)), over the grid: x comes through L1 at eight times the weights' bytes. */
static void pick_layout(const vk_backend *vk, int64_t rows, int64_t items, uint32_t max_nr,
                        uint32_t n_mats, dl_mat *m) {
    uint32_t sg = vk->subgroup_size, wg = vk->persist_wg, g = vk->persist_g;
    uint64_t best = UINT64_MAX;
    for (uint32_t gl = sg >= 16 ? 16 : sg; gl <= wg; gl *= 2) {
        if (wg % gl || (gl > sg && gl % sg)) continue;
        for (uint32_t nr = max_nr; nr >= 1; nr--) {
            uint64_t rpw = (uint64_t)nr * (wg / gl), units = ((uint64_t)rows + rpw - 1) / rpw;
            uint64_t rounds = (units + g - 1) / g * (((uint64_t)items + 2 * gl - 1) / (2 * gl));
            uint64_t cost = rounds * (16 * nr * n_mats + 128);
            if (cost < best) best = cost, m->gl = gl, m->nr = nr;
        }
    }
}

/* The record's view of weight matrix w (n_in -> n_out); 0 when the kernel cannot read it.
 * pair: gate or up, summed together (one row per group; x shared by both). */
static int mat_of(vk_backend *vk, const ue_tensor *w, int64_t n_in, int64_t n_out, int pair,
                  dl_mat *m, vk_range *rd) {
    int t = dl_type(w->type);
    const ue_type_traits *ti = ue_type_get(w->type);
    if (t < 0 || w->ne[0] != n_in || w->ne[1] != n_out || n_in % ti->block_size ||
        n_out > UINT32_MAX)
        return 0;
    *m = (dl_mat){.type = (uint32_t)t, .rows = (uint32_t)n_out, .k = (uint32_t)n_in,
                  .row_bytes = (uint32_t)ue_type_row_bytes(w->type, n_in)};
    if (vk_repack_needed(w->type)) {
        vk_repacked rp;
        if (!vk_repack_get(vk, w, &rp)) return 0;
        m->base = ((const vk_buf *)rp.buf->impl)->addr + rp.plane[0];
        m->pl1 = rp.plane[1] - rp.plane[0];
        m->pl2 = rp.plane[2] - rp.plane[0];
        m->pl3 = rp.plane[3] - rp.plane[0];
        *rd = (vk_range){rp.buf, 0, rp.buf->size};
    } else {
        if (w->offset % 16 || m->row_bytes % 16) return 0;
        m->base = addr_of(w);
        *rd = vk_range_of(w);
    }
    int64_t items = t == DL_Q4K || t == DL_Q6K ? n_in / 256 * 8 : n_in / 32 * 4;
    pick_layout(vk, n_out, items, pair ? 1 : 2, pair ? 2 : 1, m);
    return 1;
}

static int f32_len(const ue_tensor *t, int64_t n) {
    return t->type == UE_TYPE_F32 && t->ne[0] * t->ne[1] == n && t->offset % 16 == 0;
}

/* Records one dispatch of record rec (sync_base and skip filled in here). */
static void dispatch_record(vk_backend *vk, dl_record *rec, const vk_range *rd, int n_rd,
                            const vk_range *wr, int n_wr) {
    if (vk->persist_next == N_RECORDS) { /* every record in flight: wait for them */
        ue_error err = {0};
        ue_status st = vk_flush(vk, &err);
        if (st != UE_OK) {
            vk_fail_deferred(vk, st, "%s", err.msg);
            return;
        }
    }
    rec->sync_base = vk->persist_total;
    rec->n_phases = PHASES;
    size_t off = SYNC_BYTES + (size_t)vk->persist_next++ * REC_STRIDE;
    memcpy((char *)vk->persist_mem->host + off, rec, sizeof *rec);
    uint64_t push = ((const vk_buf *)vk->persist_mem->impl)->addr + off;
    VkDescriptorSet sets[4] = {0};
    vk_dispatch(vk, VK_PIPE_DECODE_LAYER, sets, &push, sizeof push, vk->persist_g, 1, 1, rd, n_rd,
                wr, n_wr);
    vk->persist_total += (uint32_t)BARRIERS * vk->persist_g;
}

/* Whether a grid of persist_g workgroups is resident at once, which depends on the
 * registers the driver gave the kernel: a dispatch that only passes its barriers, then
 * half the grid while one times out (down to one workgroup per multiprocessor; a grid
 * the user set is tried as it is). Done once, before the first layer. */
static int grid_verified(vk_backend *vk) {
    if (vk->persist_verified) return 1;
    uint32_t g = vk->persist_g, floor = g / vk->persist_per_sm;
    vk->persist_probing = 1;
    for (; g >= floor && g > 0; g /= 2) {
        vk->persist_g = g;
        dl_record rec = {0};
        rec.skip = ALL_PHASES;
        rec.sync = ((const vk_buf *)vk->persist_mem->impl)->addr;
        vk_range wr = {vk->persist_mem, 0, SYNC_BYTES};
        dispatch_record(vk, &rec, NULL, 0, &wr, 1);
        ue_error err = {0};
        ue_status st = vk_flush(vk, &err); /* a timed-out probe turns persist_g to 0 */
        if (st != UE_OK) { /* an earlier op's error: reported at the next sync */
            vk_fail_deferred(vk, st, "%s", err.msg);
            break;
        }
        if (vk->persist_g) {
            vk->persist_verified = 1;
            break;
        }
    }
    vk->persist_probing = 0;
    if (!vk->persist_verified) vk->persist_g = 0;
    return vk->persist_verified;
}

int vk_op_decode_layer(ue_backend *be, const ue_decode_layer_args *a) {
    vk_backend *vk = (vk_backend *)be;
    if (!vk->persist_g || vk->deferred != UE_OK || !grid_verified(vk)) return 0;
    int64_t E = a->x.ne[0], D = a->head_dim, H = a->n_head, HKV = a->n_head_kv;
    int64_t F = a->w_gate.ne[1], kvd = HKV * D;
    uint32_t sg = vk->subgroup_size;
    int64_t nq = D / (4 * sg);
    if (a->x.ne[1] != 1 || H < 1 || HKV < 1 || H % HKV || D % (4 * sg) ||
        !(nq == 1 || (nq % 2 == 0 && nq <= vk_persist_maxnq(vk))) || a->pos < 0 ||
        a->k_cache.type != UE_TYPE_F32 || a->v_cache.type != UE_TYPE_F32 ||
        a->k_cache.ne[0] != kvd || a->v_cache.ne[0] != kvd || a->pos >= a->k_cache.ne[1] ||
        a->pos >= a->v_cache.ne[1] || a->k_cache.offset % 16 || a->v_cache.offset % 16 ||
        !f32_len(&a->x, E) || !f32_len(&a->xn, E) || a->w_up.type != a->w_gate.type)
        return 0;
    const ue_tensor *norms[6] = {&a->q_norm, &a->k_norm, &a->post_attn_norm, &a->ffn_norm,
                                 &a->post_ffw_norm, a->next_norm ? a->next_norm : &a->ffn_norm};
    for (int i = 0; i < 6; i++)
        if (norms[i]->type != UE_TYPE_F32 || norms[i]->ne[0] != (i < 2 ? D : E) ||
            norms[i]->offset % 4)
            return 0;
    /* the kernel's own scratch (the model's overlays tensors by the plain ops' liveness,
     * which the phases of one dispatch do not keep): q, k, v, attn, o, g (16-byte
     * aligned), the attention partials, then two rows per workgroup */
    int64_t act[6] = {H * D, kvd, kvd, H * D, E, F};
    size_t act_off[6], at = 0;
    for (int i = 0; i < 6; i++) act_off[i] = at, at += ((size_t)act[i] * 4 + 15) & ~(size_t)15;
    size_t part_off = at, h_off = part_off + (size_t)H * MAX_SPLIT * (size_t)(D + 4) * 4;
    ue_error err = {0};
    if (vk_buffer_reserve(vk, &vk->persist_act, h_off + (size_t)vk->persist_g * 8 * (size_t)E,
                          &err) != UE_OK)
        return 0;

    dl_record rec = {0};
    vk_range rd[24];
    int n_rd = 0;
    const ue_tensor *mats[7] = {&a->wq, &a->wk, &a->wv, &a->wo, &a->w_gate, &a->w_up, &a->w_down};
    const int64_t ins[7] = {E, E, E, H * D, E, E, F}, outs[7] = {H * D, kvd, kvd, E, F, F, E};
    for (int i = 0; i < 7; i++)
        if (!mat_of(vk, mats[i], ins[i], outs[i], i == 4 || i == 5, &rec.m[i], &rd[n_rd++]))
            return 0;
    rec.m[5].gl = rec.m[4].gl, rec.m[5].nr = rec.m[4].nr; /* one layout for the pair */

    uint64_t *nw[6] = {&rec.nq, &rec.nk, &rec.npa, &rec.nffn, &rec.npf, &rec.nnext};
    for (int i = 0; i < 6; i++) {
        *nw[i] = addr_of(norms[i]);
        rd[n_rd++] = vk_range_of(norms[i]);
    }
    const ue_tensor *state[4] = {&a->x, &a->xn, &a->k_cache, &a->v_cache};
    uint64_t *sa[4] = {&rec.x, &rec.xn, &rec.kc, &rec.vc};
    vk_range wr[8];
    int n_wr = 0;
    for (int i = 0; i < 4; i++) {
        *sa[i] = addr_of(state[i]);
        wr[n_wr++] = vk_range_of(state[i]);
    }
    uint64_t scr = ((const vk_buf *)vk->persist_act->impl)->addr;
    uint64_t *acts[6] = {&rec.q, &rec.k, &rec.v, &rec.attn, &rec.o, &rec.g};
    for (int i = 0; i < 6; i++) *acts[i] = scr + act_off[i];
    rec.part = scr + part_off;
    rec.h = scr + h_off;
    rec.sync = ((const vk_buf *)vk->persist_mem->impl)->addr;
    wr[n_wr++] = (vk_range){vk->persist_act, 0, vk->persist_act->size};
    wr[n_wr++] = (vk_range){vk->persist_mem, 0, SYNC_BYTES};

    /* key splits: about one per subgroup of the grid over all KV heads, at least
     * MIN_SPLIT_KEYS keys, a multiple of the kernel's keys per step, at most MAX_SPLIT */
    int64_t first = a->window > 0 && a->pos - a->window + 1 > 0 ? a->pos - a->window + 1 : 0;
    int64_t nkeys = a->pos - first + 1, warps = (int64_t)vk->persist_g * (vk->persist_wg / sg);
    int64_t sk = (nkeys * HKV + warps - 1) / warps;
    if (sk < MIN_SPLIT_KEYS) sk = MIN_SPLIT_KEYS;
    if (sk < (nkeys + MAX_SPLIT - 1) / MAX_SPLIT) sk = (nkeys + MAX_SPLIT - 1) / MAX_SPLIT;
    sk = (sk + KPI - 1) / KPI * KPI;
    rec.n_embd = (uint32_t)E, rec.n_head = (uint32_t)H, rec.n_head_kv = (uint32_t)HKV;
    rec.head_dim = (uint32_t)D, rec.pos = (uint32_t)a->pos, rec.first = (uint32_t)first;
    rec.has_next = a->next_norm != NULL;
    rec.split_keys = (uint32_t)sk, rec.n_split = (uint32_t)((nkeys + sk - 1) / sk);
    rec.skip = vk->persist_skip;
    rec.eps = a->eps, rec.scale = a->scale, rec.freq_scale = a->freq_scale;
    rec.log2_base = (float)log2((double)a->base);

    dispatch_record(vk, &rec, rd, n_rd, wr, n_wr);
    return 1;
}

#else
typedef int ue_vk_persist_not_built;
#endif
