/* Overflow-checked size arithmetic for readers of untrusted input. Each returns 0 on
 * overflow and leaves *out untouched, 1 on success. */
#ifndef UE_CORE_CHECKED_H
#define UE_CORE_CHECKED_H

#include <stddef.h>
#include <stdint.h>

static inline int ue_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_add_overflow(a, b, out) ? 0 : 1;
}
static inline int ue_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_mul_overflow(a, b, out) ? 0 : 1;
}
static inline int ue_add_size(size_t a, size_t b, size_t *out) {
    return __builtin_add_overflow(a, b, out) ? 0 : 1;
}
static inline int ue_mul_size(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out) ? 0 : 1;
}

#endif
