/* CPU attention over the KV cache: for each (query token, head) an online softmax over
 * the visible keys (causal, sliding-window aware), so no score matrix is materialised.
 * GQA: query head h reads KV head h / (n_head / n_head_kv). Split over (token, head). */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

enum { MAX_HEAD_DIM = 512 };

typedef struct attention_job {
    const ue_attention_args *a;
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
        int64_t first = 0;
        if (a->window > 0 && pq - a->window + 1 > 0) first = pq - a->window + 1;
        const float *q = (const float *)ue_tensor_host(&a->q) + t * a->q.ne[0] + (size_t)h * hd;
        float max_score = -INFINITY, denom = 0.0f;
        memset(acc, 0, sizeof(float) * (size_t)hd);
        for (int64_t pk = first; pk <= pq; pk++) {
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

void cpu_op_attention(ue_backend *be, const ue_attention_args *args) {
    cpu_backend *cpu = (cpu_backend *)be;
    attention_job job = {.a = args};
    ue_pool_run(cpu->pool, attention_thread, &job);
}
