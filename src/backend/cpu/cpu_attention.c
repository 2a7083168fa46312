/* CPU attention over the KV cache: an online softmax over the visible keys (causal,
 * sliding-window aware), so no full score matrix is materialised. GQA: query head h reads
 * KV head h / (n_head / n_head_kv).
 * Reference kernels: one (query token, head) at a time, scalar.
 * Fast kernels (flash-attention style): a work item is one KV head and a tile of query
 * tokens with all the query heads of its group (~16 query rows), so each block of TK keys
 * and values is read once per tile; scores, exp and P.V use the SIMD kernel set. With
 * fewer items than threads (decoding) a long key range is split over the threads and the
 * partial softmaxes merged (flash-decoding). */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

enum {
    MAX_HEAD_DIM = 512,
    TILE_ROWS_Q = 16, /* query rows (tokens x heads of a group) per work item */
    TK = 64,          /* keys per block */
    SPLIT_MIN_KEYS = 256, /* keys from which a lone work item is split over threads */
};

typedef struct attention_job {
    const ue_attention_args *a;
    cpu_backend *cpu;
    int tile_tokens, n_tiles;
    int n_segments;      /* key segments per work item (1: no split) */
    float *states;       /* [n_segments][items] partial states of state_floats each */
    size_t state_floats;
    atomic_int next;
} attention_job;

/* Row `pos` of a cache for KV head kvh, converted to f32 into buf when stored as f16. */
static const float *cache_row(const ue_tensor *cache, int64_t pos, int kvh, int head_dim,
                              float *buf) {
    size_t off = (size_t)pos * (size_t)cache->ne[0] + (size_t)kvh * (size_t)head_dim;
    if (cache->type == UE_TYPE_F32) return (const float *)ue_tensor_host(cache) + off;
    const uint16_t *h = (const uint16_t *)ue_tensor_host(cache) + off;
    for (int i = 0; i < head_dim; i++) buf[i] = ue_f16_to_f32(h[i]);
    return buf;
}

static void attention_thread(void *ctx, int ith, int nth) {
    const ue_attention_args *a = ((const attention_job *)ctx)->a;
    int hd = a->head_dim, group = a->n_head / a->n_head_kv;
    long n_items = (long)a->q.ne[1] * a->n_head;
    long begin, end;
    ue_pool_split(n_items, ith, nth, &begin, &end);
    float acc[MAX_HEAD_DIM], kbuf[MAX_HEAD_DIM], vbuf[MAX_HEAD_DIM];
    for (long item = begin; item < end; item++) {
        int64_t t = item / a->n_head;
        int h = (int)(item % a->n_head), kvh = h / group;
        int64_t pq = a->pos0 + t;
        int64_t first = 0, last = pq;
        if (a->window > 0 && pq - a->window + 1 > 0) first = pq - a->window + 1;
        if (pq >= a->bidir_begin && pq < a->bidir_end) { /* an image token sees its image */
            if (a->bidir_begin < first) first = a->bidir_begin;
            last = a->bidir_end - 1;
        }
        const float *q = (const float *)ue_tensor_host(&a->q) + t * a->q.ne[0] + (size_t)h * hd;
        float max_score = -INFINITY, denom = 0.0f;
        memset(acc, 0, sizeof(float) * (size_t)hd);
        for (int64_t pk = first; pk <= last; pk++) {
            if (!ue_attention_visible(a, pq, pk)) continue;
            const float *k = cache_row(&a->k_cache, pk, kvh, hd, kbuf);
            float s = 0.0f;
            for (int i = 0; i < hd; i++) s += q[i] * k[i];
            s *= a->scale;
            const float *v = cache_row(&a->v_cache, pk, kvh, hd, vbuf);
            if (s > max_score) { /* rescale what was summed under the old maximum */
                float corr = expf(max_score - s);
                denom *= corr;
                for (int i = 0; i < hd; i++) acc[i] *= corr;
                max_score = s;
            }
            float p = expf(s - max_score);
            denom += p;
            for (int i = 0; i < hd; i++) acc[i] += p * v[i];
        }
        float *o = (float *)ue_tensor_host(&a->out) + t * a->out.ne[0] + (size_t)h * hd;
        float inv = denom > 0.0f ? 1.0f / denom : 0.0f;
        for (int i = 0; i < hd; i++) o[i] = acc[i] * inv;
    }
}

