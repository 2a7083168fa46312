/* GGUF reader (versions 2 and 3): memory-maps the file, validates every field with
 * checked arithmetic and exposes metadata and tensors in place. Layout per
 * shared/docs/gemma3.md section 4.1. A bad file gives one error line naming the field,
 * expected vs actual; allocations are bounded by a small multiple of the file size (every
 * count is checked against the bytes left first). Arrays of arrays are rejected
 * (UE_ERR_UNSUPPORTED); tensor dims must be >= 1. */
#ifndef UE_CORE_GGUF_H
#define UE_CORE_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/types.h"

typedef enum ue_gguf_vtype {
    UE_GGUF_U8 = 0,
    UE_GGUF_I8 = 1,
    UE_GGUF_U16 = 2,
    UE_GGUF_I16 = 3,
    UE_GGUF_U32 = 4,
    UE_GGUF_I32 = 5,
    UE_GGUF_F32 = 6,
    UE_GGUF_BOOL = 7,
    UE_GGUF_STRING = 8,
    UE_GGUF_ARRAY = 9,
    UE_GGUF_U64 = 10,
    UE_GGUF_I64 = 11,
    UE_GGUF_F64 = 12,
    UE_GGUF_VTYPE_COUNT = 13
} ue_gguf_vtype;

typedef struct ue_gguf_str {
    const char *ptr; /* points into the mapped file: NOT NUL-terminated */
    uint64_t len;
} ue_gguf_str;

typedef struct ue_gguf_tensor {
    char name[64];        /* NUL-terminated copy */
    uint32_t n_dims;      /* 1..4 */
    int64_t ne[4];        /* ne[0] is the contiguous dimension; unused dims are 1 */
    ue_type type;
    uint64_t offset;      /* relative to the data section */
    uint64_t n_elements;
    uint64_t n_bytes;
    const void *data;     /* in the mapping */
} ue_gguf_tensor;

typedef struct ue_gguf ue_gguf;

/* Opens and validates a file. On failure *out is NULL and err names the problem. */
ue_status ue_gguf_open(const char *path, ue_gguf **out, ue_error *err);
/* Same over bytes in memory (borrowed: must outlive the ue_gguf). For fuzzing and tests. */
ue_status ue_gguf_open_memory(const void *data, size_t size, ue_gguf **out, ue_error *err);
void ue_gguf_close(ue_gguf *gguf);
/* Gives back this process's resident copy of the pages before the tensor data (header,
 * metadata, tensor infos) of a file mapping, once what is needed from them has been copied
 * out (tokenizer, hyperparameters): the page cache keeps them and a later read maps them
 * again. Nothing for a reader over caller's memory. */
void ue_gguf_release_metadata(const ue_gguf *gguf);

uint32_t ue_gguf_version(const ue_gguf *gguf);
uint64_t ue_gguf_file_size(const ue_gguf *gguf);
uint32_t ue_gguf_alignment(const ue_gguf *gguf);
uint64_t ue_gguf_data_offset(const ue_gguf *gguf); /* start of the tensor data section */

/* ---- metadata ---- */
uint64_t ue_gguf_n_kv(const ue_gguf *gguf);
/* Index of a key, or -1 when absent. */
int64_t ue_gguf_find_key(const ue_gguf *gguf, const char *key);
ue_gguf_str ue_gguf_key(const ue_gguf *gguf, uint64_t index);
ue_gguf_vtype ue_gguf_kv_type(const ue_gguf *gguf, uint64_t index);
/* For arrays: element type and count. */
ue_gguf_vtype ue_gguf_arr_type(const ue_gguf *gguf, uint64_t index);
uint64_t ue_gguf_arr_len(const ue_gguf *gguf, uint64_t index);
/* Packed elements of a non-string array (little-endian, in the mapping; may be unaligned,
 * so read with memcpy). */
const void *ue_gguf_arr_data(const ue_gguf *gguf, uint64_t index);
/* Element i of a string array. */
ue_gguf_str ue_gguf_arr_str(const ue_gguf *gguf, uint64_t index, uint64_t i);
/* Scalar value of a key as raw bytes / string (for printing). */
const void *ue_gguf_kv_data(const ue_gguf *gguf, uint64_t index);
ue_gguf_str ue_gguf_kv_str(const ue_gguf *gguf, uint64_t index);

/* Typed getters by key. Absent key: returns UE_ERR_FORMAT with "missing key" when
 * required, else leaves *out unchanged and returns UE_OK. A present key of a type that
 * cannot represent the value exactly (a negative i32 asked as u32, a string asked as a
 * number) is UE_ERR_FORMAT naming the key, expected vs actual type. Integer getters
 * accept any integer type whose value fits. */
ue_status ue_gguf_get_u32(const ue_gguf *gguf, const char *key, int required, uint32_t *out,
                          ue_error *err);
ue_status ue_gguf_get_f32(const ue_gguf *gguf, const char *key, int required, float *out,
                          ue_error *err);
ue_status ue_gguf_get_bool(const ue_gguf *gguf, const char *key, int required, int *out,
                           ue_error *err);
/* The string is copied into out (NUL-terminated, truncated to cap - 1). */
ue_status ue_gguf_get_str(const ue_gguf *gguf, const char *key, int required, char *out,
                          size_t cap, ue_error *err);

/* ---- tensors ---- */
uint64_t ue_gguf_n_tensors(const ue_gguf *gguf);
const ue_gguf_tensor *ue_gguf_tensor_at(const ue_gguf *gguf, uint64_t index);
const ue_gguf_tensor *ue_gguf_find_tensor(const ue_gguf *gguf, const char *name);

const char *ue_gguf_vtype_name(ue_gguf_vtype type);

#endif
