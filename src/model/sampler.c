/* Token sampler: repetition / presence / frequency penalties over a window of recent
 * tokens, then top-k, temperature, top-p, min-p and a seeded draw. The filter order is
 * HF transformers' (repetition penalty, temperature, top-k, top-p, min-p), because Gemma 3's
 * defaults (temperature 1, top-k 64, top-p 0.95) come from its HF generation_config
 * (shared/docs/gemma3.md 1.5). llama.cpp's default chain instead applies temperature after
 * top-k/top-p/min-p; the two agree at temperature 1 and whenever top-p and min-p are off. */
#include "model/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"

/* Fixed default seed: a library call stays reproducible; the CLI picks random seeds. */
#define SAMPLER_DEFAULT_SEED 0xC0FFEEull
/* Longest finite penalty window (tokens); longer ones should ask for -1 (every token).
 * Bounds the ring buffer allocated at create. */
#define SAMPLER_MAX_WINDOW (1 << 20)
/* expf(x) is 0 in float below about -103.97; skipping those also avoids casting huge
 * doubles to float. */
#define SAMPLER_EXP_FLOOR (-104.0)
/* Weight buckets for top-p over many candidates (see nucleus_bucketed), and the candidate
 * count from which they pay off. */
#define SAMPLER_BUCKETS 1024
#define SAMPLER_BUCKETED_MIN 256

/* One candidate token: v holds its logit until weights are computed, then its
 * unnormalised probability exp((logit - max) / temperature). */
typedef struct cand {
    float v;
    int32_t id;
} cand;

struct ue_sampler {
    ue_sampler_params p;
    int n_vocab;
    double inv_temp;  /* 1 / temperature, for temperature > 0 */
    int penalize;     /* a penalty is on and the window is not empty */
    uint64_t rng[4];  /* xoshiro256** state */

    /* Penalty window: counts of each token among the last `window` accepted tokens (all of
     * them when window is 0), and the distinct tokens with a count, so a sample touches
     * only those instead of scanning the vocabulary. */
    size_t window;      /* 0: unbounded (repeat_last_n = -1) */
    int32_t *ring;      /* [window] the last accepted tokens, when window > 0 */
    size_t ring_len, ring_pos;
    uint32_t *count;    /* [n_vocab] */
    int32_t *seen;      /* [n_vocab] tokens whose count is > 0 */
    int32_t *seen_pos;  /* [n_vocab] index of a token in seen, -1 when absent */
    size_t n_seen;

    float *work; /* [n_vocab] logits after NaN cleanup and penalties */
    cand *cand;  /* [n_vocab] candidates, then their weights */
    double hist[SAMPLER_BUCKETS]; /* weight mass per bucket, for top-p */
};

/* ---- random numbers: splitmix64 seeding into xoshiro256** (Blackman & Vigna 2018) ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

static void rng_seed(uint64_t s[4], uint64_t seed) {
    for (int i = 0; i < 4; i++) s[i] = splitmix64(&seed);
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* ---- parameters ---------------------------------------------------------------------- */

void ue_sampler_params_init(ue_sampler_params *params) {
    if (!params) return;
    memset(params, 0, sizeof *params);
    params->temperature = 1.0f;
    params->top_k = 64;
    params->top_p = 0.95f;
    params->min_p = 0.0f;
    params->repeat_penalty = 1.0f;
    params->repeat_last_n = 64;
    params->presence_penalty = 0.0f;
    params->frequency_penalty = 0.0f;
    params->seed = SAMPLER_DEFAULT_SEED;
}

static ue_status check_params(const ue_sampler_params *p, int n_vocab, ue_error *err) {
    if (n_vocab <= 0)
        return ue_fail(err, UE_ERR_ARGUMENT, "sampler n_vocab: expected > 0, got %d", n_vocab);
    if (!isfinite(p->temperature))
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "sampler temperature: expected a finite number (<= 0: greedy), got %g",
                       (double)p->temperature);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "sampler top_p: expected a value in (0, 1] (1: off), got %g",
                       (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p < 1.0f))
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "sampler min_p: expected a value in [0, 1) (0: off), got %g",
                       (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f && isfinite(p->repeat_penalty)))
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "sampler repeat_penalty: expected a finite value > 0 (1: off), got %g",
                       (double)p->repeat_penalty);
    if (p->repeat_last_n < -1 || p->repeat_last_n > SAMPLER_MAX_WINDOW)
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "sampler repeat_last_n: expected -1 (all), 0 (off) or 1..%d, got %d",
                       SAMPLER_MAX_WINDOW, p->repeat_last_n);
    if (!isfinite(p->presence_penalty))
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "sampler presence_penalty: expected a finite number, got %g",
                       (double)p->presence_penalty);
    if (!isfinite(p->frequency_penalty))
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "sampler frequency_penalty: expected a finite number, got %g",
                       (double)p->frequency_penalty);
    return UE_OK;
}

