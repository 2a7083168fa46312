/* The fast CPU kernels against the scalar oracle (ue_dot_row_f32, ue_dequantize_row):
 * every weight type with a kernel, at every ISA level this machine runs (forced through
 * UE_CPU_ISA), on odd row counts, 1..17 tokens and misaligned weight and activation
 * pointers; and fast attention against a plain two-pass softmax, windows included. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_levels.h"
#include "rand_data.h"
#include "test_util.h"

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"

/* Activations with the outliers real models have: a few channels much larger. */
static void random_x(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        x[i] = rnd_f(-1.0f, 1.0f);
        if (rnd_u32() % 61 == 0) x[i] *= 40.0f;
    }
}

/* Bound on |fast - exact| for one (row, token): the activation quantization moves each x_i
 * by at most half a step, amax(32-block of i) / 254 (Q8_32) or / 65534 (Q16_32 and its
 * hi/lo byte split Q16_HL / Q16_HLK, the same integers); weights
 * are exact integers times scales, integer sums are exact, and float rounding of the
 * scaled block sums adds a relative 1e-5 of sum |w| |x| (n <= 4096 terms, f32). The exact
 * mode's prefill (f32 throughout) has only the last term. */
static double error_bound(cpu_act act, const float *w, const float *x, int64_t n) {
    int blk = act == CPU_ACT_F32 ? 0 : 32;
    double step = act == CPU_ACT_Q8_32 ? 254.0 : 65534.0;
    double quant = 0.0, mag = 0.0;
    for (int64_t b0 = 0; b0 < n; b0 += blk ? blk : n) {
        int64_t len = blk ? blk : n;
        double amax = 0.0;
        for (int64_t i = b0; i < b0 + len; i++) amax = fmax(amax, fabs(x[i]));
        for (int64_t i = b0; i < b0 + len; i++) {
            if (blk) quant += fabs(w[i]) * amax / step;
            mag += fabs(w[i]) * fabs(x[i]);
        }
    }
    return quant * 1.0001 + 1e-5 * mag + 1e-6;
}

static const ue_type k_types[] = {UE_TYPE_Q4_0, UE_TYPE_Q4_1, UE_TYPE_Q5_0, UE_TYPE_Q5_1,
                                  UE_TYPE_Q8_0, UE_TYPE_Q4_K, UE_TYPE_Q5_K, UE_TYPE_Q6_K,
                                  UE_TYPE_F32,  UE_TYPE_F16,  UE_TYPE_BF16};
enum { N_TYPES = sizeof k_types / sizeof k_types[0] };


/* One matmul through the backend: n_out rows x n_tok tokens, weights at byte offset
 * w_skew from an aligned address and activations at float offset x_skew. */
/* The activation format a matmul of n_tok tokens uses (cpu_matmul.c): int8 mode always
 * Q8_32; the exact mode 16-bit (Q16_32 or its byte split) below 8 tokens, from 8 16-bit
 * (integer panels, where the set has them for the type) or f32 (dequantized weights). */
static cpu_act act_used(const cpu_kernel_set *set, const cpu_type_kernel *k, int int8, int64_t n_tok) {
    if (k->act == CPU_ACT_F32 || int8) return k->act;
    if (n_tok >= 8 && k->unpack && set->ipanel_gemm) return CPU_ACT_Q16_32; /* integer panels */
    return n_tok >= 8 || !k->gemv16 ? CPU_ACT_F32 : k->act16;
}

