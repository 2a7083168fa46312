/* The vision encoder's CPU ops (cpu_ops_vision.c): full attention on the fast kernels
 * against the scalar reference over odd token counts, head sizes (16, 72 as in SigLIP-so400m,
 * 20) and every ISA level this machine runs; layer norm, bias, GELU and average pooling
 * against plain double-precision formulas. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"

static uint64_t g_rng = 0x1234567887654321ull;
static float rnd(void) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (float)((g_rng * 0x2545f4914f6cdd1dull) >> 40) / 16777216.0f * 2.0f - 1.0f;
}

typedef struct bufs {
    ue_backend *be;
    ue_buffer *buf;
    size_t used;
} bufs;

static ue_tensor tensor(bufs *b, int64_t ne0, int64_t ne1, int fill, float scale) {
    ue_tensor t = {.buf = b->buf, .offset = b->used, .type = UE_TYPE_F32, .ne = {ne0, ne1}};
    b->used += (size_t)(ne0 * ne1) * sizeof(float) + 64;
    float *p = ue_tensor_host(&t);
    for (int64_t i = 0; fill && i < ne0 * ne1; i++) p[i] = rnd() * scale;
    return t;
}

static ue_backend *backend(ue_cpu_kernels k) {
    ue_backend *be = NULL;
    ue_error err = {0};
    if (ue_cpu_backend_create(2, k, &be, &err) != UE_OK) fail_msg("%s", err.msg);
    return be;
}

static void check_attention(int n, int n_head, int hd) {
    ue_backend *ref = backend(UE_CPU_KERNELS_REFERENCE), *fast = backend(UE_CPU_KERNELS_FAST);
    bufs b = {.be = ref};
    ue_error err = {0};
    size_t bytes = (size_t)n * n_head * hd * sizeof(float) * 5 + 64 * 8;
    assert_int_equal(ref->ops->buffer_create(ref, bytes, &b.buf, &err), UE_OK);
    int64_t d = (int64_t)n_head * hd;
    ue_tensor q = tensor(&b, d, n, 1, 2.0f), k = tensor(&b, d, n, 1, 2.0f), v = tensor(&b, d, n, 1, 1.0f);
    ue_tensor o1 = tensor(&b, d, n, 0, 0), o2 = tensor(&b, d, n, 0, 0);
    float scale = 1.0f / sqrtf((float)hd);
    ref->ops->attention_full(ref, &q, &k, &v, &o1, n_head, hd, scale);
    fast->ops->attention_full(fast, &q, &k, &v, &o2, n_head, hd, scale);
    const float *a = ue_tensor_host(&o1), *c = ue_tensor_host(&o2);
    double worst = 0.0;
    for (int64_t i = 0; i < d * n; i++) worst = fmax(worst, fabs(a[i] - c[i]));
    /* one row against a double-precision softmax */
    const float *qp = ue_tensor_host(&q), *kp = ue_tensor_host(&k), *vp = ue_tensor_host(&v);
    int t = n / 2, h = n_head - 1;
    double *s = malloc(sizeof(double) * (size_t)n), mx = -1e300, sum = 0.0;
    for (int p = 0; p < n; p++) {
        double dot = 0.0;
        for (int i = 0; i < hd; i++) dot += (double)qp[t * d + h * hd + i] * kp[p * d + h * hd + i];
        s[p] = dot * scale;
        mx = fmax(mx, s[p]);
    }
    for (int p = 0; p < n; p++) sum += (s[p] = exp(s[p] - mx));
    double worst_ref = 0.0;
    for (int i = 0; i < hd; i++) {
        double acc = 0.0;
        for (int p = 0; p < n; p++) acc += s[p] * vp[p * d + h * hd + i];
        worst_ref = fmax(worst_ref, fabs(acc / sum - a[t * d + h * hd + i]));
    }
    free(s);
    printf("attention n=%d heads=%d hd=%d: fast vs ref %.3g, ref vs double %.3g\n", n, n_head, hd,
           worst, worst_ref);
    assert_true(worst < 2e-5);
    assert_true(worst_ref < 2e-5);
    ref->ops->buffer_destroy(ref, b.buf);
    ref->ops->destroy(ref);
    fast->ops->destroy(fast);
}

