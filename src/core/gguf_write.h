/* Streaming GGUF v3 writer. Metadata and tensor infos are collected in memory (small: a
 * 262k vocabulary is a few MB); then ue_gguf_writer_begin writes them to a FILE*, and the
 * caller streams tensor data in tensor order, in chunks of any size, so a file of any size
 * is written without holding its data. Every tensor is padded to the alignment, offsets
 * are the running sum of padded sizes (as llama.cpp requires). Layout: gemma3.md 4.1.
 * Host byte order must be little-endian (as for the reader). */
#ifndef UE_CORE_GGUF_WRITE_H
#define UE_CORE_GGUF_WRITE_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "core/gguf.h"
#include "core/types.h"

typedef struct ue_gguf_writer ue_gguf_writer;

/* alignment: a power of two (0: the default 32). Any other value than 32 is written as
 * general.alignment (u32) first; adding that key by hand is an error. */
ue_status ue_gguf_writer_create(uint32_t alignment, ue_gguf_writer **out, ue_error *err);
void ue_gguf_writer_destroy(ue_gguf_writer *w); /* NULL is a no-op; never closes the FILE */

/* ---- metadata (before begin; keys must be unique and non-empty) ---- */
/* A scalar of any type but STRING / ARRAY; value points to its little-endian bytes
 * (bool: one byte, 0 or 1). */
ue_status ue_gguf_writer_add_scalar(ue_gguf_writer *w, const char *key, ue_gguf_vtype type,
                                    const void *value, ue_error *err);
ue_status ue_gguf_writer_add_u32(ue_gguf_writer *w, const char *key, uint32_t v, ue_error *err);
ue_status ue_gguf_writer_add_f32(ue_gguf_writer *w, const char *key, float v, ue_error *err);
ue_status ue_gguf_writer_add_bool(ue_gguf_writer *w, const char *key, int v, ue_error *err);
ue_status ue_gguf_writer_add_str(ue_gguf_writer *w, const char *key, const char *s,
                                 ue_error *err);
/* n packed elements of a scalar type (as add_scalar), copied. */
ue_status ue_gguf_writer_add_array(ue_gguf_writer *w, const char *key, ue_gguf_vtype elem_type,
                                   const void *data, uint64_t n, ue_error *err);
/* n strings; lens[i] bytes of strs[i] (lens NULL: NUL-terminated), copied. */
ue_status ue_gguf_writer_add_str_array(ue_gguf_writer *w, const char *key,
                                       const char *const *strs, const uint64_t *lens, uint64_t n,
                                       ue_error *err);

/* ---- tensors (before begin; data is written later in this order) ---- */
/* name: 1..63 bytes, unique; n_dims 1..4; ne[d] >= 1; ne[0] a multiple of the type's
 * block size. */
ue_status ue_gguf_writer_add_tensor(ue_gguf_writer *w, const char *name, ue_type type,
                                    uint32_t n_dims, const int64_t *ne, ue_error *err);
uint64_t ue_gguf_writer_n_tensors(const ue_gguf_writer *w);
/* Bytes of tensor i's data (without padding). */
uint64_t ue_gguf_writer_tensor_bytes(const ue_gguf_writer *w, uint64_t i);
/* Size of the whole file as it will be written (valid once every tensor is added). */
uint64_t ue_gguf_writer_file_size(const ue_gguf_writer *w);

/* ---- writing ---- */
/* Writes header, metadata, tensor infos and padding to f (borrowed until end). */
ue_status ue_gguf_writer_begin(ue_gguf_writer *w, FILE *f, ue_error *err);
/* The next n bytes of tensor data; a chunk may span tensors (padding goes in between).
 * More bytes than the tensors hold is an error. */
ue_status ue_gguf_writer_write(ue_gguf_writer *w, const void *data, size_t n, ue_error *err);
/* Checks that every tensor got all its bytes and flushes f. */
ue_status ue_gguf_writer_end(ue_gguf_writer *w, ue_error *err);

#endif
