/* UEVF fixture arrays: see vision_fixture.h. */
#include "vision_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

uevf_array uevf_read(const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s%s", dir, name);
    size_t n;
    uint8_t *d = ue_test_read_file(path, &n);
    uevf_array a;
    memset(&a, 0, sizeof a);
    uint32_t hdr[2];
    if (n < 12 || memcmp(d, "UEVF", 4) != 0) fail_msg("%s: not a UEVF file", path);
    memcpy(hdr, d + 4, 8);
    if (hdr[0] > 2 || hdr[1] < 1 || hdr[1] > 4 || n < 12 + 4 * (size_t)hdr[1])
        fail_msg("%s: bad header", path);
    a.dtype = (int)hdr[0];
    a.ndim = (int)hdr[1];
    memcpy(a.dims, d + 12, 4 * (size_t)a.ndim);
    a.count = 1;
    for (int i = 0; i < a.ndim; i++) a.count *= a.dims[i];
    size_t esz = a.dtype == UEVF_U8 ? 1 : 4, off = 12 + 4 * (size_t)a.ndim;
    if (n != off + a.count * esz) fail_msg("%s: %zu bytes, expected %zu", path, n, off + a.count * esz);
    a.raw = malloc(a.count * esz + 1);
    if (!a.raw) fail_msg("out of memory");
    memcpy(a.raw, d + off, a.count * esz);
    free(d);
    a.f32 = a.raw;
    a.i32 = a.raw;
    a.u8 = a.raw;
    return a;
}

void uevf_free(uevf_array *a) {
    free(a->raw);
    a->raw = NULL;
}