/* calloc with an overflow-checked element count. */
static void *alloc_array(size_t n, size_t size) {
    size_t bytes;
    if (!ue_mul_size(n, size, &bytes)) return NULL;
    return calloc(1, bytes ? bytes : 1);
}

ue_status ue_sampler_create(const ue_sampler_params *params, int n_vocab, ue_sampler **out,
                            ue_error *err) {
    if (!out) return ue_fail(err, UE_ERR_ARGUMENT, "sampler: out pointer is NULL");
    *out = NULL;
    if (!params) return ue_fail(err, UE_ERR_ARGUMENT, "sampler: params is NULL");
    ue_status st = check_params(params, n_vocab, err);
    if (st != UE_OK) return st;

    ue_sampler *s = calloc(1, sizeof *s);
    if (!s) return ue_fail(err, UE_ERR_NOMEM, "sampler: cannot allocate the sampler");
    s->p = *params;
    s->n_vocab = n_vocab;
    s->inv_temp = params->temperature > 0.0f ? 1.0 / (double)params->temperature : 0.0;
    s->penalize = params->repeat_last_n != 0 &&
                  (params->repeat_penalty != 1.0f || params->presence_penalty != 0.0f ||
                   params->frequency_penalty != 0.0f);
    size_t nv = (size_t)n_vocab;
    s->work = alloc_array(nv, sizeof *s->work);
    s->cand = alloc_array(nv, sizeof *s->cand);
    if (!s->work || !s->cand) goto nomem;
    if (s->penalize) {
        s->window = params->repeat_last_n > 0 ? (size_t)params->repeat_last_n : 0;
        s->count = alloc_array(nv, sizeof *s->count);
        s->seen = alloc_array(nv, sizeof *s->seen);
        s->seen_pos = alloc_array(nv, sizeof *s->seen_pos);
        if (!s->count || !s->seen || !s->seen_pos) goto nomem;
        if (s->window > 0) {
            s->ring = alloc_array(s->window, sizeof *s->ring);
            if (!s->ring) goto nomem;
        }
        for (size_t i = 0; i < nv; i++) s->seen_pos[i] = -1;
    }
    rng_seed(s->rng, params->seed);
    *out = s;
    return UE_OK;
nomem:
    ue_sampler_destroy(s);
    return ue_fail(err, UE_ERR_NOMEM, "sampler: cannot allocate scratch for %d tokens", n_vocab);
}

void ue_sampler_destroy(ue_sampler *sampler) {
    if (!sampler) return;
    free(sampler->work);
    free(sampler->cand);
    free(sampler->count);
    free(sampler->seen);
    free(sampler->seen_pos);
    free(sampler->ring);
    free(sampler);
}

/* Forgets the penalty history and restarts the random stream from the seed, so a reset
 * sampler repeats the draws of a fresh one. */
void ue_sampler_reset(ue_sampler *sampler) {
    if (!sampler) return;
    if (sampler->penalize) {
        for (size_t i = 0; i < sampler->n_seen; i++) {
            int32_t t = sampler->seen[i];
            sampler->count[t] = 0;
            sampler->seen_pos[t] = -1;
        }
        sampler->n_seen = 0;
        sampler->ring_len = 0;
        sampler->ring_pos = 0;
    }
    rng_seed(sampler->rng, sampler->p.seed);
}

/* ---- penalty window ------------------------------------------------------------------ */

static void count_add(ue_sampler *s, int32_t t) {
    if (s->count[t] == UINT32_MAX) return; /* unbounded window: saturate */
    if (s->count[t]++ == 0) {
        s->seen_pos[t] = (int32_t)s->n_seen;
        s->seen[s->n_seen++] = t;
    }
}

static void count_remove(ue_sampler *s, int32_t t) {
    if (--s->count[t] != 0) return;
    int32_t pos = s->seen_pos[t];
    int32_t last = s->seen[--s->n_seen];
    s->seen[pos] = last;
    s->seen_pos[last] = pos;
    s->seen_pos[t] = -1;
}

/* Tokens outside [0, n_vocab) are ignored: they cannot be penalised anyway. */
void ue_sampler_accept(ue_sampler *sampler, int32_t token) {
    if (!sampler || !sampler->penalize) return;
    if (token < 0 || token >= sampler->n_vocab) return;
    if (sampler->window > 0) {
        if (sampler->ring_len == sampler->window)
            count_remove(sampler, sampler->ring[sampler->ring_pos]);
        else
            sampler->ring_len++;
        sampler->ring[sampler->ring_pos] = token;
        sampler->ring_pos = (sampler->ring_pos + 1) % sampler->window;
    }
    count_add(sampler, token);
}

