/* GIF reader on giflib: the first frame only, read record by record (never the whole
 * animation), drawn on the logical screen; the graphic control extension's transparent
 * index and everything outside the frame become transparent (then white). Canvas and
 * frame sizes are checked against the limits before any pixel memory is allocated. */
#include <gif_lib.h>
#include <stdlib.h>
#include <string.h>

#include "model/image.h"

typedef struct gif_src {
    const uint8_t *data;
    size_t size, pos;
} gif_src;

static int on_read(GifFileType *gif, GifByteType *buf, int n) {
    gif_src *s = gif->UserData;
    if (n < 0) return 0;
    size_t left = s->size - s->pos, take = (size_t)n < left ? (size_t)n : left;
    memcpy(buf, s->data + s->pos, take);
    s->pos += take;
    return (int)take;
}

static ue_status gif_error(ue_error *err, const char *what, int code) {
    const char *msg = GifErrorString(code);
    return ue_fail(err, UE_ERR_FORMAT, "GIF: %s: %s", what, msg ? msg : "unknown error");
}

/* Reads the first image's pixels into out (already the canvas size). */
static ue_status read_frame(GifFileType *gif, int transparent, const ue_image_limits *lim,
                            ue_rgba *out, ue_error *err) {
    if (DGifGetImageDesc(gif) == GIF_ERROR) return gif_error(err, "image descriptor", gif->Error);
    const GifImageDesc *desc = &gif->Image;
    int64_t fw = desc->Width, fh = desc->Height;
    if (fw < 1 || fh < 1 || (uint64_t)fw * (uint64_t)fh > lim->max_pixels)
        return ue_fail(err, UE_ERR_FORMAT, "GIF: first frame is %lldx%lld, expected 1..%llu pixels",
                       (long long)fw, (long long)fh, (unsigned long long)lim->max_pixels);
    const ColorMapObject *cmap = desc->ColorMap ? desc->ColorMap : gif->SColorMap;
    if (!cmap || !cmap->Colors || cmap->ColorCount < 1)
        return ue_fail(err, UE_ERR_FORMAT, "GIF: the first frame has no colour table");
    GifPixelType *line = malloc((size_t)fw);
    if (!line) return ue_fail(err, UE_ERR_NOMEM, "out of memory decoding a GIF");
    /* Interlaced frames store rows in four passes: 0, 4, 2, 1 mod 8 / 8, 8, 4, 2. */
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    int passes = desc->Interlace ? 4 : 1;
    ue_status st = UE_OK;
    for (int p = 0; p < passes && st == UE_OK; p++) {
        int64_t y0 = desc->Interlace ? start[p] : 0, dy = desc->Interlace ? step[p] : 1;
        for (int64_t y = y0; y < fh; y += dy) {
            if (DGifGetLine(gif, line, (int)fw) == GIF_ERROR) {
                st = gif_error(err, "image data", gif->Error);
                break;
            }
            int64_t cy = desc->Top + y;
            if (cy < 0 || cy >= out->height) continue; /* frames may overhang the screen */
            for (int64_t x = 0; x < fw; x++) {
                int64_t cx = desc->Left + x;
                if (cx < 0 || cx >= out->width) continue;
                uint8_t *q = out->px + ((size_t)cy * (size_t)out->width + (size_t)cx) * 4;
                int idx = line[x];
                if (idx == transparent) {
                    q[0] = q[1] = q[2] = q[3] = 0;
                    continue;
                }
                const GifColorType *c = &cmap->Colors[idx < cmap->ColorCount ? idx : 0];
                q[0] = c->Red;
                q[1] = c->Green;
                q[2] = c->Blue;
                q[3] = 255;
            }
        }
    }
    free(line);
    return st;
}

ue_status ue_decode_gif(const uint8_t *data, size_t size, const ue_image_limits *lim,
                        ue_rgba *out, ue_error *err) {
    gif_src src = {.data = data, .size = size};
    int code = 0;
    GifFileType *gif = DGifOpen(&src, on_read, &code);
    if (!gif) return gif_error(err, "header", code);
    ue_status st = ue_rgba_alloc(out, gif->SWidth, gif->SHeight, lim, "GIF", err);
    int transparent = -1, found = 0;
    while (st == UE_OK && !found) {
        GifRecordType rec;
        if (DGifGetRecordType(gif, &rec) == GIF_ERROR) {
            st = gif_error(err, "record", gif->Error);
            break;
        }
        if (rec == IMAGE_DESC_RECORD_TYPE) {
            st = read_frame(gif, transparent, lim, out, err);
            found = 1;
        } else if (rec == EXTENSION_RECORD_TYPE) {
            int ext_code = 0;
            GifByteType *ext = NULL;
            if (DGifGetExtension(gif, &ext_code, &ext) == GIF_ERROR) {
                st = gif_error(err, "extension", gif->Error);
                break;
            }
            /* Graphic control: [4, flags, delay lo, delay hi, transparent index]. */
            if (ext_code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4 && (ext[1] & 1))
                transparent = ext[4];
            while (ext) {
                if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR) {
                    st = gif_error(err, "extension", gif->Error);
                    break;
                }
            }
        } else if (rec == TERMINATE_RECORD_TYPE) {
            st = ue_fail(err, UE_ERR_FORMAT, "GIF: the file has no image");
        } else {
            st = ue_fail(err, UE_ERR_FORMAT, "GIF: unknown record type %d", (int)rec);
        }
    }
    out->has_alpha = 1;
    DGifCloseFile(gif, &code);
    if (st != UE_OK) {
        free(out->px);
        out->px = NULL;
    }
    return st;
}
