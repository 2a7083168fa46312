/* PNG reader on libpng: every colour type and bit depth expanded to 8-bit RGBA (16-bit
 * samples keep their high byte, as PIL does; no gamma correction, also as PIL). The size
 * from IHDR is checked against the limits before rows are allocated; libpng's errors come
 * back through longjmp as a ue_error. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/image.h"

typedef struct png_ctx {
    const uint8_t *data;
    size_t size, pos;
    ue_error *err;
    char msg[200];
} png_ctx;

static void on_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void on_read(png_structp png, png_bytep out, size_t n) {
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->size - c->pos) png_error(png, "the file is truncated");
    memcpy(out, c->data + c->pos, n);
    c->pos += n;
}

ue_status ue_decode_png(const uint8_t *data, size_t size, const ue_image_limits *lim,
                        ue_rgba *out, ue_error *err) {
    png_ctx ctx = {.data = data, .size = size, .err = err};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory starting the PNG reader");
    }
    /* Locals changed after setjmp and read after a longjmp must be volatile. */
    png_bytep *volatile rows = NULL;
    volatile ue_status st = UE_OK;
    if (setjmp(png_jmpbuf(png))) {
        if (st == UE_OK) st = ue_fail(err, UE_ERR_FORMAT, "PNG: %s", ctx.msg);
        goto done;
    }
    png_set_read_fn(png, &ctx, on_read);
    png_set_user_limits(png, (png_uint_32)lim->max_side, (png_uint_32)lim->max_side);
    png_set_chunk_malloc_max(png, 8u << 20);
    png_read_info(png, info);

    png_uint_32 w = 0, h = 0;
    int depth = 0, ctype = 0, interlace = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    ue_status ast = ue_rgba_alloc(out, (int64_t)w, (int64_t)h, lim, "PNG", err);
    if (ast != UE_OK) {
        st = ast;
        goto done;
    }
    out->has_alpha = (ctype & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS);
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_filler(png, 0xFF, PNG_FILLER_AFTER); /* adds alpha only where there is none */
    if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 4) {
        st = ue_fail(err, UE_ERR_FORMAT, "PNG: rows of %zu bytes after expansion, expected %zu",
                     (size_t)png_get_rowbytes(png, info), (size_t)w * 4);
        goto done;
    }
    rows = malloc((size_t)h * sizeof *rows);
    if (!rows) {
        st = ue_fail(err, UE_ERR_NOMEM, "out of memory reading a PNG");
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = out->px + (size_t)y * w * 4;
    png_read_image(png, rows);
    png_read_end(png, NULL);
done:
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    if (st != UE_OK) {
        free(out->px);
        out->px = NULL;
    }
    return st;
}
