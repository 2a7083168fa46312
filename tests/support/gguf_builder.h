/* In-test GGUF writer: builds small valid files in memory (v3 layout, padding to the
 * alignment) and can override raw fields so tests craft corrupt files. Layout per
 * shared/docs/gemma3.md 4.1. All functions abort the test (cmocka fail) on misuse or OOM. */
#ifndef UE_TEST_GGUF_BUILDER_H
#define UE_TEST_GGUF_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct gguf_builder gguf_builder;

/* Version 3, alignment 32 (padding only: write general.alignment with add_u32 yourself). */
gguf_builder *gguf_builder_create(void);
void gguf_builder_destroy(gguf_builder *b); /* NULL is a no-op */

/* Raw header fields. */
void gguf_builder_set_magic(gguf_builder *b, uint32_t magic);
void gguf_builder_set_version(gguf_builder *b, uint32_t version);
/* Alignment used to pad the infos and place tensor data (default 32). */
void gguf_builder_set_alignment(gguf_builder *b, uint32_t alignment);
/* Replace the counts written in the header (default: the numbers actually added). */
void gguf_builder_set_n_tensors(gguf_builder *b, uint64_t n);
void gguf_builder_set_n_kv(gguf_builder *b, uint64_t n);
/* Pad the file end to the alignment after the last tensor (default off). */
void gguf_builder_set_pad_end(gguf_builder *b, int on);

/* ---- metadata (value type ids as ue_gguf_vtype: 0 u8 .. 12 f64) ---- */
void gguf_builder_add_u8(gguf_builder *b, const char *key, uint8_t v);
void gguf_builder_add_i8(gguf_builder *b, const char *key, int8_t v);
void gguf_builder_add_u16(gguf_builder *b, const char *key, uint16_t v);
void gguf_builder_add_i16(gguf_builder *b, const char *key, int16_t v);
void gguf_builder_add_u32(gguf_builder *b, const char *key, uint32_t v);
void gguf_builder_add_i32(gguf_builder *b, const char *key, int32_t v);
void gguf_builder_add_f32(gguf_builder *b, const char *key, float v);
void gguf_builder_add_bool(gguf_builder *b, const char *key, int v);
void gguf_builder_add_u64(gguf_builder *b, const char *key, uint64_t v);
void gguf_builder_add_i64(gguf_builder *b, const char *key, int64_t v);
void gguf_builder_add_f64(gguf_builder *b, const char *key, double v);
void gguf_builder_add_str(gguf_builder *b, const char *key, const char *s);
/* Packed array of n elements of a scalar type (elem_size bytes each, little-endian). */
void gguf_builder_add_arr(gguf_builder *b, const char *key, uint32_t elem_type, const void *data,
                          uint64_t n);
void gguf_builder_add_arr_str(gguf_builder *b, const char *key, const char *const *strs,
                              uint64_t n);
/* Any value: key, then the type id as given, then `value` bytes verbatim. */
void gguf_builder_add_raw(gguf_builder *b, const char *key, uint32_t type, const void *value,
                          size_t n);
/* Any key-value bytes verbatim (counts as one pair). */
void gguf_builder_add_raw_kv(gguf_builder *b, const void *bytes, size_t n);

/* ---- tensors ---- */
/* Adds a tensor info with n_dims dims (0..8, written as given) and data_size bytes of data
 * (copied; NULL: a byte pattern). Returns its index. The offset defaults to the running
 * sum of aligned sizes. */
int gguf_builder_add_tensor(gguf_builder *b, const char *name, uint32_t type, uint32_t n_dims,
                            const int64_t *ne, const void *data, size_t data_size);
void gguf_builder_set_tensor_offset(gguf_builder *b, int index, uint64_t offset);

/* Serialises everything into a malloc'd buffer (caller frees). */
void gguf_builder_finish(gguf_builder *b, uint8_t **bytes, size_t *size);

/* Little helpers for composing raw values. */
size_t gguf_put_u32(uint8_t *dst, uint32_t v);
size_t gguf_put_u64(uint8_t *dst, uint64_t v);
size_t gguf_put_str(uint8_t *dst, const char *s); /* u64 length + bytes */

#endif
