/* Vulkan backend: the ops of backend.h, each turned into push constants and one or two
 * dispatches (shaders/<op>.comp). Offsets of f32 tensors go to the shaders in floats, of
 * weights in bytes. A tensor the shaders cannot address (misaligned, too large) becomes
 * an error reported at the next sync, since ops return nothing. */
#ifdef UE_HAVE_VULKAN_BACKEND
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/vulkan/vk_internal.h"

enum {
    MV_MAX_TOKENS = 4,   /* up to this many tokens take the matrix-vector kernel */
    MM_TILE = 64,        /* BM = BN of mul_mm.comp */
    MMC_TILE_M = 64,     /* BM of mul_mmc.comp (BN: vk->mmc_bn) */
    MMC_SPLIT_MIN_K = 512, /* shortest split-K slice of mul_mmc.comp (mmc_splits) */
    MMC_PARTS_BYTES = 16 << 20, /* the split-K partials' ring, at least */
    MMCB_TILE = 128,     /* BM = BN of mul_mmcb.comp */
    MMC_WIDE_WEIGHTS = 1 << 21, /* 4B's smallest matrix has 2.6M weights, 270M's largest 1.3M */
    /* mul_mmc for matrices of at least this many weights; UE_VK_MMC_MIN overrides it
     * (measured on an H100: with per-subgroup output staging every size of the 270M and
     * 4B models ran faster on mul_mmc than on the tiled kernel) */
    MMC_MIN_WEIGHTS = 0,
    ATT_SPLIT_KEYS = 64, /* keys per workgroup when split: short serial chains */
    ATT_MAX_SPLIT = 64,
    MAX_GRID_X = 65535,
};

size_t vk_tensor_bytes(const ue_tensor *t) {
    return ue_type_row_bytes(t->type, t->ne[0]) * (size_t)t->ne[1];
}

vk_range vk_range_of(const ue_tensor *t) {
    vk_range r = {t->buf, t->offset, t->offset + vk_tensor_bytes(t)};
    return r;
}
#define range_of vk_range_of
#define bind_t vk_bind_tensor
#define off4 vk_off4
#define check_type vk_check_type

vk_bind vk_bind_tensor(vk_backend *vk, const ue_tensor *t) {
    vk_range r = range_of(t);
    return vk_window(vk, t->buf, r.lo, r.hi);
}

uint32_t vk_off4(vk_backend *vk, const ue_tensor *t, const vk_bind *b, const char *what) {
    size_t rel = t->offset - b->base;
    if (t->offset % 4 || rel / 4 > UINT32_MAX) {
        vk_fail_deferred(vk, UE_ERR_UNSUPPORTED, "Vulkan: %s at byte offset %zu is not 4-byte aligned",
                         what, t->offset);
        return 0;
    }
    return (uint32_t)(rel / 4);
}

/* Rows of a weight matrix per piece, so each piece fits one storage-buffer window. */
static int64_t rows_per_piece(const vk_backend *vk, const ue_tensor *w) {
    size_t row_bytes = ue_type_row_bytes(w->type, w->ne[0]);
    int64_t n = row_bytes ? (int64_t)(vk_max_span(vk) / row_bytes) : w->ne[1];
    return n < 1 ? 1 : n;
}

int vk_check_type(vk_backend *vk, const ue_tensor *t, ue_type want, const char *what) {
    if (t->type == want) return 1;
    vk_fail_deferred(vk, UE_ERR_UNSUPPORTED, "Vulkan: %s has type %d, expected %d", what,
                     (int)t->type, (int)want);
    return 0;
}

/* Splits n workgroups into a grid of x <= 65535 and y (shaders use wg_linear()). */
static void fold(uint32_t n, uint32_t *gx, uint32_t *gy) {
    *gx = n < MAX_GRID_X ? n : MAX_GRID_X;
    *gy = *gx ? (n + *gx - 1) / *gx : 0;
}

static uint32_t ceil_div(int64_t a, int64_t b) { return (uint32_t)((a + b - 1) / b); }

void vk_op_get_rows(ue_backend *be, const ue_tensor *table, const ue_tensor *ids, float scale,
                    const ue_tensor *out) {
    vk_backend *vk = (vk_backend *)be;
    int t = vk_wtype_index(table->type);
    if (t < 0 || table->offset % 2) {
        vk_fail_deferred(vk, UE_ERR_UNSUPPORTED, "Vulkan: get_rows of type %d", (int)table->type);
        return;
    }
    if (!check_type(vk, out, UE_TYPE_F32, "get_rows output")) return;
    vk_bind bi = bind_t(vk, ids), bo = bind_t(vk, out);
    vk_range wr = range_of(out);
    size_t row_bytes = ue_type_row_bytes(table->type, table->ne[0]);
    int64_t per = rows_per_piece(vk, table);
    for (int64_t r0 = 0; r0 < table->ne[1]; r0 += per) {
        ue_tensor piece = ue_tensor_rows(table, r0, r0 + per < table->ne[1] ? per : table->ne[1] - r0);
        vk_bind bt = bind_t(vk, &piece);
        struct {
            uint32_t t_off, row_bytes, id_off, o_off, o_stride, ne0, n_rows;
            float scale;
            uint32_t row_lo, row_hi, zero_bad;
        } pc = {(uint32_t)(piece.offset - bt.base), (uint32_t)row_bytes,
                off4(vk, ids, &bi, "ids"), off4(vk, out, &bo, "get_rows output"),
                (uint32_t)out->ne[0], (uint32_t)table->ne[0], (uint32_t)table->ne[1], scale,
                (uint32_t)r0, (uint32_t)(r0 + piece.ne[1]), r0 == 0};
        VkDescriptorSet sets[4] = {bt.set, VK_NULL_HANDLE, bo.set, bi.set};
        vk_range rd[2] = {range_of(&piece), range_of(ids)};
        vk_dispatch(vk, VK_PIPE_GET_ROWS + t, sets, &pc, sizeof pc, ceil_div(table->ne[0], 256),
                    (uint32_t)ids->ne[0], 1, rd, 2, &wr, 1);
    }
}

