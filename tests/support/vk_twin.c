/* The Vulkan-vs-CPU comparison harness: backends, guarded twin tensors and the f32 check
 * shared by test_vulkan_ops, test_vulkan_ops_vision and test_vulkan_fused. See vk_twin.h. */
#include "vk_twin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#ifdef UE_HAVE_VULKAN_BACKEND
#include "backend/cpu/cpu_backend.h"
#include "backend/vulkan/vk_backend.h"
#include "core/quantize.h"
#endif

int vk_test_no_backend(void) {
    printf("SKIP: this build has no Vulkan backend (needs the Vulkan headers and glslc)\n");
    return UE_TEST_SKIP_CODE;
}

void vk_test_require_backend(void) {
#ifndef UE_HAVE_VULKAN_BACKEND
    exit(vk_test_no_backend());
#endif
}

#ifdef UE_HAVE_VULKAN_BACKEND
void vk_twin_backends_open(ue_backend **cpu, ue_backend **vk) {
    ue_error err = {0};
    assert_int_equal(ue_cpu_backend_create(1, UE_CPU_KERNELS_REFERENCE, cpu, &err), UE_OK);
    const char *idx = getenv("UE_VK_DEVICE");
    if (ue_vk_backend_create(idx ? atoi(idx) : 0, vk, &err) != UE_OK) {
        printf("SKIP: no usable Vulkan device: %s\n", err.msg);
        exit(UE_TEST_SKIP_CODE);
    }
}

void vk_twin_backends_close(ue_backend **cpu, ue_backend **vk) {
    if (*vk) (*vk)->ops->destroy(*vk);
    (*cpu)->ops->destroy(*cpu);
    *vk = *cpu = NULL;
}

void sync_both(ue_backend *cpu, ue_backend *vk) {
    ue_error err = {0};
    if (vk->ops->sync(vk, &err) != UE_OK) fail_msg("vulkan sync: %s", err.msg);
    assert_int_equal(cpu->ops->sync(cpu, &err), UE_OK);
}

twin twin_new(ue_backend *cpu, ue_backend *vk, ue_type type, int64_t ne0, int64_t ne1,
              const void *data) {
    twin t = {.cpu = cpu, .vk = vk};
    t.bytes = ue_type_row_bytes(type, ne0) * (size_t)ne1;
    size_t total = TWIN_GUARD + t.bytes + TWIN_GUARD;
    ue_error err = {0};
    assert_int_equal(cpu->ops->buffer_create(cpu, total, &t.cb, &err), UE_OK);
    if (vk->ops->buffer_create(vk, total, &t.gb, &err) != UE_OK) fail_msg("%s", err.msg);
    uint8_t *fill = malloc(total);
    assert_non_null(fill);
    memset(fill, TWIN_GUARD_BYTE, total);
    if (data) memcpy(fill + TWIN_GUARD, data, t.bytes);
    else memset(fill + TWIN_GUARD, 0xFF, t.bytes); /* NaN poison: outputs must overwrite it */
    assert_int_equal(cpu->ops->write(cpu, t.cb, 0, fill, total, &err), UE_OK);
    assert_int_equal(vk->ops->write(vk, t.gb, 0, fill, total, &err), UE_OK);
    free(fill);
    ue_tensor base = {.offset = TWIN_GUARD, .type = type, .ne = {ne0, ne1}};
    t.c = base;
    t.c.buf = t.cb;
    t.g = base;
    t.g.buf = t.gb;
    return t;
}

void twin_free(twin *t) {
    t->cpu->ops->buffer_destroy(t->cpu, t->cb);
    t->vk->ops->buffer_destroy(t->vk, t->gb);
}

uint8_t *twin_read_checked(const twin *t, const char *what) {
    size_t total = TWIN_GUARD + t->bytes + TWIN_GUARD;
    uint8_t *all = malloc(total);
    assert_non_null(all);
    ue_error err = {0};
    if (t->vk->ops->read(t->vk, t->gb, 0, all, total, &err) != UE_OK) fail_msg("read: %s", err.msg);
    for (size_t i = 0; i < TWIN_GUARD; i++)
        if (all[i] != TWIN_GUARD_BYTE || all[TWIN_GUARD + t->bytes + i] != TWIN_GUARD_BYTE)
            fail_msg("%s: guard byte %zu overwritten", what, i);
    return all;
}

double compare_f32(const twin *t, const char *what, double atol, double rtol,
                   const double *scale) {
    uint8_t *all = twin_read_checked(t, what);
    const float *g = (const float *)(all + TWIN_GUARD);
    const float *c = (const float *)((const uint8_t *)t->cb->host + TWIN_GUARD);
    double worst = 0.0;
    for (size_t i = 0; i < t->bytes / 4; i++) {
        if (!isfinite(g[i])) fail_msg("%s: element %zu is %f", what, i, g[i]);
        double d = fabs((double)g[i] - c[i]);
        double tol = atol + rtol * (scale ? scale[i] : fabs(c[i]));
        if (d > tol)
            fail_msg("%s: element %zu: vulkan %.7g, cpu %.7g (tolerance %.3g)", what, i, g[i], c[i], tol);
        if (d > worst) worst = d;
    }
    free(all);
    return worst;
}

double *matmul_mag(ue_type type, const uint8_t *w, const float *x, int64_t k, int64_t rows,
                   int64_t n_tok) {
    double *mag = calloc((size_t)(rows * n_tok), sizeof *mag);
    float *wr = malloc((size_t)k * sizeof *wr);
    assert_true(mag && wr);
    for (int64_t r = 0; r < rows; r++) {
        ue_dequantize_row(type, w + (size_t)r * ue_type_row_bytes(type, k), wr, k);
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t i = 0; i < k; i++) mag[t * rows + r] += fabs((double)wr[i] * x[t * k + i]);
    }
    free(wr);
    return mag;
}
#endif