/* Rows [row0, row0 + n) of a cache for KV head kvh as f32: the cache itself when f32 (row
 * stride *ld), else converted into buf (stride head_dim). */
static const float *cache_block(const ue_tensor *cache, int64_t row0, int n, int kvh,
                                int head_dim, float *buf, size_t *ld) {
    if (cache->type == UE_TYPE_F32) {
        *ld = (size_t)cache->ne[0];
        return (const float *)ue_tensor_host(cache) + (size_t)row0 * (size_t)cache->ne[0] +
               (size_t)kvh * (size_t)head_dim;
    }
    *ld = (size_t)head_dim;
    for (int r = 0; r < n; r++) cache_row(cache, row0 + r, kvh, head_dim, buf + (size_t)r * head_dim);
    return buf;
}

/* The keys a query at pq sees form one interval [lo, hi] (ue_attention_visible): the
 * causal window, joined, for a query inside the bidirectional span, with the whole span
 * (both contain pq, so the union is an interval). */
static void visible_keys(const ue_attention_args *a, int64_t pq, int64_t *lo, int64_t *hi) {
    *lo = a->window > 0 && pq - a->window + 1 > 0 ? pq - a->window + 1 : 0;
    *hi = pq;
    if (pq >= a->bidir_begin && pq < a->bidir_end) {
        if (a->bidir_begin < *lo) *lo = a->bidir_begin;
        *hi = a->bidir_end - 1;
    }
}

/* Floats of per-thread scratch one work item needs. */
static size_t fast_scratch_floats(int hd) {
    return (size_t)TILE_ROWS_Q * (2 * (size_t)hd + TK + 2) + 2 * (size_t)TK * (size_t)hd;
}

/* One work item: KV head kvh, query tokens [t0, t1), every query head of the group. Row
 * i of the tile is token t0 + i / group, head kvh * group + i % group. */
/* The union of the visible key intervals of query tokens [t0, t1). */
static void tile_keys(const ue_attention_args *a, int64_t t0, int64_t t1, int64_t *k_lo,
                      int64_t *k_hi) {
    *k_lo = INT64_MAX;
    *k_hi = -1;
    for (int64_t t = t0; t < t1; t++) {
        int64_t lo, hi;
        visible_keys(a, a->pos0 + t, &lo, &hi);
        if (lo < *k_lo) *k_lo = lo;
        if (hi > *k_hi) *k_hi = hi;
    }
}

/* A tile over keys [key_lo, key_hi] only. state NULL: the normalized result goes to out;
 * else the unnormalized state (m[nq] | l[nq] | acc[nq * hd]) goes to state, merged later
 * with the other key segments (merge_segments). */