void vk_op_rms_norm(ue_backend *be, const ue_tensor *x, const ue_tensor *w, float eps,
                    const ue_tensor *out) {
    vk_backend *vk = (vk_backend *)be;
    if (!check_type(vk, x, UE_TYPE_F32, "rms_norm input") ||
        !check_type(vk, w, UE_TYPE_F32, "rms_norm weight") ||
        !check_type(vk, out, UE_TYPE_F32, "rms_norm output"))
        return;
    vk_bind bx = bind_t(vk, x), bw = bind_t(vk, w), bo = bind_t(vk, out);
    struct {
        uint32_t x_off, x_stride, w_off, o_off, o_stride, n, n_rows;
        float eps;
    } pc = {off4(vk, x, &bx, "rms_norm input"), (uint32_t)x->ne[0],
            off4(vk, w, &bw, "rms_norm weight"), off4(vk, out, &bo, "rms_norm output"),
            (uint32_t)out->ne[0], (uint32_t)x->ne[0], (uint32_t)x->ne[1], eps};
    VkDescriptorSet sets[4] = {bx.set, bw.set, bo.set, VK_NULL_HANDLE};
    vk_range rd[2] = {range_of(x), range_of(w)}, wr = range_of(out);
    uint32_t gx, gy;
    fold((uint32_t)x->ne[1], &gx, &gy);
    vk_dispatch(vk, VK_PIPE_RMS_NORM, sets, &pc, sizeof pc, gx, gy, 1, rd, 2, &wr, 1);
}

/* The set and plane offsets (pl) through which mul_mvf.comp reads weight matrix w:
 * in place, or its repacked copy (recording the repack when needed); 0 when its layout
 * does not allow the aligned loads. */
int vk_mvf_weights(vk_backend *vk, const ue_tensor *w, VkDescriptorSet *set, uint32_t pl[4],
                   vk_range *rd) {
    size_t row_bytes = ue_type_row_bytes(w->type, w->ne[0]);
    memset(pl, 0, 4 * sizeof pl[0]);
    if (vk_repack_needed(w->type)) {
        vk_repacked rp;
        if (!vk_repack_get(vk, w, &rp)) return 0;
        *set = vk_window(vk, rp.buf, 0, rp.buf->size).set;
        memcpy(pl, rp.plane, 4 * sizeof pl[0]);
        *rd = (vk_range){rp.buf, 0, rp.buf->size};
        return 1;
    }
    vk_bind bw = bind_t(vk, w);
    if ((w->offset - bw.base) % 16 || row_bytes % 16) return 0;
    *set = bw.set;
    pl[0] = (uint32_t)(w->offset - bw.base);
    *rd = range_of(w);
    return 1;
}

static ue_buffer *mmc_partials(vk_backend *vk, size_t bytes, size_t *at);
static int mmc_ring_room(vk_backend *vk, size_t bytes);

int vk_q16_room(vk_backend *vk, int64_t k, int64_t n_tok, vk_bind *bq, vk_range *rq) {
    size_t bytes = vk_q16_row_bytes(k) * (size_t)n_tok, at = 0;
    ue_buffer *qb = mmc_partials(vk, bytes, &at);
    if (!qb) return 0;
    *bq = vk_window(vk, qb, at, at + bytes);
    *rq = (vk_range){qb, at, at + bytes};
    return 1;
}

/* The kept copy of x in form f16 (0: 16-bit integers, 1: f16 values), if there is one. */
static int copy_cached(const vk_backend *vk, const ue_tensor *x, int f16, vk_bind *b, vk_range *r) {
    vk_range rx = range_of(x);
    if (!vk->q16.valid || vk->q16.f16 != f16 || rx.buf != vk->q16.src.buf ||
        rx.lo != vk->q16.src.lo || rx.hi != vk->q16.src.hi)
        return 0;
    *b = vk->q16.bind;
    *r = vk->q16.at;
    return 1;
}

int vk_q16_cached(const vk_backend *vk, const ue_tensor *x, vk_bind *bq, vk_range *rq) {
    return copy_cached(vk, x, 0, bq, rq);
}

/* Keeps src's copy at `at` (seen through bind) in form f16, the last one made. */
static void copy_keep(vk_backend *vk, vk_range src, vk_range at, vk_bind bind, int f16) {
    vk->q16.src = src, vk->q16.at = at, vk->q16.bind = bind, vk->q16.valid = 1, vk->q16.f16 = f16;
}

void vk_q16_keep(vk_backend *vk, vk_range src, vk_range at, vk_bind bind) { copy_keep(vk, src, at, bind, 0); }

static void eltwise(vk_backend *vk, int pipe, const ue_tensor *a, const ue_tensor *b, int copy);

/* x (n_tok rows of K floats) as f16 rows for mul_mmcb.comp in the next region of the
 * scratch ring, unless the last call made them from the same x (q, k and v, gate and up
 * read one x); its window and range, or 0 when no room. Converting once instead of in
 * every 128 x 128 tile: measured on an H100 (docs/PERFORMANCE.md, run 72) the tiles'
 * conversion and f32 loads cost 18-21% of a 4B or 27B prefill. */
