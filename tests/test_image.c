/* Image input: every format decodes to what PIL (with the Hugging Face convert_to_rgb) gives
 * for the committed fixtures; EXIF orientation; the 896-style preprocessing against
 * Gemma3ImageProcessorPil; pan-and-scan crop rules; and bad inputs (empty, truncated, a
 * header claiming 100,000 x 100,000, wrong format, corrupt data) failing with messages.
 * Fixtures: tools/make_vision_fixtures.py -> tests/fixtures/vision/. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "model/image.h"
#include "vision_fixture.h"

#define DIR "tests/fixtures/vision/"

static ue_image *load_ok(const char *name) {
    char path[256];
    snprintf(path, sizeof path, DIR "%s", name);
    ue_image *img = NULL;
    ue_error err = {0};
    ue_status st = ue_image_load_file(path, &img, &err);
    if (st != UE_OK) fail_msg("%s: %s", path, err.msg);
    return img;
}

/* Max |ours - PIL| over the pixels of a decoded fixture image. */
static int rgb_diff(const char *image, const char *expected) {
    ue_image *img = load_ok(image);
    uevf_array want = uevf_read(DIR, expected);
    assert_int_equal(want.dtype, UEVF_U8);
    assert_int_equal(want.ndim, 3);
    assert_int_equal(want.dims[0], ue_image_height(img));
    assert_int_equal(want.dims[1], ue_image_width(img));
    assert_int_equal(want.dims[2], 3);
    int worst = 0;
    const uint8_t *got = ue_image_rgb(img);
    for (size_t i = 0; i < want.count; i++) {
        int d = abs((int)got[i] - (int)want.u8[i]);
        if (d > worst) worst = d;
    }
    uevf_free(&want);
    ue_image_destroy(img);
    return worst;
}

/* Lossless formats give PIL's bytes exactly; alpha composited on white within 1 (PIL's
 * integer alpha_composite rounds differently from (c*a + 255*(255-a)) / 255). */
static void test_lossless_formats_match_pil(void **state) {
    (void)state;
    assert_int_equal(rgb_diff("img_s.gif", "rgb_img_s_gif.bin"), 0);
    assert_int_equal(rgb_diff("img_s.bmp", "rgb_img_s_bmp.bin"), 0);
    assert_int_equal(rgb_diff("img_s_gray.png", "rgb_img_s_gray_png.bin"), 0);
    assert_int_equal(rgb_diff("img_s_pal.png", "rgb_img_s_pal_png.bin"), 0);
    assert_true(rgb_diff("img_s_lossless.webp", "rgb_img_s_lossless_webp.bin") <= 1);
    assert_true(rgb_diff("img_a.png", "rgb_img_a_png.bin") <= 1);
}

/* JPEG: libjpeg-turbo in PIL's wheel and Debian's may differ in IDCT rounding by a level. */
static void test_jpeg_and_exif_orientation(void **state) {
    (void)state;
    assert_true(rgb_diff("img_b.jpg", "rgb_img_b_jpg.bin") <= 2);
    /* orientation 6: stored 33x21, shown rotated 90 degrees clockwise as 21x33 */
    ue_image *img = load_ok("img_s_exif6.jpg");
    assert_int_equal(ue_image_width(img), 21);
    assert_int_equal(ue_image_height(img), 33);
    ue_image_destroy(img);
    assert_true(rgb_diff("img_s_exif6.jpg", "rgb_img_s_exif6_jpg.bin") <= 2);
}

/* Gemma3ImageProcessorPil's pixels, stored as the 8-bit values they come from. */
static double pixel_diff(const char *image, const char *expected) {
    ue_image *img = load_ok(image);
    uevf_array want = uevf_read(DIR, expected);
    assert_int_equal(want.dtype, UEVF_U8);
    assert_int_equal(want.count, 3 * 112 * 112);
    float *px = malloc(want.count * sizeof(float));
    const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
    ue_error err = {0};
    assert_int_equal(ue_image_preprocess(img, 112, mean, std, px, &err), UE_OK);
    double worst = 0.0;
    for (size_t i = 0; i < want.count; i++) {
        double e = (want.u8[i] / 255.0 - 0.5) / 0.5;
        worst = fmax(worst, fabs(px[i] - e));
    }
    free(px);
    uevf_free(&want);
    ue_image_destroy(img);
    return worst;
}

static void test_preprocess_matches_hf(void **state) {
    (void)state;
    /* PNG, upscaled: identical to PIL up to float rounding. */
    assert_true(pixel_diff("img_a.png", "pixels_a.bin") < 1e-6);
    /* JPEG, downscaled: decoder rounding and PIL's pass order allow one 8-bit level
     * (2/255 after normalisation) here and there. */
    assert_true(pixel_diff("img_b.jpg", "pixels_b.bin") <= 2.0 * 2.0 / 255.0 + 1e-6);
}

static void test_pan_scan_rules(void **state) {
    (void)state;
    int x[4], y[4], w[4], h[4];
    assert_int_equal(ue_image_pan_scan(640, 280, x, y, w, h), 2); /* ratio 2.29 -> 2 crops */
    assert_int_equal(w[0], 320);
    assert_int_equal(h[0], 280);
    assert_int_equal(x[1], 320);
    assert_int_equal(ue_image_pan_scan(600, 240, x, y, w, h), 0); /* crops of 240 < 256 */
    assert_int_equal(ue_image_pan_scan(500, 450, x, y, w, h), 0); /* ratio 1.11 < 1.2 */
    assert_int_equal(ue_image_pan_scan(300, 2000, x, y, w, h), 4); /* tall: capped at 4 */
    assert_int_equal(h[0], 500);
    assert_int_equal(y[3], 1500);
    assert_int_equal(ue_image_pan_scan(1000, 300, x, y, w, h), 3); /* floor(3.33+.5)=3 */
    assert_int_equal(w[2], 1000 - 2 * 334); /* the last crop is cut at the edge */
}

