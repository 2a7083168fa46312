/* Status names and the error-message helpers. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ue_status_str(ue_status status) {
    switch (status) {
    case UE_OK: return "ok";
    case UE_ERR_ARGUMENT: return "invalid argument";
    case UE_ERR_IO: return "I/O error";
    case UE_ERR_FORMAT: return "format error";
    case UE_ERR_UNSUPPORTED: return "unsupported";
    case UE_ERR_NOMEM: return "out of memory";
    case UE_ERR_CONTEXT_FULL: return "context full";
    case UE_ERR_INTERRUPTED: return "interrupted";
    case UE_ERR_DEVICE: return "device error";
    }
    return "unknown status";
}

ue_status ue_fail(ue_error *err, ue_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void ue_error_prefix(ue_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    /* Whatever does not fit is cut off at the end of the message. */
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3, old_len = strnlen(old, sizeof old - 1);
    if (old_len > room) old_len = room;
    memcpy(err->msg + n + 2, old, old_len);
    err->msg[n + 2 + old_len] = '\0';
}

void ue_error_clear(ue_error *err) {
    if (!err) return;
    err->code = UE_OK;
    err->msg[0] = '\0';
}