static int x_as_f16(vk_backend *vk, const ue_tensor *x, vk_bind *bh, vk_range *rh) {
    if (copy_cached(vk, x, 1, bh, rh)) return 1;
    size_t bytes = (size_t)x->ne[0] * (size_t)x->ne[1] * 2, at = 0;
    ue_buffer *hb = mmc_partials(vk, bytes, &at);
    if (!hb) return 0;
    ue_tensor h = {.buf = hb, .offset = at, .type = UE_TYPE_F16, .ne = {x->ne[0], x->ne[1]}};
    eltwise(vk, VK_PIPE_COPY_F16, x, &h, 1);
    *bh = vk_window(vk, hb, at, at + bytes);
    *rh = (vk_range){hb, at, at + bytes};
    copy_keep(vk, range_of(x), *rh, *bh, 1);
    return 1;
}

/* x (n_tok rows of K floats) quantized for the integer-dot mat-vecs (quant_q16.comp) into
 * the next region of the scratch ring, unless a producer left it so; its window and range,
 * or 0 when no room. */
static int quantize_q16(vk_backend *vk, const ue_tensor *x, const vk_bind *bx, vk_bind *bq,
                        vk_range *rq) {
    if (vk_q16_cached(vk, x, bq, rq)) return 1;
    int64_t K = x->ne[0];
    if (!vk_q16_room(vk, K, x->ne[1], bq, rq)) return 0;
    size_t at = rq->lo;
    struct {
        uint32_t x_off, x_stride, q_off, q_stride, K;
    } pc = {(uint32_t)((x->offset - bx->base) / 4), (uint32_t)K, (uint32_t)((at - bq->base) / 16),
            (uint32_t)(vk_q16_row_bytes(K) / 16), (uint32_t)K};
    VkDescriptorSet sets[4] = {bx->set, VK_NULL_HANDLE, bq->set, VK_NULL_HANDLE};
    vk_range rx = range_of(x);
    vk_dispatch(vk, VK_PIPE_QUANT_Q16, sets, &pc, sizeof pc, ceil_div(K / 32, 64),
                (uint32_t)x->ne[1], 1, &rx, 1, rq, 1);
    vk_q16_keep(vk, rx, *rq, *bq);
    return 1;
}

/* Records mul_mvf.comp (or, with w_up, the fused gelu(w x) * (w_up x) of mul_mvg) for
 * piece w (rows r0.. of the matrix); 0 when the layouts do not allow it (then the caller
 * uses mul_mv). */
int vk_matvec_fast(vk_backend *vk, const ue_tensor *w, const ue_tensor *w_up, const ue_tensor *x,
                   const ue_tensor *out, int64_t r0, const vk_bind *bx, const vk_bind *bo) {
    int t = vk_wtype_index(w->type);
    int64_t K = w->ne[0], qk = ue_type_get(w->type)->block_size;
    int pipe = (w_up ? VK_PIPE_MUL_MVG : VK_PIPE_MUL_MVF) + t;
    if (t < 0 || !vk->pipes[pipe] || (x->offset - bx->base) % 16 || x->ne[0] % 4 ||
        out->offset % 4 || vk->no_mvf)
        return 0;
    if (qk == 1 && K % (w->type == UE_TYPE_F32 ? 4 : 8)) return 0;
    if (w_up && (w_up->type != w->type || w_up->ne[0] != K || w_up->ne[1] != w->ne[1])) return 0;
    struct {
        uint32_t x_off, x_stride, o_off, o_stride, K, N, row_bytes, pl[4], ul[4];
    } pc = {(uint32_t)((x->offset - bx->base) / 4), (uint32_t)x->ne[0],
            (uint32_t)((out->offset - bo->base) / 4 + (size_t)r0), (uint32_t)out->ne[0],
            (uint32_t)K, (uint32_t)w->ne[1], (uint32_t)ue_type_row_bytes(w->type, K),
            {0, 0, 0, 0}, {0, 0, 0, 0}};
    VkDescriptorSet sets[4] = {VK_NULL_HANDLE, bx->set, bo->set, VK_NULL_HANDLE};
    vk_range rd[3] = {{0}, range_of(x), {0}};
    if (!vk_mvf_weights(vk, w, &sets[0], pc.pl, &rd[0])) return 0;
    if (w_up && !vk_mvf_weights(vk, w_up, &sets[3], pc.ul, &rd[2])) return 0;
    /* Q4_K / Q6_K with integer dot products: x quantized to 16 bits first */
    int qpipe = (w_up ? VK_PIPE_MUL_MVGQ : VK_PIPE_MUL_MVFQ) + t;
    vk_bind bq;
    if (vk->idot && vk->pipes[qpipe] && K % 64 == 0 && quantize_q16(vk, x, bx, &bq, &rd[1])) {
        pipe = qpipe;
        sets[1] = bq.set;
        pc.x_off = (uint32_t)((rd[1].lo - bq.base) / 4);
        pc.x_stride = (uint32_t)(vk_q16_row_bytes(K) / 4); /* words */
    }
    vk_range wr = range_of(out);
    uint32_t gx, gy;
    fold(ceil_div(w->ne[1], vk->mvf_rpw), &gx, &gy);
    vk_dispatch(vk, pipe, sets, &pc, sizeof pc, gx, gy, (uint32_t)x->ne[1], rd, w_up ? 3 : 2,
                &wr, 1);
    return 1;
}

