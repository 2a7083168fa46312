/* Error reporting used everywhere below the public API: a status code plus one line that
 * names what was wrong, expected vs actual. */
#ifndef UE_CORE_ERROR_H
#define UE_CORE_ERROR_H

#include "unicorn.h"

#if defined(__GNUC__)
#define UE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define UE_PRINTF(a, b)
#endif

/* Fills err (may be NULL) and returns code, so callers write `return ue_fail(err, ...)`. */
ue_status ue_fail(ue_error *err, ue_status code, const char *fmt, ...) UE_PRINTF(3, 4);
/* Prepends "prefix: " to an error already set (to add the file name, say). */
void ue_error_prefix(ue_error *err, const char *fmt, ...) UE_PRINTF(2, 3);
void ue_error_clear(ue_error *err);

#endif
