/* Vulkan backend: decode-step variants, each switched by an environment variable so one
 * build can measure them against each other (docs/PERFORMANCE.md, Vulkan (H100)):
 *   UE_VK_MVS=rows[,wg,nr,lanes,unroll]  mat-vecs (and gate/up products) of at most
 *       `rows` rows on mul_mvs.comp (a row group of `lanes` lanes, up to the workgroup:
 *       split-K); its sizes also serve the fused mat-vecs below (default 4096,128,2,64,1,
 *       the fastest of run 20's sweep on the H100: 4B tg128 +2-4%; UE_VK_MVS=0 keeps every
 *       mat-vec on mul_mvf)
 *   UE_VK_QKV=1     q, k and v in one dispatch (those of one in-place type and window)
 *   UE_VK_MVNORM=1  o / ffn_down mat-vec and the block end (add_rms_norm) in one dispatch
 *   UE_VK_ATTF=1    QK-norm, RoPE, cache writes, attention and the split merge in one
 *                   (UE_VK_ATT_SPLIT=keys per workgroup, default 64, as the plain path)
 * The last two end in the workgroup that finishes last (a counter in vk->sync, set 4).
 * Operands the kernels cannot take are composed from the other ops (fused_compose.c). */
#ifdef UE_HAVE_VULKAN_BACKEND
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fused_compose.h"
#include "backend/vulkan/vk_internal.h"

enum {
    SYNC_SLOTS = 16384, /* counters; a slot is reused only after a barrier (hazard tracking) */
    MV_MAX_TOKENS = 4,  /* as vk_ops.c: larger batches are not mat-vecs */
    ATT_SPLIT_KEYS = 64, ATT_MAX_SPLIT = 64, /* as vk_op_attention */
    MAX_GRID_X = 65535,
};

static int env_on(const char *name) {
    const char *e = getenv(name);
    return e && atoi(e) > 0;
}

void vk_decode_config(vk_backend *vk) {
    uint32_t sg = vk->subgroup_size ? vk->subgroup_size : 32;
    unsigned rows = 4096, wg = 128, nr = 2, lanes = 64, unroll = 1;
    const char *e = getenv("UE_VK_MVS");
    if (e) {
        unsigned a = 0, b = wg, c = nr, d = lanes, u = unroll;
        int n = sscanf(e, "%u,%u,%u,%u,%u", &a, &b, &c, &d, &u);
        rows = n >= 1 ? a : 0;
        /* sizes as mul_mvs.comp needs them: lanes a power of two dividing the workgroup,
         * at most 32 subgroups, NR * 32 partial sums */
        if (n == 5 && b >= sg && b <= 1024 && b % sg == 0 && b / sg <= 32 && c >= 1 && c <= 8 &&
            d >= 1 && d <= b && !(d & (d - 1)) && b % d == 0 && u >= 1 && u <= 4)
            wg = b, nr = c, lanes = d, unroll = u;
    }
    if (wg < sg) wg = sg;
    if (lanes > wg) lanes = wg;
    vk->mvs_rows_max = rows;
    vk->mvs_wg = wg, vk->mvs_nr = nr, vk->mvs_lanes = lanes, vk->mvs_unroll = unroll;
    vk->mvs_rpw = nr * (wg / lanes);
    vk->qkv = env_on("UE_VK_QKV");
    vk->mvnorm = env_on("UE_VK_MVNORM");
    vk->attf = env_on("UE_VK_ATTF");
    const char *sk = getenv("UE_VK_ATT_SPLIT");
    vk->att_split = sk && atoi(sk) >= 8 && atoi(sk) <= 4096 ? (uint32_t)atoi(sk) : ATT_SPLIT_KEYS;
    /* attention_decf.comp serves heads of 256 (Gemma 3) as 2, 4 or 8 vec4s per lane */
    uint32_t nq = 256 / (4 * sg);
    vk->attf_nq = nq >= 2 && nq <= 8 && !(nq & 1) ? nq : 0;
}