int64_t vk_mmc_min_weights(void) {
    const char *e = getenv("UE_VK_MMC_MIN");
    return e ? atoll(e) : MMC_MIN_WEIGHTS;
}

/* The push constants of mul_mmc.comp / mul_mmcb.comp (include/mv_items.glsl's block, then
 * mul_mmc's split-K fields). */
typedef struct mmc_push {
    uint32_t x_off, x_stride, o_off, o_stride, K, N, row_bytes, pl[4], ul[4], n_tok;
    uint32_t k_split, part_stride;
} mmc_push;

/* K slices for mul_mmc.comp when its tiles give fewer than vk->mmc_split_below
 * workgroups (short prompts: the 270M's down projection has 10 at 64 tokens, the 4B's
 * o and down 40), about vk->mmc_split_groups workgroups in all: at most 8 slices, each at
 * least MMC_SPLIT_MIN_K long and a multiple of 32 (k_split); 1: no split, also for
 * matmuls recorded side by side (q, k, v). Measured on an H200 (docs/PERFORMANCE.md,
 * runs 41-45): shorter slices, splits of grids of 64+ workgroups and of q / k / v did
 * not pay for the partial sums and their added dispatch. */
static uint32_t mmc_splits(const vk_backend *vk, uint32_t groups, int64_t K, uint32_t *k_split) {
    if (groups >= vk->mmc_split_below || vk->mmc_side_by_side) return 1;
    uint32_t want = (vk->mmc_split_groups + groups - 1) / groups;
    int64_t most = K / MMC_SPLIT_MIN_K < 8 ? K / MMC_SPLIT_MIN_K : 8;
    if (want > most) want = (uint32_t)most;
    if (want <= 1) return 1;
    int64_t len = ((K + want - 1) / want + 31) / 32 * 32;
    *k_split = (uint32_t)len;
    return (uint32_t)((K + len - 1) / len);
}

/* Whether a batch of n tokens takes 128-token tiles (matrices of MMC_WIDE_WEIGHTS+, where
 * mul_mmcb.comp does not serve them): from 256 tokens, and shorter batches that leave at
 * most 32 of a tile's tokens idle (H200, 4B: 128 tokens +21% over 64-token tiles, 192
 * -3.5%, run 47). */
static int mmcw_batch(int64_t n) { return n >= 256 || (n >= 96 && (128 - n % 128) % 128 <= 32); }

/* A ring of at least 4 regions of `bytes`. Growing it frees the old buffer (once what was
 * recorded has run), so a kernel that takes two regions (x as f16 and its split-K
 * partials) makes room for both before it takes either; 0 when it cannot. */
static int mmc_ring_room(vk_backend *vk, size_t bytes) {
    size_t region = (bytes + 255) & ~(size_t)255;
    if (region > vk_max_span(vk)) return 0;
    if (vk->mmc_parts && vk->mmc_parts->size >= 4 * region) return 1;
    vk->q16.valid = 0; /* a copy kept in the old ring goes with it */
    ue_error err = {0};
    size_t size = 4 * region < MMC_PARTS_BYTES ? MMC_PARTS_BYTES : 4 * region;
    if (vk_buffer_reserve(vk, &vk->mmc_parts, size, &err) != UE_OK) return 0;
    vk->mmc_parts_next = 0;
    return 1;
}

/* Room for split-K partial sums: the next region of a ring in its own buffer, so
 * independent matmuls (q, k, v) do not wait for each other's partials (the stream's
 * hazards are by byte range); NULL when it cannot be had (then no split). */
static ue_buffer *mmc_partials(vk_backend *vk, size_t bytes, size_t *at) {
    size_t region = (bytes + 255) & ~(size_t)255;
    vk->q16.valid = 0; /* the ring may come round to its region */
    if (!mmc_ring_room(vk, bytes)) return NULL;
    if (vk->mmc_parts_next + region > vk->mmc_parts->size) vk->mmc_parts_next = 0;
    *at = vk->mmc_parts_next;
    vk->mmc_parts_next += region;
    return vk->mmc_parts;
}

/* Records a tile kernel (mul_mmc.comp / mul_mmcb.comp) over a gx x gy grid into the
 * output of pc / bo, split-K where mmc_splits says so: the slices' partial tiles
 * [splits][tokens][rows] in the ring, then their sum into the output. */
static void record_tiles(vk_backend *vk, int pipe, VkDescriptorSet sets[4], mmc_push *pc,
                         uint32_t gx, uint32_t gy, const vk_range rd[2], const vk_range *wr,
                         const vk_bind *bo) {
    uint32_t splits = mmc_splits(vk, gx * gy, pc->K, &pc->k_split);
    if (splits > 1) {
        uint32_t N = pc->N, n_tok = pc->n_tok;
        size_t part_bytes = (size_t)splits * n_tok * N * sizeof(float), at = 0;
        ue_buffer *pb = mmc_partials(vk, part_bytes, &at);
        if (pb) {
            vk_bind bp = vk_window(vk, pb, at, at + part_bytes);
            vk_range pr = {pb, at, at + part_bytes};
            mmc_push ps = *pc;
            ps.o_off = (uint32_t)((at - bp.base) / 4), ps.o_stride = N, ps.part_stride = n_tok * N;
            VkDescriptorSet psets[4] = {sets[0], sets[1], bp.set, sets[3]};
            vk_dispatch(vk, pipe, psets, &ps, sizeof ps, gx, gy, splits, rd, 2, &pr, 1);
            struct {
                uint32_t p_off, part_stride, N, o_off, o_stride, splits;
            } sc = {ps.o_off, ps.part_stride, N, pc->o_off, pc->o_stride, splits};
            VkDescriptorSet ssets[4] = {bp.set, VK_NULL_HANDLE, bo->set, VK_NULL_HANDLE};
            vk_dispatch(vk, VK_PIPE_SUM_PARTS, ssets, &sc, sizeof sc, ceil_div(N, 256), n_tok, 1,
                        &pr, 1, wr, 1);
            return;
        }
    }
    pc->k_split = pc->K; /* one pass */
    vk_dispatch(vk, pipe, sets, pc, sizeof *pc, gx, gy, 1, rd, 2, wr, 1);
}

