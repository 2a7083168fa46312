/* Reader for the UEVF arrays of tests/fixtures/vision/ (tools/make_vision_fixtures.py):
 * "UEVF", u32 dtype (0 f32, 1 i32, 2 u8), u32 ndim, u32 dims[ndim], then the data. */
#ifndef UE_TEST_VISION_FIXTURE_H
#define UE_TEST_VISION_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

enum { UEVF_F32 = 0, UEVF_I32 = 1, UEVF_U8 = 2 };

typedef struct uevf_array {
    int dtype, ndim;
    uint32_t dims[4];
    size_t count;
    void *raw;
    const float *f32;
    const int32_t *i32;
    const uint8_t *u8;
} uevf_array;

/* Reads dir/name; fails the test on a malformed file. */
uevf_array uevf_read(const char *dir, const char *name);
void uevf_free(uevf_array *a);

#endif