static void test_attention_full(void **state) {
    (void)state;
    const char *isas[] = {"scalar", "avx2", "avx512"};
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        setenv("UE_CPU_ISA", isas[i], 1);
        check_attention(1, 1, 16);
        check_attention(37, 3, 16);
        check_attention(70, 2, 72);
        check_attention(33, 5, 20);
        check_attention(150, 2, 72); /* three key groups and query blocks of the panel path */
    }
    unsetenv("UE_CPU_ISA");
}

static void test_norm_bias_gelu_pool(void **state) {
    (void)state;
    ue_backend *be = backend(UE_CPU_KERNELS_FAST);
    bufs b = {.be = be};
    ue_error err = {0};
    assert_int_equal(be->ops->buffer_create(be, 1 << 20, &b.buf, &err), UE_OK);
    int c = 19, side = 6, k = 3, n = side * side;
    ue_tensor x = tensor(&b, c, n, 1, 3.0f), w = tensor(&b, c, 1, 1, 1.0f), bias = tensor(&b, c, 1, 1, 1.0f);
    ue_tensor y = tensor(&b, c, n, 0, 0), pooled = tensor(&b, c, (side / k) * (side / k), 0, 0);
    const float *xp = ue_tensor_host(&x), *wp = ue_tensor_host(&w), *bp = ue_tensor_host(&bias);
    float *yp = ue_tensor_host(&y), *pp = ue_tensor_host(&pooled);
    be->ops->layer_norm(be, &x, &w, &bias, 1e-6f, &y);
    for (int r = 0; r < n; r++) {
        double m = 0, v = 0;
        for (int i = 0; i < c; i++) m += xp[r * c + i];
        m /= c;
        for (int i = 0; i < c; i++) v += (xp[r * c + i] - m) * (xp[r * c + i] - m);
        double inv = 1.0 / sqrt(v / c + 1e-6);
        for (int i = 0; i < c; i++)
            assert_true(fabs(yp[r * c + i] - ((xp[r * c + i] - m) * inv * wp[i] + bp[i])) < 1e-5);
    }
    be->ops->add_bias(be, &y, &bias);
    be->ops->gelu(be, &y);
    be->ops->avg_pool(be, &x, side, k, &pooled);
    for (int oy = 0; oy < side / k; oy++)
        for (int ox = 0; ox < side / k; ox++)
            for (int i = 0; i < c; i++) {
                double s = 0;
                for (int dy = 0; dy < k; dy++)
                    for (int dx = 0; dx < k; dx++) s += xp[((oy * k + dy) * side + ox * k + dx) * c + i];
                assert_true(fabs(pp[(oy * (side / k) + ox) * c + i] - s / (k * k)) < 1e-5);
            }
    /* 301 values over [-15, 15] in one row: the fast sets' 256-value spans and a tail */
    enum { NG = 301 };
    float g[NG];
    for (int i = 0; i < NG; i++) g[i] = -15.0f + 30.0f * (float)i / (NG - 1);
    ue_tensor gt = tensor(&b, NG, 1, 0, 0);
    memcpy(ue_tensor_host(&gt), g, sizeof g);
    be->ops->gelu(be, &gt);
    const float *gp = ue_tensor_host(&gt);
    for (int i = 0; i < NG; i++) {
        double v = g[i], want = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        if (!(fabs(gp[i] - want) < 1e-6 + 1e-6 * fabs(want))) {
            fprintf(stderr, "gelu(%g) = %.9g, want %.9g\n", v, gp[i], want);
            fail();
        }
    }
    be->ops->buffer_destroy(be, b.buf);
    be->ops->destroy(be);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_full),
        cmocka_unit_test(test_norm_bias_gelu_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