/* Records mul_mmc.comp (prefill on the matrix units) for piece w; 0 when the device,
 * type or layouts do not allow it (then the caller uses mul_mm). */
static int matmat_coopmat(vk_backend *vk, const ue_tensor *w, const ue_tensor *x,
                          const ue_tensor *out, int64_t r0, const vk_bind *bx, const vk_bind *bo) {
    int t = vk_wtype_index(w->type);
    int64_t K = w->ne[0];
    if (!vk->coopmat || t < 0 || !vk->pipes[VK_PIPE_MUL_MMC + t] || K % 32 ||
        K * w->ne[1] < vk->mmc_min_weights ||
        (x->offset - bx->base) % 16 || x->ne[0] % 4 || out->offset % 4)
        return 0;
    mmc_push pc = {(uint32_t)((x->offset - bx->base) / 4), (uint32_t)x->ne[0],
            (uint32_t)((out->offset - bo->base) / 4 + (size_t)r0), (uint32_t)out->ne[0],
            (uint32_t)K, (uint32_t)w->ne[1], (uint32_t)ue_type_row_bytes(w->type, K),
            {0, 0, 0, 0}, {0, 0, 0, 0}, (uint32_t)x->ne[1], (uint32_t)K, 0};
    VkDescriptorSet sets[4] = {VK_NULL_HANDLE, bx->set, bo->set, VK_NULL_HANDLE};
    vk_range rd[2] = {{0}, range_of(x)};
    if (!vk_mvf_weights(vk, w, &sets[0], pc.pl, &rd[0])) return 0;
    vk_range wr = range_of(out);
    /* 128 x 128 tiles (mul_mmcb.comp) for large matrices (vk->mmcb_min_*), over x as f16
     * (offset and stride in f16 values, whole 16-byte groups) */
    if (vk->pipes[VK_PIPE_MUL_MMCB + t] && K * w->ne[1] >= vk->mmcb_min_weights &&
        x->ne[1] >= vk->mmcb_min_tokens) {
        /* the ring holds x as f16 and the split-K partials record_tiles may take */
        uint32_t gx = ceil_div(w->ne[1], MMCB_TILE), gy = ceil_div(x->ne[1], MMCB_TILE), ks = 0;
        uint32_t splits = mmc_splits(vk, gx * gy, K, &ks);
        size_t x16_bytes = (size_t)K * (size_t)x->ne[1] * 2;
        size_t part_bytes = splits > 1 ? (size_t)splits * (size_t)x->ne[1] * (size_t)w->ne[1] * 4 : 0;
        vk_bind bh;
        vk_range rh;
        if (mmc_ring_room(vk, x16_bytes > part_bytes ? x16_bytes : part_bytes) &&
            x_as_f16(vk, x, &bh, &rh) && (rh.lo - bh.base) % 16 == 0) {
            mmc_push ph = pc;
            ph.x_off = (uint32_t)((rh.lo - bh.base) / 2), ph.x_stride = (uint32_t)K;
            VkDescriptorSet hsets[4] = {sets[0], bh.set, sets[2], sets[3]};
            vk_range hd[2] = {rd[0], rh};
            record_tiles(vk, VK_PIPE_MUL_MMCB + t, hsets, &ph, gx, gy, hd, &wr, bo);
            return 1;
        }
    }
    /* 128-token tiles for matrices of MMC_WIDE_WEIGHTS or more in long batches (measured on
     * an H100: 1.6% faster on the 4B model than a rule keeping 256+ workgroups; UE_VK_MMC
     * fixes one width) and in short ones that fill them (mmcw_batch) */
    int wide = !getenv("UE_VK_MMC") && mmcw_batch(x->ne[1]) &&
               vk->pipes[VK_PIPE_MUL_MMCW + t] && K * w->ne[1] >= MMC_WIDE_WEIGHTS;
    record_tiles(vk, (wide ? VK_PIPE_MUL_MMCW : VK_PIPE_MUL_MMC) + t, sets, &pc,
                 ceil_div(w->ne[1], MMC_TILE_M), ceil_div(x->ne[1], wide ? 128 : vk->mmc_bn), rd,
                 &wr, bo);
    return 1;
}

