/* The Vulkan-vs-CPU comparison harness shared by the Vulkan op tests: the two backends
 * (cpu-ref and the Vulkan device), "twin" tensors (one tensor on both backends, each in
 * its own buffer between guard regions, outputs poisoned with NaN) and the f32 check
 * that reads the Vulkan copy back, checks the guards and compares with the CPU copy. */
#ifndef UE_TEST_VK_TWIN_H
#define UE_TEST_VK_TWIN_H

#include <stddef.h>
#include <stdint.h>

/* Prints the SKIP line of a build without the Vulkan backend and returns the skip code. */
int vk_test_no_backend(void);
/* In a build without the Vulkan backend: exits through vk_test_no_backend(); else nothing. */
void vk_test_require_backend(void);

#ifdef UE_HAVE_VULKAN_BACKEND
#include "backend/backend.h"

enum { TWIN_GUARD = 256, TWIN_GUARD_BYTE = 0xA5 }; /* guard bytes around a twin, their value */

/* Creates the cpu-ref backend (1 thread) and Vulkan device $UE_VK_DEVICE (default 0);
 * exits with SKIP when there is no usable Vulkan device. */
void vk_twin_backends_open(ue_backend **cpu, ue_backend **vk);
void vk_twin_backends_close(ue_backend **cpu, ue_backend **vk);
/* Waits for both backends' queued work. */
void sync_both(ue_backend *cpu, ue_backend *vk);

/* One tensor on both backends, each in its own buffer between guard regions. */
typedef struct twin {
    ue_backend *cpu, *vk;
    ue_buffer *cb, *gb;
    ue_tensor c, g; /* the CPU view and the Vulkan view */
    size_t bytes;   /* of the data, guards excluded */
} twin;

/* [ne1, ne0] of type holding data, or NaN poison when data is NULL. */
twin twin_new(ue_backend *cpu, ue_backend *vk, ue_type type, int64_t ne0, int64_t ne1,
              const void *data);
void twin_free(twin *t);
/* Reads back the whole Vulkan buffer, guards included (malloc'd), after checking that
 * both guards are untouched; the data starts at TWIN_GUARD. */
uint8_t *twin_read_checked(const twin *t, const char *what);
/* Checks the guards, that every Vulkan output is finite and that
 * |gpu - cpu| <= atol + rtol * scale[i] (scale NULL: |cpu|); returns the largest difference. */
double compare_f32(const twin *t, const char *what, double atol, double rtol,
                   const double *scale);
/* Sum |w||x| per output of w [rows, k] (rows of type) times x [n_tok, k], in double:
 * the matmul tolerance's scale; malloc'd, [n_tok][rows]. */
double *matmul_mag(ue_type type, const uint8_t *w, const float *x, int64_t k, int64_t rows,
                   int64_t n_tok);
#endif

#endif