ue_status vk_decode_init(vk_backend *vk, ue_error *err) {
    /* tests shrink the ring to exercise its reuse */
    const char *e = getenv("UE_VK_SYNC_SLOTS");
    vk->sync_cap = e && atoi(e) >= 1 && atoi(e) < SYNC_SLOTS ? (uint32_t)atoi(e) : SYNC_SLOTS;
    if (vk->n_sets < 5) return UE_OK;
    return vk->base.ops->buffer_create(&vk->base, SYNC_SLOTS * sizeof(uint32_t), &vk->sync, err);
}

/* n consecutive counters (n <= sync_cap; all zero: each user resets its own); r: their
 * bytes, declared written so a reuse before the previous user finished gets a barrier. */
static uint32_t sync_slots(vk_backend *vk, uint32_t n, vk_range *r) {
    if (vk->sync_next + n > vk->sync_cap) vk->sync_next = 0;
    uint32_t s = vk->sync_next;
    vk->sync_next += n;
    *r = (vk_range){vk->sync, (size_t)s * 4, (size_t)(s + n) * 4};
    return s;
}

static uint32_t ceil_div(int64_t a, int64_t b) { return (uint32_t)((a + b - 1) / b); }

static int is_f32(const ue_tensor *t) { return t->type == UE_TYPE_F32; }

/* Offset in floats of t from its window's start (t 4-byte aligned, checked by the
 * caller through vk_window_all). */
static uint32_t fl(const ue_tensor *t, const vk_bind *b) {
    return (uint32_t)((t->offset - b->base) / 4);
}

/* mul_mvs.comp's push constants (include/mv_items.glsl's block, then its own fields). */
typedef struct mvs_push {
    uint32_t x_off, x_stride, o_off, o_stride, K, N, row_bytes, pl[4], ul[4], n_tok;
    uint32_t seg1, seg2, w_off1, w_off2, o_off1, o_off2;
    uint32_t r_off, n_off, wp_off, wn_off, has_next, slot;
    float eps;
} mvs_push;

/* The block end of a mat-vec + add_rms_norm dispatch (NULL: a plain mat-vec). */
typedef struct mvs_norm {
    const ue_tensor *w_post, *x, *w_next, *xn;
    float eps;
} mvs_norm;

/* Records mul_mvs(n/g) for n_seg matrices side by side (one type and row length; several
 * only for types read in place, all in one window) into their outputs (rows r0.. of
 * out[0] when n_seg is 1); with w_up (one matrix) gelu(w x) * (w_up x); 0 when the
 * operands do not suit (nothing recorded). */