void vk_op_matmul(ue_backend *be, const ue_tensor *w, const ue_tensor *x, const ue_tensor *out) {
    vk_backend *vk = (vk_backend *)be;
    int t = vk_wtype_index(w->type);
    if (t < 0 || w->offset % 2) {
        vk_fail_deferred(vk, UE_ERR_UNSUPPORTED, "Vulkan: matmul with weights of type %d at %zu",
                         (int)w->type, w->offset);
        return;
    }
    if (!check_type(vk, x, UE_TYPE_F32, "matmul input") ||
        !check_type(vk, out, UE_TYPE_F32, "matmul output"))
        return;
    /* Activations larger than a storage-buffer window (the vision encoder's 4096 x 4304
     * FFN rows on a device with a 128 MiB range): in token pieces that fit one. */
    size_t span = vk_max_span(vk), xrow = ue_type_row_bytes(x->type, x->ne[0]);
    size_t orow = ue_type_row_bytes(out->type, out->ne[0]);
    if ((vk_tensor_bytes(x) > span || vk_tensor_bytes(out) > span) && x->ne[1] > 1) {
        int64_t per = (int64_t)(span / (xrow > orow ? xrow : orow));
        if (per > MMCB_TILE) per -= per % MMCB_TILE; /* whole token tiles */
        if (per < 1) per = 1; /* a row past the span fails below */
        for (int64_t t0 = 0; t0 < x->ne[1]; t0 += per) {
            int64_t nt = x->ne[1] - t0 < per ? x->ne[1] - t0 : per;
            ue_tensor xv = ue_tensor_rows(x, t0, nt), ov = ue_tensor_rows(out, t0, nt);
            vk_op_matmul(be, w, &xv, &ov);
        }
        return;
    }
    int64_t n_tok = x->ne[1];
    vk_bind bx = bind_t(vk, x), bo = bind_t(vk, out);
    vk_range wr = range_of(out);
    int64_t per = rows_per_piece(vk, w);
    /* Output rows in pieces when the matrix is larger than a storage-buffer window. */
    for (int64_t r0 = 0; r0 < w->ne[1]; r0 += per) {
        ue_tensor piece = ue_tensor_rows(w, r0, r0 + per < w->ne[1] ? per : w->ne[1] - r0);
        vk_bind bw = bind_t(vk, &piece);
        struct {
            uint32_t w_off, row_bytes, x_off, x_stride, o_off, o_stride, K, N, n_tok;
        } pc = {(uint32_t)(piece.offset - bw.base), (uint32_t)ue_type_row_bytes(w->type, w->ne[0]),
                off4(vk, x, &bx, "matmul input"), (uint32_t)x->ne[0],
                off4(vk, out, &bo, "matmul output") + (uint32_t)r0, (uint32_t)out->ne[0],
                (uint32_t)w->ne[0], (uint32_t)piece.ne[1], (uint32_t)n_tok};
        VkDescriptorSet sets[4] = {bw.set, bx.set, bo.set, VK_NULL_HANDLE};
        vk_range rd[2] = {range_of(&piece), range_of(x)};
        if (n_tok <= MV_MAX_TOKENS && piece.ne[1] <= vk->mvs_rows_max &&
            vk_matvec_split(vk, &piece, x, out, r0, &bx, &bo))
            continue; /* few rows: split-K kernel (vk_decode.c) */
        if (n_tok <= MV_MAX_TOKENS && vk_matvec_fast(vk, &piece, NULL, x, out, r0, &bx, &bo))
            continue;
        if (n_tok <= MV_MAX_TOKENS) {
            uint32_t gx, gy;
            /* rows per workgroup: NR of mul_mv.comp */
            int nr = w->type == UE_TYPE_Q4_K || w->type == UE_TYPE_Q5_K ? 4 : 2;
            fold(ceil_div(piece.ne[1], nr), &gx, &gy);
            vk_dispatch(vk, VK_PIPE_MUL_MV + t, sets, &pc, sizeof pc, gx, gy, (uint32_t)n_tok,
                        rd, 2, &wr, 1);
        } else if (!matmat_coopmat(vk, &piece, x, out, r0, &bx, &bo)) {
            vk_dispatch(vk, VK_PIPE_MUL_MM + t, sets, &pc, sizeof pc, ceil_div(piece.ne[1], MM_TILE),
                        ceil_div(n_tok, MM_TILE), 1, rd, 2, &wr, 1);
        }
    }
}

void vk_op_rope(ue_backend *be, const ue_tensor *x, int head_dim, int n_rot, int64_t pos0,
                float base, float freq_scale) {
    vk_backend *vk = (vk_backend *)be;
    if (!check_type(vk, x, UE_TYPE_F32, "rope input")) return;
    if (head_dim <= 0 || n_rot <= 0 || n_rot > head_dim || n_rot % 2 || x->ne[0] % head_dim ||
        pos0 < 0 || pos0 + x->ne[1] > UINT32_MAX) {
        vk_fail_deferred(vk, UE_ERR_ARGUMENT, "Vulkan: rope head_dim %d n_rot %d row %lld",
                         head_dim, n_rot, (long long)x->ne[0]);
        return;
    }
    uint32_t n_heads = (uint32_t)(x->ne[0] / head_dim);
    vk_bind bx = bind_t(vk, x);
    struct {
        uint32_t x_off, x_stride, n_heads, head_dim, n_rot, pos0;
        float log2_base, freq_scale;
    } pc = {off4(vk, x, &bx, "rope input"), (uint32_t)x->ne[0], n_heads, (uint32_t)head_dim,
            (uint32_t)n_rot, (uint32_t)pos0, (float)log2((double)base), freq_scale};
    VkDescriptorSet sets[4] = {bx.set, VK_NULL_HANDLE, VK_NULL_HANDLE, VK_NULL_HANDLE};
    vk_range rw = range_of(x);
    vk_dispatch(vk, VK_PIPE_ROPE, sets, &pc, sizeof pc, ceil_div((int64_t)n_heads * (n_rot / 2), 64),
                (uint32_t)x->ne[1], 1, &rw, 1, &rw, 1);
}

/* One element-wise dispatch over rows: a is read and written (or only read for copies),
 * b read (or written for copies). */