/* Copies logits into work with NaN read as -inf (a NaN logit means "never this token";
 * +inf stays and wins outright), then applies the penalties to the tokens in the window:
 * repetition divides a positive logit by the penalty and multiplies a negative one (HF /
 * llama.cpp), then presence and frequency subtract presence + count * frequency (OpenAI's
 * definition). */
static void load_logits(ue_sampler *s, const float *logits) {
    float *w = s->work;
    int n = s->n_vocab;
    for (int i = 0; i < n; i++) w[i] = isnan(logits[i]) ? -INFINITY : logits[i];
    if (!s->penalize) return;
    float rp = s->p.repeat_penalty, pres = s->p.presence_penalty, freq = s->p.frequency_penalty;
    for (size_t i = 0; i < s->n_seen; i++) {
        int32_t t = s->seen[i];
        float l = w[t];
        if (rp != 1.0f) l = l > 0.0f ? l / rp : l * rp;
        l -= (float)s->count[t] * freq + pres;
        w[t] = isnan(l) ? -INFINITY : l; /* inf - inf */
    }
}

/* Highest logit, lowest id among equals. */
static int32_t argmax(const float *v, int n) {
    int32_t best = 0;
    float best_v = v[0]; /* kept in a register: reloading v[best] serialises the loop */
    for (int i = 1; i < n; i++) {
        if (v[i] > best_v) {
            best_v = v[i];
            best = i;
        }
    }
    return best;
}

/* The candidate order every filter uses: larger value first, lower id among equals. Ids
 * are distinct, so it is a strict total order and the kept sets are deterministic. */
static int better(const cand *a, const cand *b) {
    return a->v > b->v || (a->v == b->v && a->id < b->id);
}

/* ---- top-k: one pass with a k-element min-heap (root = the worst kept) ---------------- */

static void heap_sift_down(cand *h, size_t n, size_t i) {
    cand x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && better(&h[c], &h[c + 1])) c++;
        if (!better(&x, &h[c])) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static size_t select_top_k(const float *v, int n, size_t k, cand *h) {
    for (size_t i = 0; i < k; i++) h[i] = (cand){v[i], (int32_t)i};
    for (size_t i = k / 2; i-- > 0;) heap_sift_down(h, k, i);
    /* Later ids lose ties, so only a strictly larger logit displaces the root. */
    for (int i = (int)k; i < n; i++) {
        if (v[i] > h[0].v) {
            h[0] = (cand){v[i], (int32_t)i};
            heap_sift_down(h, k, 0);
        }
    }
    return k;
}

/* ---- top-p: weighted quickselect -------------------------------------------------------- */

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

/* Sorts c[0..n) into candidate order and returns the length of the shortest prefix whose
 * weight reaches need (n when rounding leaves it short). */
static size_t nucleus_by_sort(cand *c, size_t n, double need) {
    qsort(c, n, sizeof *c, cand_cmp);
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        acc += c[i].v;
        if (acc >= need) return i + 1;
    }
    return n;
}

