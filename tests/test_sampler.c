/* ue_sampler: greedy and its ties, top-k / top-p / min-p supports checked exactly
 * (ue_sampler_support) against a plain sort-based reference and empirically by drawing,
 * temperature frequencies against softmax(logits / T), seeding, the three penalties,
 * NaN / inf logits and parameter validation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/sampler.h"
#include "test_util.h"
#include "unicorn.h"

#define BIG_VOCAB 262144
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Test-local generator for logits (splitmix64), independent of the sampler's. */
static uint64_t test_rng = 12345;
static uint64_t next_u64(void) {
    uint64_t z = (test_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double next_unit(void) { return (double)(next_u64() >> 11) * 0x1.0p-53; }
/* Roughly normal logits with the given spread (sum of 4 uniforms). */
static void random_logits(float *l, int n, double spread) {
    for (int i = 0; i < n; i++)
        l[i] = (float)((next_unit() + next_unit() + next_unit() + next_unit() - 2.0) * spread);
}

static ue_sampler_params neutral_params(void) {
    ue_sampler_params p;
    ue_sampler_params_init(&p);
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.temperature = 1.0f;
    return p;
}

static ue_sampler *make(const ue_sampler_params *p, int n_vocab) {
    ue_sampler *s = NULL;
    ue_error err = {0};
    ue_status st = ue_sampler_create(p, n_vocab, &s, &err);
    if (st != UE_OK) fail_msg("sampler create: %s", err.msg);
    return s;
}

static int32_t ref_argmax(const float *l, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[best]) best = i;
    return best;
}

static int cmp_id(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* ---- the reference filter chain: a full sort, then each filter's definition ---------- */

static const float *sort_keys;
static int by_logit_desc(const void *pa, const void *pb) {
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    if (sort_keys[a] != sort_keys[b]) return sort_keys[a] > sort_keys[b] ? -1 : 1;
    return (a > b) - (a < b);
}

/* Writes the ids that survive top-k, temperature, top-p and min-p, sorted by id, and
 * returns their count. *margin: how far the top-p cut is from flipping (mass units). */
static size_t ref_support(const float *l, int n, int top_k, double temp, double top_p,
                          double min_p, int32_t *out, double *margin) {
    int32_t *order = malloc((size_t)n * sizeof *order);
    double *w = malloc((size_t)n * sizeof *w);
    assert_non_null(order);
    assert_non_null(w);
    for (int i = 0; i < n; i++) order[i] = i;
    sort_keys = l;
    qsort(order, (size_t)n, sizeof *order, by_logit_desc);
    size_t k = (top_k > 0 && top_k < n) ? (size_t)top_k : (size_t)n;
    double total = 0.0;
    for (size_t i = 0; i < k; i++) {
        w[i] = exp(((double)l[order[i]] - l[order[0]]) / temp);
        total += w[i];
    }
    size_t keep = k;
    *margin = 1.0;
    if (top_p < 1.0) {
        double acc = 0.0;
        for (size_t i = 0; i < k; i++) {
            double before = acc;
            acc += w[i] / total;
            if (acc >= top_p) {
                keep = i + 1;
                *margin = fmin(acc - top_p, top_p - before);
                break;
            }
        }
    }
    size_t m = 0;
    for (size_t i = 0; i < keep; i++)
        if (w[i] >= min_p) out[m++] = order[i];
    qsort(out, m, sizeof *out, cmp_id);
    free(order);
    free(w);
    return m;
}

typedef struct id_prob {
    int32_t id;
    float p;
} id_prob;

static int cmp_pair(const void *a, const void *b) {
    return cmp_id(&((const id_prob *)a)->id, &((const id_prob *)b)->id);
}

/* The sampler's support sorted by id, probabilities following their ids. */
static size_t support_sorted(ue_sampler *s, const float *l, int n, int32_t *ids, float *probs) {
    size_t m = ue_sampler_support(s, l, ids, probs);
    id_prob *pairs = malloc((size_t)n * sizeof *pairs);
    assert_non_null(pairs);
    for (size_t i = 0; i < m; i++) pairs[i] = (id_prob){ids[i], probs[i]};
    qsort(pairs, m, sizeof *pairs, cmp_pair);
    for (size_t i = 0; i < m; i++) {
        ids[i] = pairs[i].id;
        probs[i] = pairs[i].p;
    }
    free(pairs);
    return m;
}

/* Compares the sampler's support with the reference for one parameter set. */
static void check_support(const float *l, int n, int top_k, float temp, float top_p,
                          float min_p) {
    ue_sampler_params p = neutral_params();
    p.top_k = top_k;
    p.temperature = temp;
    p.top_p = top_p;
    p.min_p = min_p;
    ue_sampler *s = make(&p, n);
    int32_t *ids = malloc((size_t)n * sizeof *ids), *want = malloc((size_t)n * sizeof *want);
    float *probs = malloc((size_t)n * sizeof *probs);
    assert_non_null(ids);
    assert_non_null(want);
    assert_non_null(probs);
    double margin;
    size_t m = support_sorted(s, l, n, ids, probs);
    size_t wm = ref_support(l, n, top_k, temp, top_p, min_p, want, &margin);
    /* A cut within float rounding (~1e-7 relative) of a boundary could go either way; the
     * fixed inputs here keep clear of that, which this asserts. */
    assert_true(margin > 1e-6);
    if (m != wm) fail_msg("support size %zu, want %zu (k %d T %g p %g minp %g)", m, wm, top_k,
                          (double)temp, (double)top_p, (double)min_p);
    assert_memory_equal(ids, want, m * sizeof *ids);
    double sum = 0.0;
    for (size_t i = 0; i < m; i++) {
        assert_true(probs[i] > 0.0f);
        sum += probs[i];
    }
    assert_true(fabs(sum - 1.0) < 1e-4);
    free(ids);
    free(want);
    free(probs);
    ue_sampler_destroy(s);
}

/* Draws `draws` times, one fresh sampler per seed block, and fails on any token outside
 * allowed[0..n_allowed) (sorted); counts[] gets the hits per allowed entry. */
static void check_draws_within(const ue_sampler_params *base, const float *l, int n,
                               const int32_t *allowed, size_t n_allowed, int draws,
                               int *counts) {
    memset(counts, 0, n_allowed * sizeof *counts);
    for (int seed = 0; seed < 10; seed++) {
        ue_sampler_params p = *base;
        p.seed = 1000 + (uint64_t)seed;
        ue_sampler *s = make(&p, n);
        for (int i = 0; i < draws / 10; i++) {
            int32_t t = ue_sampler_sample(s, l);
            const int32_t *hit = bsearch(&t, allowed, n_allowed, sizeof *allowed, cmp_id);
            if (!hit) fail_msg("drew token %d outside the allowed set", t);
            counts[hit - allowed]++;
        }
        ue_sampler_destroy(s);
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_params_init_gemma_defaults(void **state) {
    (void)state;
    ue_sampler_params p;
    memset(&p, 0xff, sizeof p);
    ue_sampler_params_init(&p);
    assert_true(p.temperature == 1.0f);
    assert_int_equal(p.top_k, 64);
    assert_true(p.top_p == 0.95f);
    assert_true(p.min_p == 0.0f);
    assert_true(p.repeat_penalty == 1.0f);
    assert_int_equal(p.repeat_last_n, 64);
    assert_true(p.presence_penalty == 0.0f);
    assert_true(p.frequency_penalty == 0.0f);
    ue_sampler_params q;
    ue_sampler_params_init(&q);
    assert_true(p.seed == q.seed); /* a constant: the caller picks random seeds */
}

static void test_greedy_is_argmax(void **state) {
    (void)state;
    enum { n = 5000 };
    static float l[n];
    const float temps[] = {0.0f, -1.0f};
    for (int t = 0; t < N(temps); t++) {
        ue_sampler_params p;
        ue_sampler_params_init(&p); /* top-k/top-p set: greedy ignores them */
        p.temperature = temps[t];
        ue_sampler *s = make(&p, n);
        for (int rep = 0; rep < 20; rep++) {
            random_logits(l, n, 3.0);
            assert_int_equal(ue_sampler_sample(s, l), ref_argmax(l, n));
        }
        ue_sampler_destroy(s);
    }
}

static void test_greedy_ties_pick_lowest_id(void **state) {
    (void)state;
    ue_sampler_params p = neutral_params();
    p.temperature = 0.0f;
    ue_sampler *s = make(&p, 6);
    const float l[6] = {1.0f, 5.0f, 2.0f, 5.0f, 5.0f, -3.0f};
    assert_int_equal(ue_sampler_sample(s, l), 1);
    const float flat[6] = {0, 0, 0, 0, 0, 0};
    assert_int_equal(ue_sampler_sample(s, flat), 0);
    ue_sampler_destroy(s);
}

static void test_top_k_one_is_greedy(void **state) {
    (void)state;
    enum { n = 3000 };
    static float l[n];
    const float temps[] = {0.05f, 1.0f, 5.0f, 1000.0f};
    for (int t = 0; t < N(temps); t++) {
        ue_sampler_params p = neutral_params();
        p.top_k = 1;
        p.temperature = temps[t];
        p.seed = 7 + (uint64_t)t;
        ue_sampler *s = make(&p, n);
        for (int rep = 0; rep < 20; rep++) {
            random_logits(l, n, 2.0);
            l[n - 1] = l[ref_argmax(l, n)]; /* a tie: the lower id must win */
            assert_int_equal(ue_sampler_sample(s, l), ref_argmax(l, n));
        }
        ue_sampler_destroy(s);
    }
}

static void test_top_k_restricts_support(void **state) {
    (void)state;
    enum { n = 1000, k = 10 };
    static float l[n];
    random_logits(l, n, 1.0);
    l[500] = l[ref_argmax(l, n)] + 0.01f; /* a known winner inside the vocabulary */
    int32_t want[n];
    double margin;
    size_t m = ref_support(l, n, k, 1.0, 1.0, 0.0, want, &margin);
    assert_int_equal(m, k);
    assert_non_null(bsearch(&(int32_t){500}, want, m, sizeof *want, cmp_id));
    ue_sampler_params p = neutral_params();
    p.top_k = k;
    p.temperature = 5.0f; /* flat enough that every kept token shows up */
    int counts[k];
    check_draws_within(&p, l, n, want, m, 4000, counts);
    for (int i = 0; i < k; i++) assert_true(counts[i] > 0);
    check_support(l, n, k, 5.0f, 1.0f, 0.0f);
}

/* top-k over a Gemma-sized vocabulary with ties straddling the cut. */
static void test_top_k_big_vocab_exact(void **state) {
    (void)state;
    float *l = malloc(BIG_VOCAB * sizeof *l);
    assert_non_null(l);
    random_logits(l, BIG_VOCAB, 4.0);
    check_support(l, BIG_VOCAB, 64, 1.0f, 1.0f, 0.0f);
    check_support(l, BIG_VOCAB, 1000, 0.7f, 1.0f, 0.0f);
    check_support(l, BIG_VOCAB, 1000, 0.7f, 0.9f, 0.0f);
    check_support(l, BIG_VOCAB, 5000, 1.5f, 0.99f, 0.01f);
    /* Coarse logits: many equal values, so the 64th place is a tie decided by id. */
    for (int i = 0; i < BIG_VOCAB; i++) l[i] = floorf(l[i]);
    check_support(l, BIG_VOCAB, 64, 1.0f, 1.0f, 0.0f);
    free(l);
}

/* Probabilities 1/2, 1/4, 1/8, ... on shuffled ids: the nucleus sizes are known. */
static void test_top_p_smallest_set(void **state) {
    (void)state;
    enum { n = 12 };
    const int32_t rank_to_id[n] = {7, 2, 11, 0, 5, 9, 1, 3, 4, 6, 8, 10};
    float l[n];
    for (int r = 0; r < n; r++) l[rank_to_id[r]] = (float)(-(r + 1) * log(2.0));
    /* cumulative mass of the top r: 0.5, 0.75, 0.875, 0.9375, ... (then renormalised by
     * 1 - 2^-12, which moves it by < 3e-4) */
    const struct { float p; int size; } cases[] = {
        {0.3f, 1}, {0.6f, 2}, {0.8f, 3}, {0.9f, 4}, {0.95f, 5}, {0.99f, 7}};
    for (int c = 0; c < N(cases); c++) {
        int32_t want[n];
        for (int r = 0; r < cases[c].size; r++) want[r] = rank_to_id[r];
        qsort(want, (size_t)cases[c].size, sizeof *want, cmp_id);
        check_support(l, n, 0, 1.0f, cases[c].p, 0.0f);

        ue_sampler_params p = neutral_params();
        p.top_p = cases[c].p;
        int counts[n];
        check_draws_within(&p, l, n, want, (size_t)cases[c].size, 4000, counts);
        /* The top token carries at least half of the kept mass. */
        for (int r = 0; r < cases[c].size; r++)
            if (want[r] == rank_to_id[0]) assert_true(counts[r] > 1700);
    }
}

/* The weighted quickselect behind top-p with top-k off, on a Gemma-sized vocabulary. */
static void test_top_p_big_vocab_exact(void **state) {
    (void)state;
    float *l = malloc(BIG_VOCAB * sizeof *l);
    assert_non_null(l);
    random_logits(l, BIG_VOCAB, 6.0);
    check_support(l, BIG_VOCAB, 0, 1.0f, 0.95f, 0.0f);
    check_support(l, BIG_VOCAB, 0, 1.0f, 0.5f, 0.0f);
    check_support(l, BIG_VOCAB, 0, 0.5f, 0.9f, 0.0f);
    /* Gemma's defaults: top-k 64 then top-p 0.95. */
    check_support(l, BIG_VOCAB, 64, 1.0f, 0.95f, 0.0f);
    /* A flat distribution: the nucleus is most of the vocabulary. */
    random_logits(l, BIG_VOCAB, 0.1);
    check_support(l, BIG_VOCAB, 0, 1.0f, 0.9f, 0.0f);
    /* Many exact ties. */
    for (int i = 0; i < BIG_VOCAB; i++) l[i] = (float)(next_u64() % 7);
    check_support(l, BIG_VOCAB, 0, 1.0f, 0.3f, 0.0f);
    free(l);
}

static void test_min_p(void **state) {
    (void)state;
    enum { n = 6 };
    const float l[n] = {-3.0f, 0.0f, -1.0f, -2.0f, -5.0f, -2.5f};
    /* Relative to the best token: e^-1 = 0.37, e^-2 = 0.14, e^-2.5 = 0.08, e^-3 = 0.05 */
    const int32_t keep_t1[] = {1, 2};
    check_support(l, n, 0, 1.0f, 1.0f, 0.3f);
    ue_sampler_params p = neutral_params();
    p.min_p = 0.3f;
    int counts[3];
    check_draws_within(&p, l, n, keep_t1, 2, 2000, counts);
    assert_true(counts[0] > 0 && counts[1] > 0);
    /* At T = 2 the ratios are e^-0.5, e^-1, e^-1.25 = 0.29, e^-1.5: min-p 0.3 keeps three. */
    int32_t ids[n];
    float probs[n];
    p.temperature = 2.0f;
    ue_sampler *s = make(&p, n);
    size_t m = support_sorted(s, l, n, ids, probs);
    ue_sampler_destroy(s);
    const int32_t want[] = {1, 2, 3};
    assert_int_equal(m, 3);
    assert_memory_equal(ids, want, sizeof want);
    check_support(l, n, 0, 2.0f, 1.0f, 0.3f);
}

/* 20000 draws against softmax(l / T): every count within 5 standard deviations of its
 * expectation and Pearson's chi-square below 40 (5 degrees of freedom: a chance of about
 * 1e-7 for a correct sampler; the seed is fixed, so the result is deterministic). */
static void test_temperature_frequencies(void **state) {
    (void)state;
    enum { n = 6, draws = 20000 };
    const float l[n] = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -1.0f};
    const float temps[] = {0.7f, 1.0f, 2.5f};
    for (int t = 0; t < N(temps); t++) {
        ue_sampler_params p = neutral_params();
        p.temperature = temps[t];
        p.seed = 99;
        ue_sampler *s = make(&p, n);
        int counts[n] = {0};
        for (int i = 0; i < draws; i++) {
            int32_t tok = ue_sampler_sample(s, l);
            assert_true(tok >= 0 && tok < n);
            counts[tok]++;
        }
        ue_sampler_destroy(s);
        double z = 0.0, prob[n], chi2 = 0.0;
        for (int i = 0; i < n; i++) z += exp(l[i] / temps[t]);
        for (int i = 0; i < n; i++) {
            prob[i] = exp(l[i] / temps[t]) / z;
            double e = draws * prob[i], sd = sqrt(draws * prob[i] * (1.0 - prob[i]));
            if (fabs(counts[i] - e) > 5.0 * sd)
                fail_msg("T %g token %d: %d draws, expected %.1f +- %.1f", (double)temps[t], i,
                         counts[i], e, sd);
            chi2 += (counts[i] - e) * (counts[i] - e) / e;
        }
        if (chi2 > 40.0) fail_msg("T %g: chi-square %.2f > 40", (double)temps[t], chi2);
    }
}

static void test_seed_reproducibility(void **state) {
    (void)state;
    enum { n = 500, len = 300 };
    static float l[n];
    random_logits(l, n, 1.0);
    ue_sampler_params p;
    ue_sampler_params_init(&p);
    p.top_k = 0;
    p.top_p = 1.0f;
    int32_t a[len], b[len], c[len], d[len];
    p.seed = 42;
    ue_sampler *s1 = make(&p, n), *s2 = make(&p, n);
    p.seed = 43;
    ue_sampler *s3 = make(&p, n);
    for (int i = 0; i < len; i++) {
        a[i] = ue_sampler_sample(s1, l);
        b[i] = ue_sampler_sample(s2, l);
        c[i] = ue_sampler_sample(s3, l);
    }
    assert_memory_equal(a, b, sizeof a);
    int differ = 0;
    for (int i = 0; i < len; i++) differ += a[i] != c[i];
    assert_true(differ > len / 2);
    /* reset restarts the stream from the seed */
    ue_sampler_reset(s1);
    for (int i = 0; i < len; i++) d[i] = ue_sampler_sample(s1, l);
    assert_memory_equal(a, d, sizeof a);
    ue_sampler_destroy(s1);
    ue_sampler_destroy(s2);
    ue_sampler_destroy(s3);
}

static void test_repeat_penalty(void **state) {
    (void)state;
    ue_sampler_params p = neutral_params();
    p.temperature = 0.0f;
    p.repeat_penalty = 1.25f;
    p.repeat_last_n = 2;
    ue_sampler *s = make(&p, 4);
    const float pos[4] = {2.0f, 1.7f, -1.0f, -1.2f};
    assert_int_equal(ue_sampler_sample(s, pos), 0);
    ue_sampler_accept(s, 0); /* 2 / 1.25 = 1.6 < 1.7 */
    assert_int_equal(ue_sampler_sample(s, pos), 1);
    const float neg[4] = {-9.0f, -9.0f, -1.0f, -1.2f};
    ue_sampler_accept(s, 2); /* -1 * 1.25 = -1.25 < -1.2 */
    assert_int_equal(ue_sampler_sample(s, neg), 3);
    ue_sampler_accept(s, 3); /* window of 2 is now {2, 3}: token 0 is free again */
    assert_int_equal(ue_sampler_sample(s, pos), 0);
    ue_sampler_reset(s);
    assert_int_equal(ue_sampler_sample(s, neg), 2);
    ue_sampler_destroy(s);
}

static void test_presence_and_frequency_penalties(void **state) {
    (void)state;
    const float l[2] = {1.0f, 0.6f};
    ue_sampler_params p = neutral_params();
    p.temperature = 0.0f;
    p.presence_penalty = 0.5f;
    ue_sampler *s = make(&p, 2);
    ue_sampler_accept(s, 0); /* 1 - 0.5 = 0.5 < 0.6 */
    assert_int_equal(ue_sampler_sample(s, l), 1);
    ue_sampler_destroy(s);

    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.15f;
    s = make(&p, 2);
    ue_sampler_accept(s, 0);
    ue_sampler_accept(s, 0); /* 1 - 2 * 0.15 = 0.7 > 0.6 */
    assert_int_equal(ue_sampler_sample(s, l), 0);
    ue_sampler_accept(s, 0); /* 1 - 3 * 0.15 = 0.55 < 0.6 */
    assert_int_equal(ue_sampler_sample(s, l), 1);
    ue_sampler_destroy(s);
}

/* All three penalties on exact values, read back through the probabilities. */
static void test_penalty_formula_exact(void **state) {
    (void)state;
    ue_sampler_params p = neutral_params();
    p.repeat_penalty = 2.0f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    p.repeat_last_n = -1;
    ue_sampler *s = make(&p, 3);
    ue_sampler_accept(s, 1);
    for (int i = 0; i < 1000; i++) ue_sampler_accept(s, 2);
    ue_sampler_accept(s, 1);
    ue_sampler_accept(s, -5);    /* out of range: ignored */
    ue_sampler_accept(s, 3);
    const float l[3] = {0.0f, 2.0f, -1.0f};
    /* token 1: 2 / 2 - 2 * 0.25 - 0.5 = 0; token 2: -1 * 2 - 1000 * 0.25 - 0.5 = -252.5 */
    int32_t ids[3];
    float probs[3];
    size_t m = support_sorted(s, l, 3, ids, probs);
    assert_int_equal(m, 2); /* e^-252.5 is 0 in float */
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 1);
    assert_float_equal(probs[0], 0.5f, 1e-6f);
    assert_float_equal(probs[1], 0.5f, 1e-6f);
    ue_sampler_destroy(s);

    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.repeat_penalty = 1.5f;
    s = make(&p, 3);
    ue_sampler_accept(s, 1);
    ue_sampler_accept(s, 2);
    /* token 1: 2 / 1.5; token 2: -1 * 1.5 */
    m = support_sorted(s, l, 3, ids, probs);
    assert_int_equal(m, 3);
    double z = 1.0 + exp(2.0 / 1.5) + exp(-1.5);
    assert_float_equal(probs[0], 1.0 / z, 1e-5);
    assert_float_equal(probs[1], exp(2.0 / 1.5) / z, 1e-5);
    assert_float_equal(probs[2], exp(-1.5) / z, 1e-5);
    ue_sampler_destroy(s);
}

static void test_nan_and_inf_logits(void **state) {
    (void)state;
    enum { n = 6 };
    ue_sampler_params p = neutral_params();
    ue_sampler *s = make(&p, n);
    ue_sampler_params g = neutral_params();
    g.temperature = 0.0f;
    ue_sampler *greedy = make(&g, n);

    /* NaN reads as -inf: never drawn, never the argmax. */
    const float with_nan[n] = {NAN, 1.0f, NAN, 0.5f, -INFINITY, 0.0f};
    const int32_t finite_ids[] = {1, 3, 5};
    int counts[3];
    check_draws_within(&p, with_nan, n, finite_ids, 3, 1000, counts);
    assert_int_equal(ue_sampler_sample(greedy, with_nan), 1);

    /* +inf wins outright; several +inf share the mass evenly. */
    const float one_inf[n] = {1.0f, 2.0f, 3.0f, INFINITY, NAN, 0.0f};
    for (int i = 0; i < 50; i++) assert_int_equal(ue_sampler_sample(s, one_inf), 3);
    assert_int_equal(ue_sampler_sample(greedy, one_inf), 3);
    const float two_inf[n] = {INFINITY, 2.0f, -INFINITY, INFINITY, NAN, 0.0f};
    const int32_t inf_ids[] = {0, 3};
    check_draws_within(&p, two_inf, n, inf_ids, 2, 2000, counts);
    assert_true(counts[0] > 800 && counts[1] > 800);

    /* Nothing drawable: the argmax (lowest id among equals), never a crash. */
    const float none[n] = {NAN, -INFINITY, NAN, NAN, -INFINITY, NAN};
    assert_int_equal(ue_sampler_sample(s, none), 0);
    assert_int_equal(ue_sampler_sample(greedy, none), 0);
    const float last_only[n] = {NAN, NAN, NAN, NAN, NAN, -3.0f};
    assert_int_equal(ue_sampler_sample(s, last_only), 5);

    /* Huge finite logits and extreme temperatures stay finite. */
    const float huge[n] = {3e38f, -3e38f, 1e38f, 0.0f, 3e38f, -1.0f};
    for (int i = 0; i < 20; i++) {
        int32_t t = ue_sampler_sample(s, huge);
        assert_true(t == 0 || t == 4);
    }
    ue_sampler_destroy(s);
    p.temperature = 1e-30f;
    s = make(&p, n);
    const float close[n] = {1.0f, 1.0f + 1e-6f, 0.0f, 0.5f, 1.0f, -1.0f};
    for (int i = 0; i < 20; i++) assert_int_equal(ue_sampler_sample(s, close), 1);
    ue_sampler_destroy(s);
    p.temperature = 1e30f;
    p.top_p = 0.5f;
    s = make(&p, n);
    int32_t ids[n];
    float probs[n];
    size_t m = ue_sampler_support(s, close, ids, probs);
    assert_int_equal(m, 3); /* flat: half the mass is three of six tokens */
    ue_sampler_destroy(s);
    ue_sampler_destroy(greedy);
}

static void expect_invalid(ue_sampler_params p, int n_vocab, const char *field) {
    ue_sampler *s = (ue_sampler *)&p; /* must be reset to NULL */
    ue_error err = {0};
    assert_int_equal(ue_sampler_create(&p, n_vocab, &s, &err), UE_ERR_ARGUMENT);
    assert_null(s);
    if (!strstr(err.msg, field)) fail_msg("error \"%s\" does not name %s", err.msg, field);
}

static void test_invalid_params_rejected(void **state) {
    (void)state;
    ue_sampler_params ok;
    ue_sampler_params_init(&ok);
    ue_sampler_params p;
    expect_invalid(ok, 0, "n_vocab");
    expect_invalid(ok, -3, "n_vocab");
    p = ok, p.temperature = NAN, expect_invalid(p, 10, "temperature");
    p = ok, p.temperature = INFINITY, expect_invalid(p, 10, "temperature");
    p = ok, p.top_p = 0.0f, expect_invalid(p, 10, "top_p");
    p = ok, p.top_p = 1.5f, expect_invalid(p, 10, "top_p");
    p = ok, p.top_p = NAN, expect_invalid(p, 10, "top_p");
    p = ok, p.min_p = -0.1f, expect_invalid(p, 10, "min_p");
    p = ok, p.min_p = 1.0f, expect_invalid(p, 10, "min_p");
    p = ok, p.min_p = NAN, expect_invalid(p, 10, "min_p");
    p = ok, p.repeat_penalty = 0.0f, expect_invalid(p, 10, "repeat_penalty");
    p = ok, p.repeat_penalty = -1.0f, expect_invalid(p, 10, "repeat_penalty");
    p = ok, p.repeat_penalty = INFINITY, expect_invalid(p, 10, "repeat_penalty");
    p = ok, p.repeat_last_n = -2, expect_invalid(p, 10, "repeat_last_n");
    p = ok, p.repeat_last_n = 1 << 30, expect_invalid(p, 10, "repeat_last_n");
    p = ok, p.presence_penalty = NAN, expect_invalid(p, 10, "presence_penalty");
    p = ok, p.frequency_penalty = -INFINITY, expect_invalid(p, 10, "frequency_penalty");

    ue_sampler *s = NULL;
    ue_error err = {0};
    assert_int_equal(ue_sampler_create(NULL, 10, &s, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_sampler_create(&ok, 10, NULL, &err), UE_ERR_ARGUMENT);
    /* The documented "off" values are accepted. */
    p = ok, p.top_k = -1, p.top_p = 1.0f, p.repeat_last_n = -1, p.temperature = -2.0f;
    assert_int_equal(ue_sampler_create(&p, 10, &s, &err), UE_OK);
    ue_sampler_destroy(s);
    ue_sampler_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_init_gemma_defaults),
        cmocka_unit_test(test_greedy_is_argmax),
        cmocka_unit_test(test_greedy_ties_pick_lowest_id),
        cmocka_unit_test(test_top_k_one_is_greedy),
        cmocka_unit_test(test_top_k_restricts_support),
        cmocka_unit_test(test_top_k_big_vocab_exact),
        cmocka_unit_test(test_top_p_smallest_set),
        cmocka_unit_test(test_top_p_big_vocab_exact),
        cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_temperature_frequencies),
        cmocka_unit_test(test_seed_reproducibility),
        cmocka_unit_test(test_repeat_penalty),
        cmocka_unit_test(test_presence_and_frequency_penalties),
        cmocka_unit_test(test_penalty_formula_exact),
        cmocka_unit_test(test_nan_and_inf_logits),
        cmocka_unit_test(test_invalid_params_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
