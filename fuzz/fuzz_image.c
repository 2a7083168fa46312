/* libFuzzer target for image input (src/model/image_*.c over libpng, libjpeg, giflib,
 * libwebp and our BMP and EXIF readers): decodes the input with tighter limits than the
 * public API (so huge-but-valid images stay fast), and for an accepted image checks its
 * size, reads every pixel, runs the preprocessing resize to a small square and the
 * pan-and-scan crop rules. A rejected input must give a one-line message.
 * Build: make fuzz; run: see docs/FUZZING.md. Seeds: fuzz/seeds/image/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/image.h"

#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c)) __builtin_trap();                                                            \
    } while (0)

static volatile uint8_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ue_image_limits lim = {.max_bytes = 1u << 20, .max_pixels = 1u << 20, .max_side = 4096};
    ue_image *img = NULL;
    ue_error err = {0};
    if (ue_image_decode(data, size, &lim, &img, &err) != UE_OK) {
        CHECK(img == NULL && err.msg[0] != '\0' && !strchr(err.msg, '\n'));
        return 0;
    }
    int w = ue_image_width(img), h = ue_image_height(img);
    CHECK(w >= 1 && h >= 1 && (uint64_t)w * (uint64_t)h <= lim.max_pixels);
    const uint8_t *px = ue_image_rgb(img);
    uint8_t acc = 0;
    for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++) acc ^= px[i];
    g_sink = acc;

    const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
    float out[3 * 14 * 14];
    CHECK(ue_image_preprocess(img, 14, mean, std, out, &err) == UE_OK);
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) CHECK(out[i] >= -1.0f && out[i] <= 1.0f);

    int x[UE_PAN_SCAN_MAX_CROPS], y[UE_PAN_SCAN_MAX_CROPS], cw[UE_PAN_SCAN_MAX_CROPS],
        ch[UE_PAN_SCAN_MAX_CROPS];
    int n = ue_image_pan_scan(w, h, x, y, cw, ch);
    CHECK(n == 0 || (n >= 2 && n <= UE_PAN_SCAN_MAX_CROPS));
    for (int i = 0; i < n; i++) {
        CHECK(x[i] >= 0 && y[i] >= 0 && cw[i] >= 1 && ch[i] >= 1 && x[i] + cw[i] <= w &&
              y[i] + ch[i] <= h);
        ue_image *crop = NULL;
        CHECK(ue_image_crop(img, x[i], y[i], cw[i], ch[i], &crop, &err) == UE_OK);
        ue_image_destroy(crop);
    }
    ue_image_destroy(img);
    return 0;
}