static void cand_swap(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Reorders c[0..n) (weights in v) so that its first k entries are the k best in candidate
 * order, where k is the smallest count whose weight reaches need, and returns k. Expected
 * O(n) (quickselect on weight mass: no full sort of a 262k vocabulary), falling back to a
 * sort of what is left after too many unlucky pivots. */
static size_t nucleus(cand *c, size_t n, double need) {
    size_t lo = 0, hi = n; /* c[0..lo) kept; c[hi..n) dropped; the boundary is in between */
    int budget = 64;
    while (hi - lo > 32) {
        if (budget-- == 0) return lo + nucleus_by_sort(c + lo, hi - lo, need);
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        /* Median of three to c[last] as the pivot. */
        if (better(&c[mid], &c[lo])) cand_swap(&c[mid], &c[lo]);
        if (better(&c[last], &c[lo])) cand_swap(&c[last], &c[lo]);
        if (better(&c[mid], &c[last])) cand_swap(&c[mid], &c[last]);
        cand pivot = c[last];
        size_t g = lo;
        double mass = 0.0;
        for (size_t j = lo; j < last; j++) {
            if (better(&c[j], &pivot)) {
                mass += c[j].v;
                cand_swap(&c[g++], &c[j]);
            }
        }
        cand_swap(&c[g], &c[last]);
        if (mass >= need) {
            hi = g;
        } else {
            need -= mass;
            if ((double)c[g].v >= need) return g + 1;
            need -= c[g].v;
            lo = g + 1;
        }
    }
    return lo + nucleus_by_sort(c + lo, hi - lo, need);
}

/* ---- top-p over a whole vocabulary: bucket by weight first ------------------------------ */

/* A weight in (0, 1] is a positive float, whose bit pattern orders like its value; the
 * exponent and 3 mantissa bits (bits >> 20) give 1017 buckets, each spanning a factor of
 * 2^(1/8) at most. */
static unsigned weight_bucket(float w) {
    uint32_t bits;
    memcpy(&bits, &w, sizeof bits);
    return bits >> 20;
}

/* nucleus() for many candidates: the bucket masses (hist, filled while weighing) locate
 * the bucket where the cut falls; everything above it is kept and everything below it
 * dropped in two predictable passes, and only that bucket goes through the quickselect.
 * On a peaked distribution that bucket holds a handful of tokens. */
static size_t nucleus_bucketed(cand *c, size_t n, const double *hist, double need) {
    unsigned b = SAMPLER_BUCKETS - 1;
    double above = 0.0;
    while (b > 0 && above + hist[b] < need) above += hist[b--];
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (weight_bucket(c[i].v) >= b) c[m++] = c[i];
    size_t h = 0;
    for (size_t i = 0; i < m; i++)
        if (weight_bucket(c[i].v) > b) cand_swap(&c[h++], &c[i]);
    return h + nucleus(c + h, m - h, need - above);
}

/* ---- the filter chain ------------------------------------------------------------------ */

/* Fills s->cand with the tokens that survive top-k, top-p and min-p, v = unnormalised
 * probability (> 0), sets *total to their sum and returns their count; 0 when every logit
 * is -inf (the caller then falls back to the argmax). Needs temperature > 0. */
static size_t filter(ue_sampler *s, double *total) {
    const float *v = s->work;
    int nv = s->n_vocab;
    cand *c = s->cand;
    size_t n;
    if (s->p.top_k > 0 && s->p.top_k < nv) {
        n = select_top_k(v, nv, (size_t)s->p.top_k, c);
    } else {
        for (int i = 0; i < nv; i++) c[i] = (cand){v[i], (int32_t)i};
        n = (size_t)nv;
    }

    float max = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (c[i].v > max) max = c[i].v;
    if (max == -INFINITY) return 0;

    /* Weights exp((l - max) / T), dropping tokens whose weight is 0; with a +inf logit
     * the distribution is uniform over the +inf tokens (the limit of softmax). */
    int top_p = s->p.top_p < 1.0f;
    int bucketed = top_p && n > SAMPLER_BUCKETED_MIN;
    if (bucketed) memset(s->hist, 0, sizeof s->hist);
    size_t m = 0;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float w;
        if (max == INFINITY) {
            w = c[i].v == INFINITY ? 1.0f : 0.0f;
        } else {
            double d = (double)(c[i].v - max) * s->inv_temp;
            w = d < SAMPLER_EXP_FLOOR ? 0.0f : expf((float)d);
        }
        if (w > 0.0f) {
            c[m].v = w;
            c[m].id = c[i].id;
            m++;
            sum += w;
            if (bucketed) s->hist[weight_bucket(w)] += w;
        }
    }
    n = m;

    int changed = 0;
    if (top_p) {
        double need = (double)s->p.top_p * sum;
        n = bucketed ? nucleus_bucketed(c, n, s->hist, need) : nucleus(c, n, need);
        changed = 1;
    }
    /* min-p keeps p >= min_p * p_max; the best token's weight is exactly 1. */
    if (s->p.min_p > 0.0f) {
        m = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].v >= s->p.min_p) c[m++] = c[i];
        n = m;
        changed = 1;
    }
    if (changed) {
        sum = 0.0;
        for (size_t i = 0; i < n; i++) sum += c[i].v;
    }
    *total = sum;
    return n;
}

int32_t ue_sampler_sample(ue_sampler *sampler, const float *logits) {
    if (!sampler || !logits) return 0;
    load_logits(sampler, logits);
    if (sampler->p.temperature <= 0.0f) return argmax(sampler->work, sampler->n_vocab);
    double total;
    size_t n = filter(sampler, &total);
    if (n == 0) return argmax(sampler->work, sampler->n_vocab);
    double u = rng_uniform(sampler->rng) * total;
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        acc += sampler->cand[i].v;
        if (u < acc) return sampler->cand[i].id;
    }
    return sampler->cand[n - 1].id; /* u rounded up to the total */
}

size_t ue_sampler_support(ue_sampler *sampler, const float *logits, int32_t *ids,
                          float *probs) {
    if (!sampler || !logits || !ids || !probs) return 0;
    load_logits(sampler, logits);
    double total = 0.0;
    size_t n = sampler->p.temperature > 0.0f ? filter(sampler, &total) : 0;
    if (n == 0) {
        ids[0] = argmax(sampler->work, sampler->n_vocab);
        probs[0] = 1.0f;
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = sampler->cand[i].id;
        probs[i] = (float)(sampler->cand[i].v / total);
    }
    return n;
}