static void check_matmul(ue_backend *be, ue_type type, cpu_act act, int64_t n, int64_t n_out,
                         int64_t n_tok, int w_skew, int x_skew) {
    size_t row_bytes = ue_type_row_bytes(type, n);
    uint8_t *wmem = malloc(row_bytes * (size_t)n_out + 64);
    uint8_t *w = wmem + w_skew;
    random_rows(type, w, n, n_out);
    float *wf = malloc(sizeof(float) * (size_t)(n * n_out));
    for (int64_t o = 0; o < n_out; o++) ue_dequantize_row(type, w + (size_t)o * row_bytes, wf + o * n, n);

    ue_error err;
    ue_buffer *wbuf, *xbuf, *obuf;
    assert_int_equal(be->ops->buffer_from_host(be, w, row_bytes * (size_t)n_out, &wbuf, &err), UE_OK);
    size_t xbytes = sizeof(float) * (size_t)(n * n_tok + x_skew);
    assert_int_equal(be->ops->buffer_create(be, xbytes, &xbuf, &err), UE_OK);
    assert_int_equal(be->ops->buffer_create(be, sizeof(float) * (size_t)(n_out * n_tok), &obuf, &err), UE_OK);
    float *x = (float *)xbuf->host + x_skew;
    random_x(x, n * n_tok);
    ue_tensor wt = {.buf = wbuf, .offset = 0, .type = type, .ne = {n, n_out}};
    ue_tensor xt = {.buf = xbuf, .offset = sizeof(float) * (size_t)x_skew, .type = UE_TYPE_F32, .ne = {n, n_tok}};
    ue_tensor ot = {.buf = obuf, .offset = 0, .type = UE_TYPE_F32, .ne = {n_out, n_tok}};
    be->ops->matmul(be, &wt, &xt, &ot);

    const float *out = obuf->host;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t o = 0; o < n_out; o++) {
            double exact = ue_dot_row_f32(type, w + (size_t)o * row_bytes, x + t * n, n);
            double bound = error_bound(act, wf + o * n, x + t * n, n);
            double got = out[t * n_out + o];
            if (!(fabs(got - exact) <= bound)) {
                fprintf(stderr, "%s %s n=%lld rows=%lld tokens=%lld: [t=%lld, o=%lld] %.7g vs %.7g (bound %.3g)\n",
                        be->description, ue_type_get(type)->name, (long long)n, (long long)n_out,
                        (long long)n_tok, (long long)t, (long long)o, got, exact, bound);
                fail();
            }
        }
    be->ops->buffer_destroy(be, wbuf);
    be->ops->buffer_destroy(be, xbuf);
    be->ops->buffer_destroy(be, obuf);
    free(wf);
    free(wmem);
}

static ue_backend *backend_at(cpu_isa isa, int threads) { return cpu_backend_at(isa, threads, 0); }

static void test_matmul_every_isa(void **state) {
    (void)state;
    static const int64_t rows[] = {1, 3, 5, 13};
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        if (!cpu_isa_supported((cpu_isa)isa)) {
            printf("ISA level %s not available here: skipped\n", cpu_isa_env((cpu_isa)isa));
            continue;
        }
        const cpu_kernel_set *set = cpu_kernels_get((cpu_isa)isa);
        for (int mode = 0; mode < 4; mode++) { /* threads 1, 2 x exact, int8 */
            int threads = 1 + mode % 2, int8 = mode / 2;
            ue_backend *be = cpu_backend_at((cpu_isa)isa, threads, int8);
            for (int ti = 0; ti < N_TYPES; ti++) {
                ue_type type = k_types[ti];
                const cpu_type_kernel *k = &set->type[type];
                /* every type runs on every set; NEON has no int8 kernels (the f32 path) */
                if (k->act != CPU_ACT_F32) assert_non_null(k->deq);
                int64_t bs = ue_type_get(type)->block_size;
                /* odd block counts (a lone last 32-block), rows longer than a prefill column
                 * block (2048: 2080 = 2048 + 32, 2304 = 2048 + 256) */
                int64_t sizes[3] = {bs == 256 ? 256 : bs == 32 ? 96 : 17,
                                    bs == 256 ? 768 : bs == 32 ? 160 : 100,
                                    bs == 256 ? 2304 : bs == 32 ? 2080 : 640};
                for (int si = 0; si < 3; si++)
                    for (int ri = 0; ri < 4; ri++)
                        for (int64_t tok = 1; tok <= 17; tok += (si == 2 ? 8 : 1))
                            check_matmul(be, type, act_used(set, k, int8, tok), sizes[si], rows[ri],
                                         tok, (int)(tok % 3), (int)(tok % 2));
            }
            be->ops->destroy(be);
        }
    }
}

/* Prefill batches past one token panel (32 tokens on AVX-512): full and partial panels,
 * token groups, row counts that leave 6-, 2- and 1-row tiles and several chunks of rows,
 * rows longer than a column block. */
