/* Image input for the vision encoder: decoding PNG, JPEG, GIF (first frame), WebP and BMP
 * from memory (format found from magic bytes) into 8-bit RGB, alpha composited on white;
 * JPEG EXIF orientation applied; and the Gemma 3 preprocessing (gemma3.md 2.4): PIL-style
 * bilinear resize, rescale, normalize, and pan-and-scan crops (2.7). */
#ifndef UE_MODEL_IMAGE_H
#define UE_MODEL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "unicorn.h"

struct ue_image {
    int width, height;
    uint8_t *rgb; /* [height][width][3] */
};

/* Bounds checked before any decoder allocates pixel memory. */
typedef struct ue_image_limits {
    size_t max_bytes;   /* encoded input */
    uint64_t max_pixels; /* width * height (and any canvas or frame inside the file) */
    int max_side;       /* width and height each */
} ue_image_limits;

void ue_image_limits_default(ue_image_limits *limits);

/* Decodes an encoded image held in memory. */
ue_status ue_image_decode(const void *data, size_t size, const ue_image_limits *limits,
                          ue_image **out, ue_error *err);

/* An RGBA image being decoded; the format readers fill it. */
typedef struct ue_rgba {
    int width, height;
    uint8_t *px;   /* [height][width][4] */
    int has_alpha; /* some pixel may be less than opaque */
} ue_rgba;

/* Checks width x height against the limits and allocates px (zeroed). what: "PNG". */
ue_status ue_rgba_alloc(ue_rgba *img, int64_t width, int64_t height,
                        const ue_image_limits *limits, const char *what, ue_error *err);

ue_status ue_decode_png(const uint8_t *data, size_t size, const ue_image_limits *lim,
                        ue_rgba *out, ue_error *err);
/* *orientation: EXIF orientation 1..8 (1 when absent). */
ue_status ue_decode_jpeg(const uint8_t *data, size_t size, const ue_image_limits *lim,
                         ue_rgba *out, int *orientation, ue_error *err);
ue_status ue_decode_gif(const uint8_t *data, size_t size, const ue_image_limits *lim,
                        ue_rgba *out, ue_error *err);
ue_status ue_decode_webp(const uint8_t *data, size_t size, const ue_image_limits *lim,
                         ue_rgba *out, ue_error *err);
ue_status ue_decode_bmp(const uint8_t *data, size_t size, const ue_image_limits *lim,
                        ue_rgba *out, ue_error *err);

/* The orientation tag (0x0112) of an APP1 "Exif\0\0" payload: 1..8, or 1 when absent or
 * unreadable (a broken EXIF block never fails the image). */
int ue_exif_orientation(const uint8_t *app1, size_t size);

/* Preprocessing: resizes img to size x size as PIL's BILINEAR filter does on 8-bit RGB
 * (triangle filter widened by the downscale factor, fixed-point, horizontal pass then
 * vertical, each rounded to 8 bits), then writes (v / 255 - mean[c]) / std[c] as planar
 * CHW floats into out [3][size][size]. */
ue_status ue_image_preprocess(const ue_image *img, int size, const float mean[3],
                              const float std[3], float *out, ue_error *err);

/* The resize step above alone, 8-bit RGB into dst [h][w][3] (exposed for tests). */
ue_status ue_image_resize(const ue_image *img, int w, int h, uint8_t *dst, ue_error *err);

/* Pan-and-scan (HF Gemma3 processor rules, gemma3.md 2.7): the crop rectangles of img, at
 * most max_crops; returns their number (0: the image is not cropped). Each crop i is
 * x[i], y[i], w[i], h[i]. */
enum { UE_PAN_SCAN_MAX_CROPS = 4, UE_PAN_SCAN_MIN_CROP = 256 };
int ue_image_pan_scan(int width, int height, int x[], int y[], int w[], int h[]);
/* A copy of a rectangle of img (inside it). */
ue_status ue_image_crop(const ue_image *img, int x, int y, int w, int h, ue_image **out,
                        ue_error *err);

#endif