static int mvs_record(vk_backend *vk, const ue_tensor *const *w, const ue_tensor *const *out,
                      int n_seg, const ue_tensor *x, int64_t r0, const mvs_norm *nm,
                      const ue_tensor *w_up) {
    int t = vk_wtype_index(w[0]->type);
    int pipe = (nm ? VK_PIPE_MUL_MVSN : w_up ? VK_PIPE_MUL_MVSG : VK_PIPE_MUL_MVS) + t;
    int64_t K = w[0]->ne[0], qk = ue_type_get(w[0]->type)->block_size, n_tok = x->ne[1];
    if (t < 0 || !vk->pipes[pipe] || vk->no_mvf || !is_f32(x) || x->ne[0] != K || K % 4 ||
        n_tok > MV_MAX_TOKENS || (qk == 1 && K % (w[0]->type == UE_TYPE_F32 ? 4 : 8)) ||
        (nm && n_tok != 1) || (w_up && (n_seg != 1 || nm || w_up->type != w[0]->type ||
                                         w_up->ne[0] != K || w_up->ne[1] != w[0]->ne[1] ||
                                         vk_tensor_bytes(w_up) > vk_max_span(vk))))
        return 0;
    size_t row_bytes = ue_type_row_bytes(w[0]->type, K);
    int64_t N = 0, starts[3] = {0, 0, 0};
    for (int i = 0; i < n_seg; i++) {
        if (w[i]->type != w[0]->type || w[i]->ne[0] != K || !is_f32(out[i]) ||
            out[i]->ne[1] != n_tok || vk_tensor_bytes(w[i]) > vk_max_span(vk))
            return 0;
        if (n_seg > 1 && (out[i]->ne[0] != w[i]->ne[1] || (i < n_seg - 1 && w[i]->ne[1] % vk->mvs_nr)))
            return 0; /* segments start at multiples of NR rows (a row group in one) */
        starts[i] = N;
        N += w[i]->ne[1];
    }
    vk_bind bx, bo, bw;
    const ue_tensor *one_x[1] = {x};
    if (!vk_window_all(one_x, 1, &bx) || (x->offset - bx.base) % 16) return 0;
    const ue_tensor *outs[5] = {out[0], out[1 % n_seg], out[2 % n_seg]};
    int n_outs = 3;
    if (nm) {
        outs[1] = nm->x;
        outs[2] = nm->w_next ? nm->xn : nm->x;
        if (out[0]->ne[0] != N || nm->x->ne[0] != N || nm->x->ne[1] != 1 || !is_f32(nm->x) ||
            (nm->w_next && (nm->xn->ne[0] != N || nm->xn->ne[1] != 1 || !is_f32(nm->xn))))
            return 0;
    }
    if (!vk_window_all(outs, n_outs, &bo)) return 0;
    mvs_push pc = {(uint32_t)((x->offset - bx.base) / 4), (uint32_t)x->ne[0],
                   fl(out[0], &bo) + (uint32_t)r0, (uint32_t)out[0]->ne[0], (uint32_t)K,
                   (uint32_t)N, (uint32_t)row_bytes, {0}, {0}, (uint32_t)n_tok,
                   (uint32_t)N, (uint32_t)N, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0f};
    VkDescriptorSet sets[4] = {VK_NULL_HANDLE, bx.set, bo.set, VK_NULL_HANDLE};
    vk_range rd[6] = {{0}, vk_range_of(x)};
    int n_rd = 2;
    if (n_seg == 1) {
        if (!vk_mvf_weights(vk, w[0], &sets[0], pc.pl, &rd[0])) return 0;
        if (w_up && !vk_mvf_weights(vk, w_up, &sets[3], pc.ul, &rd[n_rd++])) return 0;
        pc.w_off1 = pc.w_off2 = pc.pl[0];
        pc.o_off1 = pc.o_off2 = pc.o_off;
    } else {
        /* several matrices: read in place through one window */
        if (vk_repack_needed(w[0]->type) || row_bytes % 16 || !vk_window_all(w, n_seg, &bw))
            return 0;
        uint32_t wo[3], oo[3];
        for (int i = 0; i < n_seg; i++) {
            if ((w[i]->offset - bw.base) % 16) return 0;
            wo[i] = (uint32_t)(w[i]->offset - bw.base);
            oo[i] = fl(out[i], &bo);
            rd[n_rd++] = vk_range_of(w[i]);
        }
        sets[0] = bw.set;
        pc.pl[0] = wo[0];
        pc.seg1 = (uint32_t)starts[1];
        pc.seg2 = n_seg > 2 ? (uint32_t)starts[2] : (uint32_t)N;
        pc.w_off1 = wo[1], pc.w_off2 = wo[n_seg - 1];
        pc.o_off1 = oo[1], pc.o_off2 = oo[n_seg - 1];
    }
    vk_range wr[4];
    int n_wr = 0;
    for (int i = 0; i < n_seg; i++) wr[n_wr++] = vk_range_of(out[i]);
    if (nm) {
        const ue_tensor *ws[2] = {nm->w_post, nm->w_next ? nm->w_next : nm->w_post};
        vk_bind bn;
        if (!is_f32(nm->w_post) || nm->w_post->ne[0] != N ||
            (nm->w_next && (!is_f32(nm->w_next) || nm->w_next->ne[0] != N)) ||
            !vk_window_all(ws, 2, &bn))
            return 0;
        sets[3] = bn.set;
        pc.r_off = fl(nm->x, &bo);
        pc.n_off = nm->w_next ? fl(nm->xn, &bo) : 0;
        pc.wp_off = fl(nm->w_post, &bn);
        pc.wn_off = fl(ws[1], &bn);
        pc.has_next = nm->w_next != NULL;
        pc.eps = nm->eps;
        rd[n_rd++] = vk_range_of(nm->x);
        rd[n_rd++] = vk_range_of(nm->w_post);
        if (nm->w_next) rd[n_rd++] = vk_range_of(nm->w_next);
        wr[n_wr++] = vk_range_of(nm->x);
        if (nm->w_next) wr[n_wr++] = vk_range_of(nm->xn);
        pc.slot = sync_slots(vk, 1, &wr[n_wr++]);
    }
    /* Q4_K / Q6_K over x as 16-bit integers where a producer left it so (add_rms_norm):
     * integer dot products, no quantizing dispatch of their own (one costs about what
     * these small mat-vecs gain) */
    vk_bind bq;
    if (vk->idot && !nm && !w_up && K % 64 == 0 && vk->pipes[VK_PIPE_MUL_MVSQ + t] &&
        vk_q16_cached(vk, x, &bq, &rd[1])) {
        pipe = VK_PIPE_MUL_MVSQ + t;
        sets[1] = bq.set;
        pc.x_off = (uint32_t)((rd[1].lo - bq.base) / 4);
        pc.x_stride = (uint32_t)(vk_q16_row_bytes(K) / 4); /* words */
    }
    uint32_t groups = ceil_div(N, vk->mvs_rpw);
    uint32_t gx = groups < MAX_GRID_X ? groups : MAX_GRID_X, gy = ceil_div(groups, gx);
    vk_dispatch(vk, pipe, sets, &pc, sizeof pc, gx, gy, (uint32_t)n_tok, rd, n_rd, wr, n_wr);
    return 1;
}