static void test_matmul_many_tokens(void **state) {
    (void)state;
    /* float weights take the f32 panels from 64 tokens (cpu_matmul.c), the row tiles below */
    static const ue_type types[] = {UE_TYPE_Q4_K, UE_TYPE_Q6_K, UE_TYPE_Q5_0, UE_TYPE_Q8_0,
                                    UE_TYPE_F16,  UE_TYPE_BF16, UE_TYPE_F32};
    static const int64_t tokens[] = {48, 49, 100, 113};
    static const int64_t rows[] = {8, 29, 8, 197}; /* 197: several chunks of rows */
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        if (!cpu_isa_supported((cpu_isa)isa)) continue;
        ue_backend *be = backend_at((cpu_isa)isa, 2);
        const cpu_kernel_set *set = cpu_kernels_get((cpu_isa)isa);
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            int64_t n = ue_type_get(types[ti])->block_size == 256 ? 2304 : 2080;
            for (size_t k = 0; k < sizeof tokens / sizeof tokens[0]; k++)
                check_matmul(be, types[ti], act_used(set, &set->type[types[ti]], 0, tokens[k]), n,
                             rows[k], tokens[k], (int)k, (int)k % 2);
        }
        be->ops->destroy(be);
    }
}

/* A SIMD set and the scalar set quantize activations to the same integers, so they agree
 * up to float summation order: relative 1e-5 of sum |w||x|. */
static void test_sets_agree_with_scalar(void **state) {
    (void)state;
    const cpu_kernel_set *scalar = cpu_kernels_scalar();
    enum { N = 1024, T = 3, R = 4 };
    for (int isa = CPU_ISA_AVX2; isa < CPU_ISA_COUNT; isa++) {
        if (!cpu_isa_supported((cpu_isa)isa)) continue;
        const cpu_kernel_set *set = cpu_kernels_get((cpu_isa)isa);
        if (set == scalar) continue;
        for (int ti = 0; ti < N_TYPES; ti++) {
            ue_type type = k_types[ti];
            const cpu_type_kernel *k = &set->type[type], *ks = &scalar->type[type];
            if (!k->gemm) continue; /* no int8 kernel in this set */
            assert_int_equal(k->act, ks->act);
            size_t rb = ue_type_row_bytes(type, N);
            uint8_t *w = malloc(rb * R);
            random_rows(type, w, N, R);
            float x[T * N], wf[R * N];
            random_x(x, T * N);
            for (int r = 0; r < R; r++) ue_dequantize_row(type, w + r * rb, wf + r * N, N);
            size_t ldx = k->act == CPU_ACT_F32 ? N * sizeof(float) : cpu_act_row_bytes(k->act, N);
            uint8_t *xa = calloc(T, ldx), *xs = calloc(T, ldx);
            for (int t = 0; t < T; t++) {
                if (k->act == CPU_ACT_F32) {
                    memcpy(xa + t * ldx, x + t * N, N * sizeof(float));
                    memcpy(xs + t * ldx, x + t * N, N * sizeof(float));
                } else {
                    set->quant[k->act](x + t * N, xa + t * ldx, N);
                    scalar->quant[k->act](x + t * N, xs + t * ldx, N);
                    assert_memory_equal(xa + t * ldx, xs + t * ldx, cpu_act_row_bytes(k->act, N) - 64);
                }
            }
            float got[T * R], want[T * R];
            int nt = T < k->nt_max ? T : k->nt_max;
            k->gemm(N, w, rb, R, xa, ldx, nt, got, R);
            ks->gemm(N, w, rb, R, xs, ldx, nt, want, R);
            for (int t = 0; t < nt; t++)
                for (int r = 0; r < R; r++) {
                    double mag = 0.0;
                    for (int i = 0; i < N; i++) mag += fabs(wf[r * N + i] * x[t * N + i]);
                    if (!(fabs(got[t * R + r] - want[t * R + r]) <= 1e-5 * mag + 1e-6)) {
                        fprintf(stderr, "%s %s [t=%d r=%d]: %.7g vs scalar %.7g\n", set->name,
                                ue_type_get(type)->name, t, r, got[t * R + r], want[t * R + r]);
                        fail();
                    }
                }
            free(w);
            free(xa);
            free(xs);
        }
    }
}

/* The hi/lo byte split keeps the 16-bit integers exactly: 256 hi + lo of each element, in
 * the group order of its format, is the Q16_32 integer; the block scales and sums agree;
 * every set's split quantizer writes the scalar one's bytes. Sizes with a last group of 32. */