static void eltwise(vk_backend *vk, int pipe, const ue_tensor *a, const ue_tensor *b, int copy) {
    vk_bind ba = bind_t(vk, a), bb = bind_t(vk, b);
    uint32_t b_off = b->type == UE_TYPE_F16 ? (uint32_t)((b->offset - bb.base) / 2)
                                            : off4(vk, b, &bb, "operand");
    if (b->type == UE_TYPE_F16 && b->offset % 2) {
        vk_fail_deferred(vk, UE_ERR_UNSUPPORTED, "Vulkan: f16 rows at an odd byte offset");
        return;
    }
    struct {
        uint32_t a_off, a_stride, b_off, b_stride, n, n_rows;
    } pc = {off4(vk, a, &ba, "operand"), (uint32_t)a->ne[0], b_off, (uint32_t)b->ne[0],
            (uint32_t)a->ne[0], (uint32_t)a->ne[1]};
    VkDescriptorSet bufs[4] = {ba.set, bb.set, VK_NULL_HANDLE, VK_NULL_HANDLE};
    vk_range ra = range_of(a), rb = range_of(b);
    uint32_t rows = (uint32_t)a->ne[1];
    uint32_t gy = rows < MAX_GRID_X ? rows : MAX_GRID_X, gz = ceil_div(rows, MAX_GRID_X);
    if (copy)
        vk_dispatch(vk, pipe, bufs, &pc, sizeof pc, ceil_div(a->ne[0], 256), gy, gz, &ra, 1, &rb, 1);
    else
        vk_dispatch(vk, pipe, bufs, &pc, sizeof pc, ceil_div(a->ne[0], 256), gy, gz, (vk_range[]){ra, rb},
                    2, &ra, 1);
}

void vk_op_add(ue_backend *be, const ue_tensor *x, const ue_tensor *y) {
    vk_backend *vk = (vk_backend *)be;
    if (check_type(vk, x, UE_TYPE_F32, "add") && check_type(vk, y, UE_TYPE_F32, "add"))
        eltwise(vk, VK_PIPE_ADD, x, y, 0);
}

void vk_op_gelu_mul(ue_backend *be, const ue_tensor *g, const ue_tensor *u) {
    vk_backend *vk = (vk_backend *)be;
    if (check_type(vk, g, UE_TYPE_F32, "gelu_mul") && check_type(vk, u, UE_TYPE_F32, "gelu_mul"))
        eltwise(vk, VK_PIPE_GELU_MUL, g, u, 0);
}

void vk_op_copy_rows(ue_backend *be, const ue_tensor *src, const ue_tensor *dst) {
    vk_backend *vk = (vk_backend *)be;
    if (!check_type(vk, src, UE_TYPE_F32, "copy_rows source")) return;
    if (dst->type != UE_TYPE_F32 && dst->type != UE_TYPE_F16) {
        vk_fail_deferred(vk, UE_ERR_UNSUPPORTED, "Vulkan: copy_rows to type %d", (int)dst->type);
        return;
    }
    eltwise(vk, dst->type == UE_TYPE_F16 ? VK_PIPE_COPY_F16 : VK_PIPE_COPY_F32, src, dst, 1);
}

ue_status vk_buffer_reserve(vk_backend *vk, ue_buffer **buf, size_t bytes, ue_error *err) {
    if (*buf && (*buf)->size >= bytes) return UE_OK;
    if (*buf) {
        ue_error ferr = {0};
        ue_status st = vk_flush(vk, &ferr); /* recorded commands may use the old one */
        if (st != UE_OK) { /* an earlier op's error: reported at the next sync too */
            vk_fail_deferred(vk, st, "%s", ferr.msg);
            return ue_fail(err, st, "%s", ferr.msg);
        }
        vk_buffer_free(vk, *buf);
        *buf = NULL;
    }
    return vk_buffer_alloc(vk, bytes, VK_MEM_DEVICE, buf, err);
}

/* The backend's buffer for flash-decoding partials, at least `bytes` large. */
ue_buffer *vk_partials(vk_backend *vk, size_t bytes) {
    ue_error err = {0};
    ue_status st = vk_buffer_reserve(vk, &vk->partials, bytes < (4u << 20) ? 4u << 20 : bytes, &err);
    if (st != UE_OK) {
        vk_fail_deferred(vk, st, "%s", err.msg);
        return NULL;
    }
    return vk->partials;
}

