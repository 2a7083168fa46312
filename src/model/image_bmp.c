/* BMP reader (Debian has no small BMP library): OS/2 core and Windows INFO/V2-V5 headers;
 * 1/4/8-bit palettes, 16/24/32-bit direct colour with default or BITFIELDS masks (an alpha
 * mask is honoured; 32-bit BI_RGB ignores the fourth byte, as PIL does); bottom-up and
 * top-down rows. RLE and embedded JPEG/PNG are refused. Every offset is checked against
 * the input, and the pixel array's extent before any allocation. */
#include <stdlib.h>
#include <string.h>

#include "model/image.h"

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_ALPHABITFIELDS = 6 };

static uint32_t u16le(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t u32le(const uint8_t *p) { return u16le(p) | u16le(p + 2) << 16; }

typedef struct channel {
    uint32_t mask;
    int shift;
    uint64_t max; /* mask >> shift */
} channel;

static channel make_channel(uint32_t mask) {
    channel c = {mask, 0, 0};
    if (mask) {
        c.shift = __builtin_ctz(mask);
        c.max = mask >> c.shift;
    }
    return c;
}

static uint8_t take(const channel *c, uint32_t v, uint8_t none) {
    if (!c->mask) return none;
    uint64_t x = (v & c->mask) >> c->shift;
    return (uint8_t)((x * 255 + c->max / 2) / c->max);
}

ue_status ue_decode_bmp(const uint8_t *d, size_t size, const ue_image_limits *lim,
                        ue_rgba *out, ue_error *err) {
    if (size < 14 + 12) return ue_fail(err, UE_ERR_FORMAT, "BMP: the file is truncated (%zu bytes)", size);
    uint32_t data_off = u32le(d + 10), hsize = u32le(d + 14);
    if (hsize != 12 && hsize != 40 && hsize != 52 && hsize != 56 && hsize != 64 &&
        hsize != 108 && hsize != 124)
        return ue_fail(err, UE_ERR_FORMAT, "BMP: header size %u, expected 12, 40, 52, 56, 64, 108 or 124", hsize);
    if (14 + (uint64_t)hsize > size)
        return ue_fail(err, UE_ERR_FORMAT, "BMP: the %u-byte header is truncated", hsize);
    const uint8_t *h = d + 14;
    int64_t w, ht;
    uint32_t bpp, comp = BI_RGB, n_colors = 0;
    size_t pal_off, pal_entry;
    if (hsize == 12) {
        w = u16le(h + 4);
        ht = u16le(h + 6);
        bpp = u16le(h + 10);
        pal_entry = 3;
    } else {
        w = (int32_t)u32le(h + 4);
        ht = (int32_t)u32le(h + 8);
        bpp = u16le(h + 14);
        comp = u32le(h + 16);
        n_colors = u32le(h + 32);
        pal_entry = 4;
    }
    int top_down = ht < 0;
    if (top_down) ht = -ht;
    if (comp == BI_RLE8 || comp == BI_RLE4)
        return ue_fail(err, UE_ERR_UNSUPPORTED, "BMP: RLE compression is not supported");
    if (comp != BI_RGB && comp != BI_BITFIELDS && comp != BI_ALPHABITFIELDS)
        return ue_fail(err, UE_ERR_UNSUPPORTED, "BMP: compression %u is not supported", comp);
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return ue_fail(err, UE_ERR_FORMAT, "BMP: %u bits per pixel, expected 1, 4, 8, 16, 24 or 32", bpp);
    if (comp != BI_RGB && bpp != 16 && bpp != 32)
        return ue_fail(err, UE_ERR_FORMAT, "BMP: bit-field masks with %u bits per pixel", bpp);

    /* Masks: in the header from V2 (52 bytes) on, else right after a 40-byte header. */
    uint32_t masks[4] = {0, 0, 0, 0};
    pal_off = 14 + (size_t)hsize;
    if (comp != BI_RGB) {
        int n_masks = comp == BI_ALPHABITFIELDS ? 4 : 3;
        if (hsize >= 52) {
            for (int i = 0; i < 3; i++) masks[i] = u32le(h + 40 + 4 * i);
            if (hsize >= 56) masks[3] = u32le(h + 52);
        } else {
            if (pal_off + 4 * (size_t)n_masks > size)
                return ue_fail(err, UE_ERR_FORMAT, "BMP: the colour masks are truncated");
            for (int i = 0; i < n_masks; i++) masks[i] = u32le(d + pal_off + 4 * i);
            pal_off += 4 * (size_t)n_masks;
        }
    } else if (bpp == 16) {
        masks[0] = 0x7C00, masks[1] = 0x03E0, masks[2] = 0x001F;
    } else if (bpp >= 24) {
        masks[0] = 0xFF0000, masks[1] = 0xFF00, masks[2] = 0xFF;
    }
    if (comp != BI_RGB && (!masks[0] || !masks[1] || !masks[2]))
        return ue_fail(err, UE_ERR_FORMAT, "BMP: a colour mask is zero");
    if (bpp == 16) masks[3] &= 0xFFFF;

    uint8_t palette[256][3];
    memset(palette, 0, sizeof palette);
    if (bpp <= 8) {
        uint32_t full = 1u << bpp;
        if (n_colors == 0 || n_colors > full) n_colors = full;
        if (pal_off + (uint64_t)n_colors * pal_entry > size)
            return ue_fail(err, UE_ERR_FORMAT, "BMP: the palette of %u colours is truncated", n_colors);
        for (uint32_t i = 0; i < n_colors; i++) {
            const uint8_t *p = d + pal_off + (size_t)i * pal_entry;
            palette[i][0] = p[2], palette[i][1] = p[1], palette[i][2] = p[0];
        }
    }

    if (w < 1 || ht < 1)
        return ue_fail(err, UE_ERR_FORMAT, "BMP image is %lldx%lld pixels, expected at least 1x1",
                       (long long)w, (long long)ht);
    uint64_t stride = ((uint64_t)w * bpp + 31) / 32 * 4;
    if (data_off > size || stride * (uint64_t)ht > size - data_off) {
        if ((uint64_t)w * (uint64_t)ht <= lim->max_pixels && w <= lim->max_side && ht <= lim->max_side)
            return ue_fail(err, UE_ERR_FORMAT,
                           "BMP: pixel data of %llu bytes at offset %u does not fit the %zu-byte file",
                           (unsigned long long)(stride * (uint64_t)ht), data_off, size);
        /* Over the limits: let the allocator's check report the size. */
    }
    ue_status st = ue_rgba_alloc(out, w, ht, lim, "BMP", err);
    if (st != UE_OK) return st;

    channel ch[4];
    for (int i = 0; i < 4; i++) ch[i] = make_channel(masks[i]);
    out->has_alpha = masks[3] != 0;
    for (int64_t y = 0; y < ht; y++) {
        const uint8_t *row = d + data_off + (size_t)((top_down ? y : ht - 1 - y) * (int64_t)stride);
        uint8_t *q = out->px + (size_t)y * (size_t)w * 4;
        for (int64_t x = 0; x < w; x++, q += 4) {
            if (bpp <= 8) {
                unsigned bit = (unsigned)(x * bpp);
                unsigned idx = (row[bit / 8] >> (8 - bpp - bit % 8)) & ((1u << bpp) - 1);
                const uint8_t *c = palette[idx < n_colors ? idx : 0];
                q[0] = c[0], q[1] = c[1], q[2] = c[2], q[3] = 255;
                continue;
            }
            uint32_t v;
            if (bpp == 16) v = u16le(row + 2 * x);
            else if (bpp == 24) v = (uint32_t)row[3 * x] | (uint32_t)row[3 * x + 1] << 8 | (uint32_t)row[3 * x + 2] << 16;
            else v = u32le(row + 4 * x);
            q[0] = take(&ch[0], v, 0);
            q[1] = take(&ch[1], v, 0);
            q[2] = take(&ch[2], v, 0);
            q[3] = take(&ch[3], v, 255);
        }
    }
    return UE_OK;
}