static void check_split(cpu_act act, int64_t n) {
    const cpu_kernel_set *scalar = cpu_kernels_scalar();
    size_t ld16 = cpu_act_row_bytes(CPU_ACT_Q16_32, n), ld = cpu_act_row_bytes(act, n);
    float *x = malloc(sizeof(float) * (size_t)n);
    uint8_t *q16 = aligned_alloc(64, ld16), *hl = aligned_alloc(64, ld), *hl2 = aligned_alloc(64, ld);
    random_x(x, n);
    for (int64_t i = 0; i < n; i += 97) x[i] = 0.0f;
    scalar->quant[CPU_ACT_Q16_32](x, q16, n);
    memset(hl, 0xa5, ld);
    scalar->quant[act](x, hl, n);
    const int16_t *qs = cpu_act16_qs(q16);
    for (int64_t i = 0; i < n; i++) {
        int64_t b = i / 32, g = b / 2;
        int h = (int)(b % 2);
        if (act == CPU_ACT_Q16_HLK) {
            int sb = (int)(b % 8);
            g = b / 8 * 4 + (sb / 4) * 2 + sb % 2;
            h = (sb / 2) % 2;
        }
        size_t at = (size_t)(128 * g + 32 * h + i % 32);
        assert_int_equal(256 * (int8_t)hl[at] + hl[at + 64], qs[i]);
    }
    if (n % 64) /* the pad of a lone last block is zero */
        for (int i = 0; i < 32; i++) {
            assert_int_equal(hl[cpu_hl_bytes(n) - 128 + 32 + i], 0);
            assert_int_equal(hl[cpu_hl_bytes(n) - 64 + 32 + i], 0);
        }
    assert_memory_equal(cpu_hl_d(hl, n), cpu_act16_d(q16, n), sizeof(float) * (size_t)(n / 32));
    assert_memory_equal(cpu_hl_xs(hl, n), cpu_act16_xs(q16, n), sizeof(float) * (size_t)(n / 32));
    for (int64_t k = 0; k < n / 16; k++) {
        int sum = 0;
        for (int i = 0; i < 16; i++) sum += qs[16 * k + i];
        assert_true(cpu_hl_s16(hl, n)[k] == (float)sum);
    }
    for (int isa = CPU_ISA_AVX2; isa < CPU_ISA_COUNT; isa++) {
        const cpu_kernel_set *set = cpu_kernels_get((cpu_isa)isa);
        if (!cpu_isa_supported((cpu_isa)isa) || set == scalar || !set->quant[act]) continue;
        memset(hl2, 0x5a, ld);
        set->quant[act](x, hl2, n);
        assert_memory_equal(hl, hl2, cpu_hl_bytes(n) + sizeof(float) * (size_t)(n / 32 * 2 + n / 16));
    }
    free(x);
    free(q16);
    free(hl);
    free(hl2);
}

static void test_split_activations_exact(void **state) {
    (void)state;
    static const int64_t sizes[] = {32, 96, 640, 2080};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) check_split(CPU_ACT_Q16_HL, sizes[i]);
    static const int64_t ksizes[] = {256, 768, 2560};
    for (size_t i = 0; i < sizeof ksizes / sizeof ksizes[0]; i++) check_split(CPU_ACT_Q16_HLK, ksizes[i]);
}

/* Attention of n_tok queries at pos0.. over a cache of pos0 + n_tok rows; fast at ISA isa
 * vs the reference backend. Both are f32 throughout; the fast one sums in another order
 * and uses a polynomial exp (relative error ~2e-7), so each output, a convex combination
 * of values, may differ by a few 1e-6 of max |v|: the bound is 2e-5 max |v|. */
