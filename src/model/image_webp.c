/* WebP reader on libwebp: still images (lossy, lossless, with or without alpha) decoded
 * straight into our RGBA buffer after the header's size is checked. Animated WebP is
 * refused with a clear message rather than guessed at. */
#include <stdlib.h>

#include <webp/decode.h>

#include "model/image.h"

static const char *status_name(VP8StatusCode s) {
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "corrupt bitstream";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "the file is truncated";
    default: return "unknown error";
    }
}

ue_status ue_decode_webp(const uint8_t *data, size_t size, const ue_image_limits *lim,
                         ue_rgba *out, ue_error *err) {
    WebPBitstreamFeatures f;
    VP8StatusCode s = WebPGetFeatures(data, size, &f);
    if (s != VP8_STATUS_OK) return ue_fail(err, UE_ERR_FORMAT, "WebP: %s", status_name(s));
    if (f.has_animation)
        return ue_fail(err, UE_ERR_UNSUPPORTED, "WebP: animated images are not supported");
    ue_status st = ue_rgba_alloc(out, f.width, f.height, lim, "WebP", err);
    if (st != UE_OK) return st;
    size_t stride = (size_t)out->width * 4, bytes = stride * (size_t)out->height;
    if (!WebPDecodeRGBAInto(data, size, out->px, bytes, (int)stride)) {
        free(out->px);
        out->px = NULL;
        return ue_fail(err, UE_ERR_FORMAT, "WebP: the image data is corrupt or truncated");
    }
    out->has_alpha = f.has_alpha;
    return UE_OK;
}