void vk_op_attention(ue_backend *be, const ue_attention_args *a) {
    vk_backend *vk = (vk_backend *)be;
    if (!check_type(vk, &a->q, UE_TYPE_F32, "attention q") ||
        !check_type(vk, &a->k_cache, UE_TYPE_F32, "attention k cache") ||
        !check_type(vk, &a->v_cache, UE_TYPE_F32, "attention v cache") ||
        !check_type(vk, &a->out, UE_TYPE_F32, "attention output"))
        return;
    if (a->head_dim < 1 || a->head_dim > 512 || a->n_head_kv < 1 || a->n_head % a->n_head_kv ||
        a->pos0 < 0 || a->pos0 + a->q.ne[1] > INT32_MAX || a->bidir_end > INT32_MAX) {
        vk_fail_deferred(vk, UE_ERR_UNSUPPORTED, "Vulkan: attention with head_dim %d, %d/%d heads",
                         a->head_dim, a->n_head, a->n_head_kv);
        return;
    }
    int64_t n_tok = a->q.ne[1], D = a->head_dim;
    /* Keys a query can see: at most up to the last query or the image span's end. */
    int64_t last = a->pos0 + n_tok - 1;
    if (a->bidir_end - 1 > last) last = a->bidir_end - 1;
    int64_t first = a->window > 0 && a->pos0 - a->window + 1 > 0 ? a->pos0 - a->window + 1 : 0;
    if (a->bidir_begin < a->bidir_end && a->bidir_begin < first) first = a->bidir_begin;
    int64_t nkeys = last - first + 1;
    uint32_t n_split = 1;
    if (n_tok * a->n_head < 256) { /* few workgroups: split the keys (flash-decoding) */
        n_split = ceil_div(nkeys, ATT_SPLIT_KEYS);
        if (n_split > ATT_MAX_SPLIT) n_split = ATT_MAX_SPLIT;
        if (n_split < 1) n_split = 1;
    }
    vk_bind bq = bind_t(vk, &a->q), bk = bind_t(vk, &a->k_cache), bv = bind_t(vk, &a->v_cache);
    vk_bind bo = bind_t(vk, &a->out);
    vk_range kr = range_of(&a->k_cache), vr = range_of(&a->v_cache);
    kr.hi = a->k_cache.offset + (size_t)(last + 1) * ue_type_row_bytes(UE_TYPE_F32, a->k_cache.ne[0]);
    vr.hi = a->v_cache.offset + (size_t)(last + 1) * ue_type_row_bytes(UE_TYPE_F32, a->v_cache.ne[0]);
    struct {
        uint32_t q_off, q_stride, k_off, v_off, kv_stride, o_off, o_stride;
        uint32_t n_head, n_head_kv, head_dim;
        int32_t pos0, window, bidir_begin, bidir_end;
        float scale;
        uint32_t n_split, n_tok;
    } pc = {off4(vk, &a->q, &bq, "q"), (uint32_t)a->q.ne[0], off4(vk, &a->k_cache, &bk, "k cache"),
            off4(vk, &a->v_cache, &bv, "v cache"), (uint32_t)a->k_cache.ne[0],
            off4(vk, &a->out, &bo, "attention output"), (uint32_t)a->out.ne[0], (uint32_t)a->n_head,
            (uint32_t)a->n_head_kv, (uint32_t)D, (int32_t)a->pos0, a->window,
            (int32_t)a->bidir_begin, (int32_t)a->bidir_end, a->scale, n_split, (uint32_t)n_tok};
    vk_range rd[3] = {range_of(&a->q), kr, vr};
    /* Decode-sized batches: head dims across subgroup lanes (attention_dec.comp), where
     * D splits into 16-byte pieces per lane and the merge fits its shared memory. */
    uint32_t S = vk->subgroup_size;
    int pipe = VK_PIPE_ATTENTION;
    if (n_tok * a->n_head < 256 && S >= 4 && D % (4 * S) == 0 && D / (4 * S) <= 4 &&
        (128 / S) * D <= 4096 && pc.q_off % 4 == 0 && pc.q_stride % 4 == 0 && pc.k_off % 4 == 0 &&
        pc.v_off % 4 == 0 && pc.kv_stride % 4 == 0)
        pipe = VK_PIPE_ATTENTION_DEC;
    if (n_split == 1) {
        VkDescriptorSet bufs[4] = {bq.set, bk.set, bv.set, bo.set};
        vk_range wr = range_of(&a->out);
        /* Prefill: blocks of queries share each key and value row (attention_qb.comp). */
        if (pipe == VK_PIPE_ATTENTION && vk->att_qb && n_tok >= 2 && D % 4 == 0 &&
            pc.k_off % 4 == 0 && pc.kv_stride % 4 == 0) {
            vk_dispatch(vk, VK_PIPE_ATTENTION_QB, bufs, &pc, sizeof pc, ceil_div(n_tok, vk->att_qb),
                        (uint32_t)a->n_head, 1, rd, 3, &wr, 1);
            return;
        }
        vk_dispatch(vk, pipe, bufs, &pc, sizeof pc, 1, (uint32_t)a->n_head, (uint32_t)n_tok, rd,
                    3, &wr, 1);
        return;
    }
    size_t part_bytes = (size_t)n_tok * (size_t)a->n_head * n_split * (size_t)(D + 2) * 4;
    ue_buffer *pb = vk_partials(vk, part_bytes);
    if (!pb) return;
    pc.o_off = 0;
    vk_bind bp = vk_window(vk, pb, 0, part_bytes);
    VkDescriptorSet bufs[4] = {bq.set, bk.set, bv.set, bp.set};
    vk_range pr = {pb, 0, part_bytes};
    vk_dispatch(vk, pipe, bufs, &pc, sizeof pc, n_split, (uint32_t)a->n_head,
                (uint32_t)n_tok, rd, 3, &pr, 1);
    struct {
        uint32_t p_off, o_off, o_stride, n_head, head_dim, n_split;
    } mc = {0, off4(vk, &a->out, &bo, "attention output"), (uint32_t)a->out.ne[0],
            (uint32_t)a->n_head, (uint32_t)D, n_split};
    VkDescriptorSet mbufs[4] = {bp.set, bo.set, VK_NULL_HANDLE, VK_NULL_HANDLE};
    vk_range wr = range_of(&a->out);
    vk_dispatch(vk, VK_PIPE_ATTN_MERGE, mbufs, &mc, sizeof mc, (uint32_t)a->n_head,
                (uint32_t)n_tok, 1, &pr, 1, &wr, 1);
}

#else
typedef int ue_vk_ops_not_built;
#endif