static void check_attention_span(ue_backend *fast, ue_backend *ref, ue_type cache_type,
                                 int n_head, int n_head_kv, int hd, int64_t pos0, int64_t n_tok,
                                 int window, int64_t bidir_begin, int64_t bidir_end) {
    int64_t n_ctx = pos0 + n_tok, qd = (int64_t)n_head * hd, kvd = (int64_t)n_head_kv * hd;
    size_t esz = cache_type == UE_TYPE_F16 ? 2 : 4;
    ue_error err;
    ue_buffer *qb, *kb, *vb, *ob[2];
    assert_int_equal(fast->ops->buffer_create(fast, sizeof(float) * (size_t)(qd * n_tok), &qb, &err), UE_OK);
    assert_int_equal(fast->ops->buffer_create(fast, esz * (size_t)(kvd * n_ctx), &kb, &err), UE_OK);
    assert_int_equal(fast->ops->buffer_create(fast, esz * (size_t)(kvd * n_ctx), &vb, &err), UE_OK);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fast->ops->buffer_create(fast, sizeof(float) * (size_t)(qd * n_tok), &ob[i], &err), UE_OK);
    float *q = qb->host, vmax = 0.0f;
    for (int64_t i = 0; i < qd * n_tok; i++) q[i] = rnd_f(-1.0f, 1.0f);
    for (int64_t i = 0; i < kvd * n_ctx; i++) {
        float kv = rnd_f(-4.0f, 4.0f), vv = rnd_f(-2.0f, 2.0f);
        if (cache_type == UE_TYPE_F16) {
            ((uint16_t *)kb->host)[i] = ue_f32_to_f16(kv);
            ((uint16_t *)vb->host)[i] = ue_f32_to_f16(vv);
        } else {
            ((float *)kb->host)[i] = kv;
            ((float *)vb->host)[i] = vv;
        }
        vmax = fmaxf(vmax, fabsf(vv));
    }
    ue_attention_args args = {
        .q = {.buf = qb, .type = UE_TYPE_F32, .ne = {qd, n_tok}},
        .k_cache = {.buf = kb, .type = cache_type, .ne = {kvd, n_ctx}},
        .v_cache = {.buf = vb, .type = cache_type, .ne = {kvd, n_ctx}},
        .n_head = n_head, .n_head_kv = n_head_kv, .head_dim = hd, .pos0 = pos0,
        .window = window, .scale = 1.0f / sqrtf((float)hd), .bidir_begin = bidir_begin,
        .bidir_end = bidir_end};
    args.out = (ue_tensor){.buf = ob[0], .type = UE_TYPE_F32, .ne = {qd, n_tok}};
    fast->ops->attention(fast, &args);
    args.out.buf = ob[1];
    ref->ops->attention(ref, &args);
    const float *got = ob[0]->host, *want = ob[1]->host;
    for (int64_t i = 0; i < qd * n_tok; i++)
        if (!(fabsf(got[i] - want[i]) <= 2e-5f * vmax)) {
            fprintf(stderr, "%s attention heads %d/%d hd %d pos0 %lld tokens %lld window %d %s: "
                    "[%lld] %.7g vs %.7g\n", fast->description, n_head, n_head_kv, hd,
                    (long long)pos0, (long long)n_tok, window, ue_type_get(cache_type)->name,
                    (long long)i, got[i], want[i]);
            fail();
        }
    fast->ops->buffer_destroy(fast, qb);
    fast->ops->buffer_destroy(fast, kb);
    fast->ops->buffer_destroy(fast, vb);
    for (int i = 0; i < 2; i++) fast->ops->buffer_destroy(fast, ob[i]);
}

static void check_attention(ue_backend *fast, ue_backend *ref, ue_type cache_type, int n_head,
                            int n_head_kv, int hd, int64_t pos0, int64_t n_tok, int window) {
    check_attention_span(fast, ref, cache_type, n_head, n_head_kv, hd, pos0, n_tok, window, 0, 0);
}

