/* Gemma 3 image preprocessing (gemma3.md 2.4, 2.7): the resize that the Hugging Face
 * processor gets from PIL's Image.resize(BILINEAR) on 8-bit RGB, reproduced step by step so
 * pixel values match: a triangle filter whose support widens with the downscale factor
 * (antialiasing), weights normalised per output pixel and turned into 22-bit fixed point,
 * a horizontal pass then a vertical pass, each rounded and clamped to 8 bits. Then
 * rescale by 1/255 and normalise per channel into planar floats. Also pan-and-scan crops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/image.h"

enum { PRECISION_BITS = 22 }; /* 32 - 8 - 2, as in PIL's 8-bit resampler */

/* Per output pixel: first input index, tap count and fixed-point weights (ksize each). */
typedef struct taps {
    int *first, *count;
    int32_t *k;
    int ksize;
} taps;

static void taps_free(taps *t) {
    free(t->first);
    free(t->count);
    free(t->k);
}

static double triangle(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int taps_make(int in_size, int out_size, taps *t) {
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale; /* bilinear support 1, widened when shrinking */
    t->ksize = (int)ceil(support) * 2 + 1;
    t->first = malloc((size_t)out_size * sizeof(int));
    t->count = malloc((size_t)out_size * sizeof(int));
    t->k = calloc((size_t)out_size * (size_t)t->ksize, sizeof(int32_t));
    double *w = malloc((size_t)t->ksize * sizeof(double));
    if (!t->first || !t->count || !t->k || !w) {
        free(w);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        int n = xmax - xmin;
        if (n > t->ksize) n = t->ksize;
        double sum = 0.0, ss = 1.0 / filterscale;
        for (int x = 0; x < n; x++) {
            w[x] = triangle((x + xmin - center + 0.5) * ss);
            sum += w[x];
        }
        int32_t *k = t->k + (size_t)xx * (size_t)t->ksize;
        for (int x = 0; x < n; x++) {
            double v = sum != 0.0 ? w[x] / sum : w[x];
            k[x] = (int32_t)(0.5 + v * (1 << PRECISION_BITS)); /* weights are >= 0 */
        }
        t->first[xx] = xmin;
        t->count[xx] = n;
    }
    free(w);
    return 1;
}

static uint8_t clip8(int32_t v) {
    if (v >= (int32_t)(255u << PRECISION_BITS)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* One pass along x (horizontal) or y: src [sh][sw][3] -> dst, the resized side given by t. */
static void pass_h(const uint8_t *src, int sw, int sh, const taps *t, int ow, uint8_t *dst) {
    for (int y = 0; y < sh; y++) {
        const uint8_t *in = src + (size_t)y * (size_t)sw * 3;
        uint8_t *out = dst + (size_t)y * (size_t)ow * 3;
        for (int x = 0; x < ow; x++) {
            const int32_t *k = t->k + (size_t)x * (size_t)t->ksize;
            const uint8_t *s = in + (size_t)t->first[x] * 3;
            for (int c = 0; c < 3; c++) {
                int32_t acc = 1 << (PRECISION_BITS - 1);
                for (int i = 0; i < t->count[x]; i++) acc += s[3 * i + c] * k[i];
                out[3 * x + c] = clip8(acc);
            }
        }
    }
}

static void pass_v(const uint8_t *src, int sw, const taps *t, int oh, uint8_t *dst) {
    size_t row = (size_t)sw * 3;
    for (int y = 0; y < oh; y++) {
        const int32_t *k = t->k + (size_t)y * (size_t)t->ksize;
        const uint8_t *s = src + (size_t)t->first[y] * row;
        uint8_t *out = dst + (size_t)y * row;
        for (size_t x = 0; x < row; x++) {
            int32_t acc = 1 << (PRECISION_BITS - 1);
            for (int i = 0; i < t->count[y]; i++) acc += s[(size_t)i * row + x] * k[i];
            out[x] = clip8(acc);
        }
    }
}

ue_status ue_image_resize(const ue_image *img, int ow, int oh, uint8_t *dst, ue_error *err) {
    if (ow < 1 || oh < 1 || img->width < 1 || img->height < 1)
        return ue_fail(err, UE_ERR_ARGUMENT, "resize %dx%d -> %dx%d", img->width, img->height, ow, oh);
    int iw = img->width, ih = img->height;
    /* Recent Pillow runs the vertical pass first when the height shrinks and the width
     * does not (the rounding between passes makes the order visible). */
    int vertical_first = ow >= iw && oh < ih;
    taps th = {0}, tv = {0};
    uint8_t *tmp = malloc(vertical_first ? (size_t)iw * (size_t)oh * 3 : (size_t)ih * (size_t)ow * 3);
    if (!tmp || !taps_make(iw, ow, &th) || !taps_make(ih, oh, &tv)) {
        free(tmp);
        taps_free(&th);
        taps_free(&tv);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory resizing a %dx%d image", iw, ih);
    }
    if (vertical_first) {
        pass_v(img->rgb, iw, &tv, oh, tmp);
        pass_h(tmp, iw, oh, &th, ow, dst);
    } else {
        pass_h(img->rgb, iw, ih, &th, ow, tmp);
        pass_v(tmp, ow, &tv, oh, dst);
    }
    free(tmp);
    taps_free(&th);
    taps_free(&tv);
    return UE_OK;
}

ue_status ue_image_preprocess(const ue_image *img, int size, const float mean[3],
                              const float std[3], float *out, ue_error *err) {
    size_t plane = (size_t)size * (size_t)size;
    uint8_t *rs = malloc(plane * 3);
    if (!rs) return ue_fail(err, UE_ERR_NOMEM, "out of memory preprocessing an image");
    ue_status st = ue_image_resize(img, size, size, rs, err);
    if (st == UE_OK)
        for (int c = 0; c < 3; c++) {
            float inv_std = 1.0f / std[c];
            for (size_t i = 0; i < plane; i++)
                out[(size_t)c * plane + i] = (rs[3 * i + (size_t)c] * (1.0f / 255.0f) - mean[c]) * inv_std;
        }
    free(rs);
    return st;
}

int ue_image_pan_scan(int width, int height, int x[], int y[], int w[], int h[]) {
    const double min_ratio = 1.2;
    int n_w = 1, n_h = 1;
    if (width >= height) {
        if ((double)width / height < min_ratio) return 0;
        n_w = (int)floor((double)width / height + 0.5);
        int by_size = (int)floor((double)width / UE_PAN_SCAN_MIN_CROP);
        if (by_size < n_w) n_w = by_size;
        if (n_w < 2) n_w = 2;
        if (n_w > UE_PAN_SCAN_MAX_CROPS) n_w = UE_PAN_SCAN_MAX_CROPS;
    } else {
        if ((double)height / width < min_ratio) return 0;
        n_h = (int)floor((double)height / width + 0.5);
        int by_size = (int)floor((double)height / UE_PAN_SCAN_MIN_CROP);
        if (by_size < n_h) n_h = by_size;
        if (n_h < 2) n_h = 2;
        if (n_h > UE_PAN_SCAN_MAX_CROPS) n_h = UE_PAN_SCAN_MAX_CROPS;
    }
    int cw = (width + n_w - 1) / n_w, chh = (height + n_h - 1) / n_h;
    if (cw < UE_PAN_SCAN_MIN_CROP || chh < UE_PAN_SCAN_MIN_CROP) return 0;
    int n = 0;
    for (int i = 0; i < n_h; i++)
        for (int j = 0; j < n_w; j++) { /* the last crop is cut at the edge, as slicing does */
            x[n] = j * cw;
            y[n] = i * chh;
            w[n] = width - x[n] < cw ? width - x[n] : cw;
            h[n] = height - y[n] < chh ? height - y[n] : chh;
            n++;
        }
    return n;
}

ue_status ue_image_crop(const ue_image *img, int x, int y, int w, int h, ue_image **out,
                        ue_error *err) {
    *out = NULL;
    if (x < 0 || y < 0 || w < 1 || h < 1 || x > img->width - w || y > img->height - h)
        return ue_fail(err, UE_ERR_ARGUMENT, "crop %dx%d at (%d, %d) outside a %dx%d image", w, h,
                       x, y, img->width, img->height);
    ue_image *c = calloc(1, sizeof *c);
    if (c) c->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!c || !c->rgb) {
        free(c);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory cropping an image");
    }
    for (int r = 0; r < h; r++)
        memcpy(c->rgb + (size_t)r * (size_t)w * 3,
               img->rgb + ((size_t)(y + r) * (size_t)img->width + (size_t)x) * 3, (size_t)w * 3);
    c->width = w;
    c->height = h;
    *out = c;
    return UE_OK;
}
