/* Image loading: reads a file or takes bytes, finds the format from its magic bytes (never
 * the file name), hands it to the format's reader, applies a JPEG's EXIF orientation and
 * composites transparency on white (as the Hugging Face processor's convert_to_rgb does).
 * The public ue_image API of include/unicorn.h lives here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/checked.h"
#include "model/image.h"

void ue_image_limits_default(ue_image_limits *l) {
    l->max_bytes = UE_IMAGE_MAX_BYTES;
    l->max_pixels = UE_IMAGE_MAX_PIXELS;
    l->max_side = 65535;
}

ue_status ue_rgba_alloc(ue_rgba *img, int64_t width, int64_t height, const ue_image_limits *l,
                        const char *what, ue_error *err) {
    if (width < 1 || height < 1)
        return ue_fail(err, UE_ERR_FORMAT, "%s image is %lldx%lld pixels, expected at least 1x1",
                       what, (long long)width, (long long)height);
    if (width > l->max_side || height > l->max_side)
        return ue_fail(err, UE_ERR_UNSUPPORTED,
                       "%s image is %lldx%lld pixels, expected each side at most %d", what,
                       (long long)width, (long long)height, l->max_side);
    uint64_t pixels = (uint64_t)width * (uint64_t)height;
    if (pixels > l->max_pixels)
        return ue_fail(err, UE_ERR_UNSUPPORTED,
                       "%s image is %lldx%lld = %llu pixels, expected at most %llu", what,
                       (long long)width, (long long)height, (unsigned long long)pixels,
                       (unsigned long long)l->max_pixels);
    size_t bytes;
    if (!ue_mul_size((size_t)pixels, 4, &bytes))
        return ue_fail(err, UE_ERR_UNSUPPORTED, "%s image of %llu pixels is too large", what,
                       (unsigned long long)pixels);
    img->px = calloc(1, bytes);
    if (!img->px)
        return ue_fail(err, UE_ERR_NOMEM, "out of memory for a %lldx%lld %s image",
                       (long long)width, (long long)height, what);
    img->width = (int)width;
    img->height = (int)height;
    return UE_OK;
}

typedef enum { FMT_UNKNOWN, FMT_PNG, FMT_JPEG, FMT_GIF, FMT_WEBP, FMT_BMP } image_format;

static image_format detect(const uint8_t *d, size_t n) {
    if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return FMT_PNG;
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return FMT_JPEG;
    if (n >= 6 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6))) return FMT_GIF;
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return FMT_WEBP;
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') return FMT_BMP;
    return FMT_UNKNOWN;
}

/* Source pixel (sx, sy) of the stored image for output pixel (x, y) under EXIF
 * orientation o (the transform that makes the image upright). ow, oh: output size. */
static void oriented_source(int o, int x, int y, int ow, int oh, int *sx, int *sy) {
    switch (o) {
    case 2: *sx = ow - 1 - x; *sy = y; break;             /* mirrored */
    case 3: *sx = ow - 1 - x; *sy = oh - 1 - y; break;    /* rotated 180 */
    case 4: *sx = x; *sy = oh - 1 - y; break;             /* flipped vertically */
    case 5: *sx = y; *sy = x; break;                      /* transposed */
    case 6: *sx = y; *sy = ow - 1 - x; break;             /* rotate 90 clockwise to fix */
    case 7: *sx = oh - 1 - y; *sy = ow - 1 - x; break;    /* transversed */
    case 8: *sx = oh - 1 - y; *sy = x; break;             /* rotate 90 counter-clockwise */
    default: *sx = x; *sy = y; break;
    }
}

/* RGBA -> RGB on white, oriented. out->rgb [oh][ow][3]. */
static ue_status finish(const ue_rgba *src, int orientation, ue_image **out, ue_error *err) {
    if (orientation < 1 || orientation > 8) orientation = 1;
    int swap = orientation >= 5;
    int ow = swap ? src->height : src->width, oh = swap ? src->width : src->height;
    ue_image *img = calloc(1, sizeof *img);
    uint8_t *rgb = img ? malloc((size_t)ow * (size_t)oh * 3) : NULL;
    if (!rgb) {
        free(img);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory for a %dx%d image", ow, oh);
    }
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            oriented_source(orientation, x, y, ow, oh, &sx, &sy);
            const uint8_t *p = src->px + ((size_t)sy * (size_t)src->width + (size_t)sx) * 4;
            uint8_t *q = rgb + ((size_t)y * (size_t)ow + (size_t)x) * 3;
            unsigned a = p[3];
            for (int c = 0; c < 3; c++)
                q[c] = a == 255 ? p[c] : (uint8_t)((p[c] * a + 255u * (255u - a) + 127u) / 255u);
        }
    img->width = ow;
    img->height = oh;
    img->rgb = rgb;
    *out = img;
    return UE_OK;
}