static void test_attention_every_isa(void **state) {
    (void)state;
    ue_backend *ref = NULL;
    ue_error err;
    assert_int_equal(ue_cpu_backend_create(2, UE_CPU_KERNELS_REFERENCE, &ref, &err), UE_OK);
    /* (pos0, tokens): decode after a prompt, a first prefill, a prefill chunk; decode and a
     * small batch over 300+ keys, where a lone work item is split over the threads */
    static const int64_t shapes[][2] = {{0, 1}, {100, 1}, {0, 37}, {29, 70}, {200, 3}, {300, 1}, {599, 2}};
    /* window 0 (global), 1 (only itself), and edges around the shapes above */
    static const int windows[] = {0, 1, 2, 16, 64, 65, 101};
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        if (!cpu_isa_supported((cpu_isa)isa)) continue;
        ue_backend *fast = backend_at((cpu_isa)isa, 2);
        for (int si = 0; si < 7; si++)
            for (int wi = 0; wi < 7; wi++) {
                int64_t pos0 = shapes[si][0], nt = shapes[si][1];
                check_attention(fast, ref, UE_TYPE_F32, 4, 1, 256, pos0, nt, windows[wi]);
                check_attention(fast, ref, UE_TYPE_F32, 8, 4, 48, pos0, nt, windows[wi]);
                if (wi % 3 == 0) check_attention(fast, ref, UE_TYPE_F16, 6, 2, 64, pos0, nt, windows[wi]);
            }
        /* an image's bidirectional span inside the batch, under global and window masks
         * (span start before the window start, span end after later queries) */
        for (int wi = 0; wi < 7; wi++) {
            check_attention_span(fast, ref, UE_TYPE_F32, 4, 1, 256, 0, 37, windows[wi], 5, 30);
            check_attention_span(fast, ref, UE_TYPE_F32, 8, 4, 48, 29, 70, windows[wi], 40, 60);
            check_attention_span(fast, ref, UE_TYPE_F32, 8, 4, 48, 29, 70, windows[wi], 29, 99);
        }
        fast->ops->destroy(fast);
    }
    ref->ops->destroy(ref);
}

/* gelu_mul of every set against gelu_tanh in double: the SIMD sets compute x / (1 +
 * exp(-2y)) with a polynomial exp (relative error ~2e-7), so the bound is a relative 2e-6
 * of |x u| (n = 1000 odd, so the vector tails run too; inputs up to |x| = 100). */
static void test_gelu_every_isa(void **state) {
    (void)state;
    enum { N = 1001 };
    static float g0[N], g[N], u[N];
    for (int i = 0; i < N; i++) {
        g0[i] = i < 4 ? (float[]){0.0f, -100.0f, 100.0f, -9.0f}[i] : rnd_f(-6.0f, 6.0f);
        u[i] = rnd_f(-2.0f, 2.0f);
    }
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        if (!cpu_isa_supported((cpu_isa)isa)) continue;
        const cpu_kernel_set *set = cpu_kernels_get((cpu_isa)isa);
        memcpy(g, g0, sizeof g);
        set->gelu_mul(g, u, N);
        for (int i = 0; i < N; i++) {
            double x = g0[i], y = 0.7978845608028654 * (x + 0.044715 * x * x * x);
            double want = 0.5 * x * (1.0 + tanh(y)) * u[i];
            if (!(fabs(g[i] - want) <= 2e-6 * fabs(x * u[i]) + 1e-30)) {
                fprintf(stderr, "%s gelu_mul x=%g u=%g: %.9g vs %.9g\n", set->name, x, u[i], g[i], want);
                fail();
            }
        }
    }
}

/* rms_norm rows of odd lengths, in place and not: within 1e-6 of the double formula. */
static void test_rms_norm_every_isa(void **state) {
    (void)state;
    static const int64_t sizes[] = {1, 15, 17, 256, 640, 1001};
    enum { N = 1001 };
    static float x[N], w[N], y[N];
    for (int isa = 0; isa < CPU_ISA_COUNT; isa++) {
        if (!cpu_isa_supported((cpu_isa)isa)) continue;
        const cpu_kernel_set *set = cpu_kernels_get((cpu_isa)isa);
        if (!set->rms_norm) continue;
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            int64_t n = sizes[si];
            for (int in_place = 0; in_place < 2; in_place++) {
                random_x(x, n);
                double ss = 0.0;
                for (int64_t i = 0; i < n; i++) {
                    w[i] = rnd_f(-2.0f, 2.0f);
                    ss += (double)x[i] * x[i];
                }
                double inv = 1.0 / sqrt(ss / (double)n + 1e-6);
                float *out = in_place ? x : y;
                float x0[N];
                memcpy(x0, x, sizeof(float) * (size_t)n);
                set->rms_norm(x, w, 1e-6f, out, n);
                for (int64_t i = 0; i < n; i++) {
                    double want = x0[i] * inv * w[i];
                    if (!(fabs(out[i] - want) <= 1e-6 * fabs(want) + 1e-30)) {
                        fprintf(stderr, "%s rms_norm n=%lld [%lld]: %.9g vs %.9g\n", set->name,
                                (long long)n, (long long)i, out[i], want);
                        fail();
                    }
                }
            }
        }
    }
}