int vk_matvec_split(vk_backend *vk, const ue_tensor *w, const ue_tensor *x, const ue_tensor *out,
                    int64_t r0, const vk_bind *bx, const vk_bind *bo) {
    (void)bx;
    (void)bo;
    const ue_tensor *ws[1] = {w}, *outs[1] = {out};
    return mvs_record(vk, ws, outs, 1, x, r0, NULL, NULL);
}

int vk_matvec_split_gelu(vk_backend *vk, const ue_tensor *w_gate, const ue_tensor *w_up,
                         const ue_tensor *x, const ue_tensor *g) {
    const ue_tensor *ws[1] = {w_gate}, *outs[1] = {g};
    return w_gate->ne[1] <= vk->mvs_rows_max && mvs_record(vk, ws, outs, 1, x, 0, NULL, w_up);
}

void vk_op_matmul_qkv(ue_backend *be, const ue_tensor *wq, const ue_tensor *wk,
                      const ue_tensor *wv, const ue_tensor *x, const ue_tensor *q,
                      const ue_tensor *k, const ue_tensor *v) {
    vk_backend *vk = (vk_backend *)be;
    if (vk->qkv) {
        const ue_tensor *w3[3] = {wq, wk, wv}, *o3[3] = {q, k, v};
        if (mvs_record(vk, w3, o3, 3, x, 0, NULL, NULL)) return;
        if (mvs_record(vk, w3, o3, 2, x, 0, NULL, NULL)) { /* v of another type: apart */
            be->ops->matmul(be, wv, x, v);
            return;
        }
    }
    /* q, k and v of a batch run side by side, so their grids together fill the device:
     * no split-K for them (vk_ops.c's mmc_splits; splitting k and v cost the 4B model 4%
     * at 128 tokens, run 44) */
    vk->mmc_side_by_side = 1;
    ue_compose_matmul_qkv(be, wq, wk, wv, x, q, k, v);
    vk->mmc_side_by_side = 0;
}