/* ---- bad input ---- */

static void expect_bad(const void *data, size_t size, const char *needle) {
    ue_image *img = NULL;
    ue_error err = {0};
    ue_status st = ue_image_load_memory(data, size, &img, &err);
    if (st == UE_OK) fail_msg("accepted bad image (expected '%s')", needle);
    assert_null(img);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_empty_and_unknown(void **state) {
    (void)state;
    expect_bad("", 0, "empty");
    expect_bad("hello world, not an image", 25, "not a PNG, JPEG, GIF, WebP or BMP");
    ue_image *img = NULL;
    ue_error err = {0};
    assert_int_not_equal(ue_image_load_file(DIR "no_such.png", &img, &err), UE_OK);
    assert_non_null(strstr(err.msg, "no_such.png"));
}

static void test_truncated_files(void **state) {
    (void)state;
    const char *files[] = {"img_a.png", "img_b.jpg", "img_s.gif", "img_s.bmp", "img_s_lossless.webp"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s", files[f]);
        size_t n;
        uint8_t *d = ue_test_read_file(path, &n);
        size_t cuts[] = {1, 5, 13, 30, n / 3, n / 2, n - 40};
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            ue_image *img = NULL;
            ue_error err = {0};
            ue_status st = ue_image_load_memory(d, cuts[c], &img, &err);
            if (st == UE_OK) fail_msg("%s cut at %zu bytes was accepted", files[f], cuts[c]);
            assert_true(strlen(err.msg) > 0);
        }
        free(d);
    }
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static void put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static void test_huge_headers(void **state) {
    (void)state;
    /* PNG: IHDR claiming 100000 x 100000 (CRC left wrong on purpose first, then fixed by
     * libpng's own check order: the size limit fires either way before any allocation). */
    size_t n;
    uint8_t *png = ue_test_read_file(DIR "img_a.png", &n);
    put_be32(png + 16, 100000);
    put_be32(png + 20, 100000);
    ue_image *img = NULL;
    ue_error err = {0};
    assert_int_not_equal(ue_image_load_memory(png, n, &img, &err), UE_OK);
    assert_non_null(strstr(err.msg, "PNG"));
    free(png);

    /* BMP: 100000 x 100000 at 24 bits: refused by the pixel limit, not by allocation. */
    uint8_t bmp[54] = {'B', 'M'};
    put_le32(bmp + 10, 54);
    put_le32(bmp + 14, 40);
    put_le32(bmp + 18, 100000);
    put_le32(bmp + 22, 100000);
    bmp[26] = 1;
    bmp[28] = 24;
    expect_bad(bmp, sizeof bmp, "100000x100000");

    /* GIF: the logical screen 65535 x 65535 is over the pixel limit. */
    uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, ';'};
    expect_bad(gif, sizeof gif, "65535x65535");

    /* JPEG: a valid file whose frame header says 65000 x 65000. */
    uint8_t *jpg = ue_test_read_file(DIR "img_b.jpg", &n);
    for (size_t i = 2; i + 9 < n; i++)
        if (jpg[i] == 0xFF && (jpg[i + 1] == 0xC0 || jpg[i + 1] == 0xC2)) {
            jpg[i + 5] = 0xFD, jpg[i + 6] = 0xE8; /* height 65000 */
            jpg[i + 7] = 0xFD, jpg[i + 8] = 0xE8; /* width 65000 */
            break;
        }
    expect_bad(jpg, n, "65000x65000");
    free(jpg);
}

static void test_corrupt_data(void **state) {
    (void)state;
    const char *files[] = {"img_a.png", "img_b.jpg", "img_s.gif", "img_s_lossless.webp"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s", files[f]);
        size_t n;
        uint8_t *d = ue_test_read_file(path, &n);
        /* Garbage over the middle: most decoders notice; none may crash or read outside. */
        for (size_t i = n / 3; i < n / 3 + 64 && i < n; i++) d[i] ^= (uint8_t)(0x5A + i);
        ue_image *img = NULL;
        ue_error err = {0};
        if (ue_image_load_memory(d, n, &img, &err) == UE_OK) {
            assert_true(ue_image_width(img) > 0); /* JPEG may decode garbage as pixels */
            ue_image_destroy(img);
        } else {
            assert_true(strlen(err.msg) > 0);
        }
        free(d);
    }
    /* PNG with a broken CRC on IHDR is an error. */
    size_t n;
    uint8_t *png = ue_test_read_file(DIR "img_a.png", &n);
    png[29] ^= 0xFF;
    expect_bad(png, n, "PNG");
    free(png);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lossless_formats_match_pil),
        cmocka_unit_test(test_jpeg_and_exif_orientation),
        cmocka_unit_test(test_preprocess_matches_hf),
        cmocka_unit_test(test_pan_scan_rules),
        cmocka_unit_test(test_empty_and_unknown),
        cmocka_unit_test(test_truncated_files),
        cmocka_unit_test(test_huge_headers),
        cmocka_unit_test(test_corrupt_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
