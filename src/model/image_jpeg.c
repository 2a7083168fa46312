/* JPEG reader on libjpeg(-turbo): grayscale and YCbCr decode to RGB with the library's
 * defaults (as PIL gets them), Adobe CMYK/YCCK are converted from inverted CMYK. The size
 * from the frame header is checked before the decompressor allocates; progressive files
 * are limited in scans (a classic decoder denial of service); a truncated file is an
 * error, not a grey-filled image. The APP1 EXIF block gives the orientation. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "model/image.h"

enum { MAX_SCANS = 1000 };

typedef struct jpeg_ctx {
    struct jpeg_error_mgr pub;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    int truncated;
} jpeg_ctx;

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    c->pub.format_message(cinfo, c->msg);
    longjmp(c->jump, 1);
}

static void on_message(j_common_ptr cinfo, int level) {
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    if (level < 0 && c->pub.msg_code == JWRN_JPEG_EOF) c->truncated = 1;
}

static void on_progress(j_common_ptr cinfo) {
    if (cinfo->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        if (d->input_scan_number > MAX_SCANS) {
            jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
            snprintf(c->msg, sizeof c->msg, "more than %d progressive scans", MAX_SCANS);
            longjmp(c->jump, 1);
        }
    }
}

static int find_orientation(j_decompress_ptr d) {
    for (jpeg_saved_marker_ptr m = d->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && !memcmp(m->data, "Exif\0\0", 6))
            return ue_exif_orientation(m->data, m->data_length);
    return 1;
}

ue_status ue_decode_jpeg(const uint8_t *data, size_t size, const ue_image_limits *lim,
                         ue_rgba *out, int *orientation, ue_error *err) {
    struct jpeg_decompress_struct d;
    jpeg_ctx ctx;
    memset(&d, 0, sizeof d);
    memset(&ctx, 0, sizeof ctx);
    d.err = jpeg_std_error(&ctx.pub);
    ctx.pub.error_exit = on_error_exit;
    ctx.pub.emit_message = on_message;
    uint8_t *volatile row = NULL;
    volatile ue_status st = UE_OK;
    *orientation = 1;
    if (setjmp(ctx.jump)) {
        if (st == UE_OK) st = ue_fail(err, UE_ERR_FORMAT, "JPEG: %s", ctx.msg);
        goto done;
    }
    jpeg_create_decompress(&d);
    ctx.progress.progress_monitor = on_progress;
    d.progress = &ctx.progress;
    d.mem->max_memory_to_use = (long)(lim->max_pixels * 8 + (64u << 20));
    jpeg_mem_src(&d, data, (unsigned long)size);
    jpeg_save_markers(&d, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&d, TRUE);
    ue_status ast = ue_rgba_alloc(out, (int64_t)d.image_width, (int64_t)d.image_height, lim,
                                  "JPEG", err);
    if (ast != UE_OK) {
        st = ast;
        goto done;
    }
    *orientation = find_orientation(&d);
    int cmyk = d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK;
    d.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&d);
    int comps = cmyk ? 4 : 3;
    if (d.output_components != comps || (int)d.output_width != out->width ||
        (int)d.output_height != out->height) {
        st = ue_fail(err, UE_ERR_FORMAT, "JPEG: decoder output %ux%u x%d, expected %dx%d x%d",
                     d.output_width, d.output_height, d.output_components, out->width,
                     out->height, comps);
        goto done;
    }
    row = malloc((size_t)out->width * (size_t)comps);
    if (!row) {
        st = ue_fail(err, UE_ERR_NOMEM, "out of memory decoding a JPEG");
        goto done;
    }
    while (d.output_scanline < d.output_height) {
        JSAMPROW rp = row;
        unsigned y = d.output_scanline;
        if (jpeg_read_scanlines(&d, &rp, 1) != 1) break;
        if (ctx.truncated) break;
        uint8_t *dst = out->px + (size_t)y * (size_t)out->width * 4;
        for (int x = 0; x < out->width; x++) {
            const uint8_t *s = row + (size_t)x * (size_t)comps;
            if (cmyk) { /* Adobe writes inverted CMYK: s = 255 - ink, so R = s_c * s_k / 255 */
                for (int c = 0; c < 3; c++) dst[4 * x + c] = (uint8_t)((s[c] * s[3] + 127) / 255);
            } else {
                memcpy(dst + 4 * x, s, 3);
            }
            dst[4 * x + 3] = 255;
        }
    }
    if (ctx.truncated || d.output_scanline < d.output_height) {
        st = ue_fail(err, UE_ERR_FORMAT, "JPEG: the file is truncated (image data ends at row %u of %u)",
                     d.output_scanline, d.output_height);
        goto done;
    }
    /* Every row is complete here; a missing end-of-image marker alone is accepted. */
    jpeg_finish_decompress(&d);
done:
    free(row);
    jpeg_destroy_decompress(&d);
    if (st != UE_OK) {
        free(out->px);
        out->px = NULL;
    }
    return st;
}