void vk_op_matmul_add_rms_norm(ue_backend *be, const ue_tensor *w, const ue_tensor *y,
                               const ue_tensor *o, const ue_tensor *w_post, const ue_tensor *x,
                               const ue_tensor *w_next, float eps, const ue_tensor *xn) {
    vk_backend *vk = (vk_backend *)be;
    mvs_norm nm = {w_post, x, w_next, xn, eps};
    const ue_tensor *ws[1] = {w}, *outs[1] = {o};
    if (vk->mvnorm && vk->sync && vk->sync_cap >= 1 && mvs_record(vk, ws, outs, 1, y, 0, &nm, NULL))
        return;
    ue_compose_matmul_add_rms_norm(be, w, y, o, w_post, x, w_next, eps, xn);
}

/* Whether tensor c is row `row` of tensor full (same buffer, its row length). */
static int is_row_of(const ue_tensor *c, const ue_tensor *full, int64_t row) {
    return c->buf == full->buf && c->ne[0] == full->ne[0] &&
           c->offset == full->offset + (size_t)row * ue_type_row_bytes(full->type, full->ne[0]);
}

static int aligned16(const ue_tensor *t, const vk_bind *b) { return (t->offset - b->base) % 16 == 0; }

static int apart(const ue_tensor *a, const ue_tensor *b) {
    vk_range ra = vk_range_of(a), rb = vk_range_of(b);
    return ra.buf != rb.buf || ra.hi <= rb.lo || rb.hi <= ra.lo;
}