/* One matmul of n_tok tokens through backend be; returns the output (caller frees). */
static float *run_matmul(ue_backend *be, ue_type type, const uint8_t *w, const float *x, int64_t n,
                         int64_t n_out, int64_t n_tok) {
    ue_error err;
    ue_buffer *wbuf, *xbuf, *obuf;
    size_t row_bytes = ue_type_row_bytes(type, n);
    assert_int_equal(be->ops->buffer_from_host(be, w, row_bytes * (size_t)n_out, &wbuf, &err), UE_OK);
    assert_int_equal(be->ops->buffer_create(be, sizeof(float) * (size_t)(n * n_tok), &xbuf, &err), UE_OK);
    assert_int_equal(be->ops->buffer_create(be, sizeof(float) * (size_t)(n_out * n_tok), &obuf, &err), UE_OK);
    assert_int_equal(be->ops->write(be, xbuf, 0, x, sizeof(float) * (size_t)(n * n_tok), &err), UE_OK);
    ue_tensor wt = {.buf = wbuf, .type = type, .ne = {n, n_out}};
    ue_tensor xt = {.buf = xbuf, .type = UE_TYPE_F32, .ne = {n, n_tok}};
    ue_tensor ot = {.buf = obuf, .type = UE_TYPE_F32, .ne = {n_out, n_tok}};
    be->ops->matmul(be, &wt, &xt, &ot);
    float *out = malloc(sizeof(float) * (size_t)(n_out * n_tok));
    assert_int_equal(be->ops->read(be, obuf, 0, out, sizeof(float) * (size_t)(n_out * n_tok), &err), UE_OK);
    be->ops->buffer_destroy(be, wbuf);
    be->ops->buffer_destroy(be, xbuf);
    be->ops->buffer_destroy(be, obuf);
    return out;
}

/* UE_CPU_PROFILE=1: the profiled backend computes the same bits as the plain one, and its
 * report (stderr, at destroy) has a row per matmul kind run. */
static void test_profile(void **state) {
    (void)state;
    enum { N = 512, R = 24 };
    size_t rb = ue_type_row_bytes(UE_TYPE_Q4_K, N);
    uint8_t *w = malloc(rb * R);
    float *x = malloc(sizeof(float) * N * 40);
    random_rows(UE_TYPE_Q4_K, w, N, R);
    random_x(x, N * 40);
    ue_backend *plain = backend_at(cpu_isa_detect(), 2);
    setenv("UE_CPU_PROFILE", "1", 1);
    ue_backend *prof = backend_at(cpu_isa_detect(), 2);
    unsetenv("UE_CPU_PROFILE");
    assert_ptr_not_equal(plain->ops, prof->ops);
    static const int64_t tokens[] = {1, 40};
    for (int i = 0; i < 2; i++) {
        float *a = run_matmul(plain, UE_TYPE_Q4_K, w, x, N, R, tokens[i]);
        float *b = run_matmul(prof, UE_TYPE_Q4_K, w, x, N, R, tokens[i]);
        assert_memory_equal(a, b, sizeof(float) * R * (size_t)tokens[i]);
        free(a);
        free(b);
    }
    plain->ops->destroy(plain);
    fflush(stderr);
    FILE *log = tmpfile();
    assert_non_null(log);
    int saved = dup(2);
    dup2(fileno(log), 2);
    prof->ops->destroy(prof);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char text[8192] = {0};
    rewind(log);
    size_t got = fread(text, 1, sizeof text - 1, log);
    fclose(log);
    assert_true(got > 0);
    assert_non_null(strstr(text, "CPU profile"));
    assert_non_null(strstr(text, "matmul Q4_K decode"));
    assert_non_null(strstr(text, "matmul Q4_K prefill"));
    assert_non_null(strstr(text, "read/write"));
    free(w);
    free(x);
}

int main(void) {
    rnd_seed(0x9e3779b97f4a7c15ull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_every_isa),
        cmocka_unit_test(test_matmul_many_tokens),
        cmocka_unit_test(test_sets_agree_with_scalar),
        cmocka_unit_test(test_split_activations_exact),
        cmocka_unit_test(test_attention_every_isa),
        cmocka_unit_test(test_gelu_every_isa),
        cmocka_unit_test(test_rms_norm_every_isa),
        cmocka_unit_test(test_profile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