static void attention_tile(const ue_attention_args *a, const cpu_kernel_set *ks, float *mem,
                           int kvh, int64_t t0, int64_t t1, int64_t key_lo, int64_t key_hi,
                           float *state) {
    int hd = a->head_dim, group = a->n_head / a->n_head_kv;
    int nq = (int)(t1 - t0) * group;
    float *q = mem, *acc = q + (size_t)nq * hd, *s = acc + (size_t)nq * hd;
    float *m = s + (size_t)nq * TK, *l = m + nq;
    float *kbuf = l + nq, *vbuf = kbuf + (size_t)TK * hd;
    for (int i = 0; i < nq; i++) {
        int64_t t = t0 + i / group;
        int h = kvh * group + i % group;
        memcpy(q + (size_t)i * hd, (const float *)ue_tensor_host(&a->q) + t * a->q.ne[0] + (size_t)h * hd,
               sizeof(float) * (size_t)hd);
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    memset(acc, 0, sizeof(float) * (size_t)nq * (size_t)hd);

    int64_t k_lo, k_hi;
    tile_keys(a, t0, t1, &k_lo, &k_hi);
    if (key_lo > k_lo) k_lo = key_lo;
    if (key_hi < k_hi) k_hi = key_hi;
    for (int64_t kb = k_lo; kb <= k_hi; kb += TK) {
        int nk = (int)(k_hi - kb + 1 < TK ? k_hi - kb + 1 : TK);
        size_t ldk, ldv;
        const float *k = cache_block(&a->k_cache, kb, nk, kvh, hd, kbuf, &ldk);
        const float *v = cache_block(&a->v_cache, kb, nk, kvh, hd, vbuf, &ldv);
        ks->attn_dot(hd, a->scale, q, nq, (size_t)hd, k, nk, ldk, s, TK);
        for (int i = 0; i < nq; i++) {
            float *si = s + (size_t)i * TK;
            int64_t lo, hi;
            visible_keys(a, a->pos0 + t0 + i / group, &lo, &hi);
            int64_t ja = lo - kb > 0 ? lo - kb : 0, jb = hi - kb + 1 < nk ? hi - kb + 1 : nk;
            if (ja >= jb) {
                memset(si, 0, sizeof(float) * (size_t)nk);
                continue;
            }
            float mx = si[ja];
            /* compares, not fmaxf: a call per score on the baseline x86-64 target */
            for (int64_t j = ja + 1; j < jb; j++) mx = si[j] > mx ? si[j] : mx;
            float m_new = mx > m[i] ? mx : m[i];
            if (m_new > m[i] && l[i] > 0.0f) { /* rescale what was summed under the old max */
                float corr = expf(m[i] - m_new);
                l[i] *= corr;
                float *ai = acc + (size_t)i * hd;
                for (int c = 0; c < hd; c++) ai[c] *= corr;
            }
            m[i] = m_new;
            l[i] += ks->exp_sub(si + ja, (int)(jb - ja), m_new);
            for (int64_t j = 0; j < ja; j++) si[j] = 0.0f;
            for (int64_t j = jb; j < nk; j++) si[j] = 0.0f;
        }
        ks->attn_axpy(hd, s, nq, TK, v, nk, ldv, acc, (size_t)hd);
    }
    if (state) {
        memcpy(state, m, sizeof(float) * (size_t)nq);
        memcpy(state + nq, l, sizeof(float) * (size_t)nq);
        memcpy(state + 2 * nq, acc, sizeof(float) * (size_t)nq * (size_t)hd);
        return;
    }
    for (int i = 0; i < nq; i++) {
        int64_t t = t0 + i / group;
        int h = kvh * group + i % group;
        float *o = (float *)ue_tensor_host(&a->out) + t * a->out.ne[0] + (size_t)h * hd;
        float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
        for (int c = 0; c < hd; c++) o[c] = acc[(size_t)i * hd + c] * inv;
    }
}

static void attention_fast_thread(void *ctx, int ith, int nth) {
    attention_job *job = ctx;
    const ue_attention_args *a = job->a;
    (void)nth;
    float *mem = cpu_scratch_get(job->cpu, ith, fast_scratch_floats(a->head_dim));
    if (!mem) return; /* cannot happen: the caller grew every thread's scratch */
    int n_items = job->n_tiles * a->n_head_kv;
    for (;;) {
        int item = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (item >= n_items * job->n_segments) break;
        int seg = item / n_items, base = item % n_items;
        int kvh = base % a->n_head_kv;
        /* last tiles first: under the causal mask they see the most keys */
        int64_t tile = job->n_tiles - 1 - base / a->n_head_kv;
        int64_t t0 = tile * job->tile_tokens;
        int64_t t1 = t0 + job->tile_tokens < a->q.ne[1] ? t0 + job->tile_tokens : a->q.ne[1];
        if (job->n_segments == 1) {
            attention_tile(a, job->cpu->kset, mem, kvh, t0, t1, 0, INT64_MAX, NULL);
            continue;
        }
        int64_t k_lo, k_hi;
        tile_keys(a, t0, t1, &k_lo, &k_hi);
        int64_t per = (k_hi - k_lo + job->n_segments) / job->n_segments;
        attention_tile(a, job->cpu->kset, mem, kvh, t0, t1, k_lo + seg * per,
                       k_lo + (seg + 1) * per - 1, job->states + (size_t)item * job->state_floats);
    }
}

/* Flash-decoding merge: out = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s. */
static void merge_segments(const attention_job *job) {
    const ue_attention_args *a = job->a;
    int hd = a->head_dim, group = a->n_head / a->n_head_kv, n_items = job->n_tiles * a->n_head_kv;
    for (int base = 0; base < n_items; base++) {
        int kvh = base % a->n_head_kv;
        int64_t t0 = (int64_t)(job->n_tiles - 1 - base / a->n_head_kv) * job->tile_tokens;
        int64_t t1 = t0 + job->tile_tokens < a->q.ne[1] ? t0 + job->tile_tokens : a->q.ne[1];
        int nq = (int)(t1 - t0) * group;
        for (int i = 0; i < nq; i++) {
            float mx = -INFINITY;
            for (int sg = 0; sg < job->n_segments; sg++) {
                const float *st = job->states + (size_t)(sg * n_items + base) * job->state_floats;
                if (st[nq + i] > 0.0f) mx = fmaxf(mx, st[i]);
            }
            float *o = (float *)ue_tensor_host(&a->out) + (t0 + i / group) * a->out.ne[0] +
                       (size_t)(kvh * group + i % group) * hd;
            memset(o, 0, sizeof(float) * (size_t)hd);
            float denom = 0.0f;
            for (int sg = 0; sg < job->n_segments; sg++) {
                const float *st = job->states + (size_t)(sg * n_items + base) * job->state_floats;
                if (!(st[nq + i] > 0.0f)) continue;
                float wgt = expf(st[i] - mx);
                denom += wgt * st[nq + i];
                const float *acc = st + 2 * nq + (size_t)i * hd;
                for (int c = 0; c < hd; c++) o[c] += wgt * acc[c];
            }
            float inv = denom > 0.0f ? 1.0f / denom : 0.0f;
            for (int c = 0; c < hd; c++) o[c] *= inv;
        }
    }
}

void cpu_op_attention(ue_backend *be, const ue_attention_args *args) {
    cpu_backend *cpu = (cpu_backend *)be;
    attention_job job = {.a = args, .cpu = cpu, .n_segments = 1};
    int group = args->n_head / args->n_head_kv, nth = ue_pool_n_threads(cpu->pool);
    int fast = cpu->kernels != UE_CPU_KERNELS_REFERENCE && args->head_dim % 16 == 0 &&
               group <= TILE_ROWS_Q;
    for (int i = 0; fast && i < nth; i++)
        if (!cpu_scratch_get(cpu, i, fast_scratch_floats(args->head_dim))) fast = 0;
    if (!fast) {
        cpu_pool_run(cpu, attention_thread, &job);
        return;
    }
    job.tile_tokens = TILE_ROWS_Q / group;
    job.n_tiles = (int)((args->q.ne[1] + job.tile_tokens - 1) / job.tile_tokens);
    int n_items = job.n_tiles * args->n_head_kv;
    int64_t k_lo, k_hi;
    tile_keys(args, 0, args->q.ne[1], &k_lo, &k_hi);
    /* Fewer work items than threads (decoding, few KV heads) over a long cache: split the
     * keys of each item into one segment per thread and merge the partial softmaxes. */
    if (n_items < nth && k_hi - k_lo + 1 >= SPLIT_MIN_KEYS) {
        job.state_floats = (size_t)TILE_ROWS_Q * (2 + (size_t)args->head_dim);
        job.states = cpu_shared_scratch_get(cpu, sizeof(float) * job.state_floats * (size_t)n_items * (size_t)nth);
        if (job.states) job.n_segments = nth;
    }
    atomic_store(&job.next, 0);
    cpu_pool_run(cpu, attention_fast_thread, &job);
    if (job.n_segments > 1) {
        uint64_t t0 = cpu_prof_begin(cpu);
        merge_segments(&job);
        cpu_prof_end(cpu, CPU_PROF_ATTN_MERGE, t0);
    }
}