void vk_op_attention_rope(ue_backend *be, const ue_qk_rope_args *r, const ue_attention_args *a) {
    vk_backend *vk = (vk_backend *)be;
    int D = a->head_dim;
    uint32_t S = vk->subgroup_size;
    int ok = vk->attf && vk->sync && vk->pipes[VK_PIPE_ATTENTION_DECF] && r->q.ne[1] == 1 &&
             a->q.ne[1] == 1 && r->head_dim == D && D == 4 * (int)(S * vk->attf_nq) &&
             (128 / S) * (uint32_t)D <= 4096 &&
             a->n_head_kv >= 1 && a->n_head % a->n_head_kv == 0 && r->pos0 == a->pos0 &&
             (uint32_t)a->n_head <= vk->sync_cap &&
             a->pos0 >= 0 && a->pos0 < INT32_MAX && a->bidir_end <= INT32_MAX &&
             r->q.buf == a->q.buf && r->q.offset == a->q.offset &&
             a->q.ne[0] == (int64_t)a->n_head * D && r->k.ne[0] == (int64_t)a->n_head_kv * D &&
             r->v.ne[0] == r->k.ne[0] && a->k_cache.ne[0] == r->k.ne[0] &&
             a->v_cache.ne[0] == r->k.ne[0] && a->out.ne[0] == a->q.ne[0] && a->out.ne[1] == 1 &&
             r->k.ne[1] == 1 && r->v.ne[1] == 1 && r->q_norm.ne[0] == D && r->k_norm.ne[0] == D &&
             a->pos0 < a->k_cache.ne[1] && is_row_of(&r->k_dst, &a->k_cache, a->pos0) &&
             is_row_of(&r->v_dst, &a->v_cache, a->pos0) && r->k_dst.ne[1] == 1 &&
             r->v_dst.ne[1] == 1 && apart(&a->out, &r->q) && apart(&a->out, &r->k) &&
             apart(&a->out, &r->v); /* workgroups write out while others read q, k, v */
    const ue_tensor *all[11] = {&r->q, &r->k, &r->v, &a->out, &a->k_cache, &a->v_cache,
                                &r->q_norm, &r->k_norm, &r->k_dst, &r->v_dst, &a->q};
    for (int i = 0; i < 11 && ok; i++) ok = is_f32(all[i]);
    int64_t last = a->pos0, first = 0;
    if (a->bidir_end - 1 > last) last = a->bidir_end - 1;
    if (a->window > 0 && a->pos0 - a->window + 1 > 0) first = a->pos0 - a->window + 1;
    if (a->bidir_begin < a->bidir_end && a->bidir_begin < first) first = a->bidir_begin;
    ue_tensor kc = ue_tensor_rows(&a->k_cache, 0, last + 1), vc = ue_tensor_rows(&a->v_cache, 0, last + 1);
    vk_bind bs, bc, bn;
    if (ok) {
        const ue_tensor *sc[4] = {&r->q, &r->k, &r->v, &a->out}, *cc[2] = {&kc, &vc};
        const ue_tensor *nn[2] = {&r->q_norm, &r->k_norm};
        ok = last < a->k_cache.ne[1] && vk_window_all(sc, 4, &bs) && vk_window_all(cc, 2, &bc) &&
             vk_window_all(nn, 2, &bn) && aligned16(&r->q, &bs) && aligned16(&r->k, &bs) &&
             aligned16(&r->v, &bs) && aligned16(&kc, &bc) && aligned16(&vc, &bc) &&
             aligned16(&r->q_norm, &bn) && aligned16(&r->k_norm, &bn) && D % 4 == 0;
    }
    if (!ok) {
        ue_compose_attention_rope(be, r, a);
        return;
    }
    int64_t nkeys = last - first + 1;
    uint32_t n_split = 1;
    if (a->n_head < 256) {
        n_split = ceil_div(nkeys, vk->att_split);
        if (n_split > ATT_MAX_SPLIT) n_split = ATT_MAX_SPLIT;
        if (n_split < 1) n_split = 1;
    }
    struct {
        uint32_t q_off, k_off, v_off, o_off, kc_off, vc_off, kv_stride, n_head, n_head_kv, head_dim;
        int32_t pos0, window, bidir_begin, bidir_end;
        float scale;
        uint32_t n_split, qw_off, kw_off;
        float eps, log2_base, freq_scale;
        uint32_t slot;
    } pc = {fl(&r->q, &bs), fl(&r->k, &bs), fl(&r->v, &bs), fl(&a->out, &bs), fl(&kc, &bc),
            fl(&vc, &bc), (uint32_t)a->k_cache.ne[0], (uint32_t)a->n_head, (uint32_t)a->n_head_kv,
            (uint32_t)D, (int32_t)a->pos0, a->window, (int32_t)a->bidir_begin,
            (int32_t)a->bidir_end, a->scale, n_split, fl(&r->q_norm, &bn), fl(&r->k_norm, &bn),
            r->eps, (float)log2((double)r->base), r->freq_scale, 0};
    if (pc.kv_stride % 4) {
        ue_compose_attention_rope(be, r, a);
        return;
    }
    VkDescriptorSet sets[4] = {bs.set, bc.set, bn.set, VK_NULL_HANDLE};
    vk_range rd[7] = {vk_range_of(&r->q), vk_range_of(&r->k), vk_range_of(&r->v), vk_range_of(&kc),
                      vk_range_of(&vc), vk_range_of(&r->q_norm), vk_range_of(&r->k_norm)};
    vk_range wr[5] = {vk_range_of(&a->out), vk_range_of(&r->k_dst), vk_range_of(&r->v_dst)};
    int n_wr = 3;
    if (n_split > 1) {
        size_t part_bytes = (size_t)a->n_head * n_split * (size_t)(D + 2) * 4;
        ue_buffer *pb = vk_partials(vk, part_bytes);
        if (!pb) return; /* error deferred */
        sets[3] = vk_window(vk, pb, 0, part_bytes).set;
        wr[n_wr++] = (vk_range){pb, 0, part_bytes};
        pc.slot = sync_slots(vk, (uint32_t)a->n_head, &wr[n_wr++]);
    }
    vk_dispatch(vk, VK_PIPE_ATTENTION_DECF, sets, &pc, sizeof pc, n_split, (uint32_t)a->n_head, 1,
                rd, 7, wr, n_wr);
}

#else
typedef int ue_vk_decode_not_built;
#endif