ue_status ue_image_decode(const void *data, size_t size, const ue_image_limits *lim,
                          ue_image **out, ue_error *err) {
    *out = NULL;
    ue_image_limits def;
    if (!lim) {
        ue_image_limits_default(&def);
        lim = &def;
    }
    if (!data || size == 0) return ue_fail(err, UE_ERR_FORMAT, "image is empty (0 bytes)");
    if (size > lim->max_bytes)
        return ue_fail(err, UE_ERR_UNSUPPORTED, "image is %zu bytes, expected at most %zu",
                       size, lim->max_bytes);
    const uint8_t *d = data;
    ue_rgba px = {0};
    int orientation = 1;
    ue_status st;
    switch (detect(d, size)) {
    case FMT_PNG: st = ue_decode_png(d, size, lim, &px, err); break;
    case FMT_JPEG: st = ue_decode_jpeg(d, size, lim, &px, &orientation, err); break;
    case FMT_GIF: st = ue_decode_gif(d, size, lim, &px, err); break;
    case FMT_WEBP: st = ue_decode_webp(d, size, lim, &px, err); break;
    case FMT_BMP: st = ue_decode_bmp(d, size, lim, &px, err); break;
    default: {
        char hex[3 * 8 + 1] = "";
        for (size_t i = 0; i < size && i < 8; i++) sprintf(hex + 3 * i, " %02x", d[i]);
        return ue_fail(err, UE_ERR_FORMAT,
                       "not a PNG, JPEG, GIF, WebP or BMP image (first bytes:%s)", hex);
    }
    }
    if (st == UE_OK) st = finish(&px, orientation, out, err);
    free(px.px);
    return st;
}

ue_status ue_image_load_memory(const void *data, size_t size, ue_image **out, ue_error *err) {
    if (!out) return ue_fail(err, UE_ERR_ARGUMENT, "no output pointer given");
    return ue_image_decode(data, size, NULL, out, err);
}

ue_status ue_image_load_file(const char *path, ue_image **out, ue_error *err) {
    if (!out) return ue_fail(err, UE_ERR_ARGUMENT, "no output pointer given");
    *out = NULL;
    if (!path || !*path) return ue_fail(err, UE_ERR_ARGUMENT, "no image file given");
    FILE *f = fopen(path, "rb");
    if (!f) return ue_fail(err, UE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    ue_status st = UE_OK;
    uint8_t *buf = NULL;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = ue_fail(err, UE_ERR_IO, "%s: not a regular file", path);
    } else if ((uint64_t)sb.st_size > UE_IMAGE_MAX_BYTES) {
        st = ue_fail(err, UE_ERR_UNSUPPORTED, "%s: image file is %lld bytes, expected at most %u",
                     path, (long long)sb.st_size, (unsigned)UE_IMAGE_MAX_BYTES);
    } else {
        size_t n = (size_t)sb.st_size;
        buf = malloc(n ? n : 1);
        if (!buf) {
            st = ue_fail(err, UE_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
        } else if (fread(buf, 1, n, f) != n) {
            st = ue_fail(err, UE_ERR_IO, "%s: read failed", path);
        } else if ((st = ue_image_decode(buf, n, NULL, out, err)) != UE_OK) {
            ue_error_prefix(err, "%s", path);
        }
    }
    free(buf);
    fclose(f);
    return st;
}

ue_status ue_image_from_rgb(const uint8_t *rgb, int width, int height, ue_image **out,
                            ue_error *err) {
    if (!out) return ue_fail(err, UE_ERR_ARGUMENT, "no output pointer given");
    *out = NULL;
    if (!rgb || width < 1 || height < 1 ||
        (uint64_t)width * (uint64_t)height > UE_IMAGE_MAX_PIXELS)
        return ue_fail(err, UE_ERR_ARGUMENT, "image of %dx%d pixels, expected 1..%u pixels",
                       width, height, (unsigned)UE_IMAGE_MAX_PIXELS);
    size_t bytes = (size_t)width * (size_t)height * 3;
    ue_image *img = calloc(1, sizeof *img);
    if (img) img->rgb = malloc(bytes);
    if (!img || !img->rgb) {
        free(img);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory for a %dx%d image", width, height);
    }
    memcpy(img->rgb, rgb, bytes);
    img->width = width;
    img->height = height;
    *out = img;
    return UE_OK;
}

void ue_image_destroy(ue_image *img) {
    if (!img) return;
    free(img->rgb);
    free(img);
}

int ue_image_width(const ue_image *img) { return img ? img->width : 0; }
int ue_image_height(const ue_image *img) { return img ? img->height : 0; }
const uint8_t *ue_image_rgb(const ue_image *img) { return img ? img->rgb : NULL; }
