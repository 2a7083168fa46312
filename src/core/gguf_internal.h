/* Private layout of ue_gguf, shared by the parser (gguf.c) and the accessors and typed
 * getters (gguf_get.c). Nothing outside src/core/gguf*.c includes this. */
#ifndef UE_CORE_GGUF_INTERNAL_H
#define UE_CORE_GGUF_INTERNAL_H

#include "core/gguf.h"

typedef struct gguf_kv {
    ue_gguf_str key;
    ue_gguf_vtype type;
    ue_gguf_vtype arr_type; /* arrays only */
    uint64_t arr_len;       /* arrays only */
    const uint8_t *value;   /* scalar bytes, string bytes, or the first array element */
    uint64_t str_len;       /* string scalars only */
    uint64_t *str_offs;     /* string arrays: file offset of the u64 length of every
                               GGUF_STR_STRIDE-th element (the rest are found by walking) */
} gguf_kv;

/* One kept offset per 16 strings: a 262k-token vocabulary needs 128 KiB of index, not
 * 2 MiB, and a lookup walks at most 15 length fields. */
enum { GGUF_STR_STRIDE = 16 };

struct ue_gguf {
    const uint8_t *base; /* whole file */
    uint64_t size;
    void *map; /* our mapping (NULL when the bytes are borrowed) */
    size_t map_size;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    uint64_t n_kv;
    uint64_t n_tensors;
    gguf_kv *kvs;
    gguf_kv **kv_sorted; /* by key bytes, for binary search */
    ue_gguf_tensor *tensors;
    ue_gguf_tensor **tensor_sorted; /* by name */
};

/* Little-endian loads from unaligned bytes (the format is little-endian on every host). */
static inline uint16_t gguf_rd_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t gguf_rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t gguf_rd_u64(const uint8_t *p) {
    return (uint64_t)gguf_rd_u32(p) | (uint64_t)gguf_rd_u32(p + 4) << 32;
}

/* Orders keys by their bytes, shorter first on a common prefix. */
int gguf_str_cmp(const char *a, uint64_t alen, const char *b, uint64_t blen);
/* Writes a printable, quoted-free rendering of name (non-printable bytes as \xNN, cut at
 * about 80 bytes with "...") for error messages. */
void gguf_fmt_name(char *out, size_t cap, const char *name, uint64_t len);

#endif
