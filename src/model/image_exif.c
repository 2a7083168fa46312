/* EXIF orientation from a JPEG APP1 payload: "Exif\0\0", then a TIFF header (II or MM
 * byte order, 42, offset of IFD0) and IFD0's entries; tag 0x0112 (SHORT) is the
 * orientation. Every offset is bounds-checked; anything unreadable means "upright". */
#include <string.h>

#include "model/image.h"

static unsigned rd16(const uint8_t *p, int le) {
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int ue_exif_orientation(const uint8_t *app1, size_t size) {
    if (size < 6 + 8 || memcmp(app1, "Exif\0\0", 6) != 0) return 1;
    const uint8_t *t = app1 + 6;
    size_t n = size - 6;
    int le;
    if (t[0] == 'I' && t[1] == 'I') le = 1;
    else if (t[0] == 'M' && t[1] == 'M') le = 0;
    else return 1;
    if (rd16(t + 2, le) != 42) return 1;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd < 8 || ifd > n - 2) return 1;
    unsigned count = rd16(t + ifd, le);
    size_t entries = (size_t)ifd + 2;
    for (unsigned i = 0; i < count; i++) {
        size_t e = entries + (size_t)i * 12;
        if (e > n || n - e < 12) return 1;
        if (rd16(t + e, le) != 0x0112) continue;
        unsigned type = rd16(t + e + 2, le);
        uint32_t cnt = rd32(t + e + 4, le);
        if (type != 3 || cnt < 1) return 1; /* SHORT, stored in the value field */
        unsigned v = rd16(t + e + 8, le);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}
