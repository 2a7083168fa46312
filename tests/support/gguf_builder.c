/* In-test GGUF writer (see gguf_builder.h). Keeps the metadata as serialised bytes and
 * the tensors as a list, then lays out header, metadata, infos, padding and data. */
#include "gguf_builder.h"

#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

typedef struct btensor {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[8];
    uint8_t *data;
    size_t size;
    int has_offset;
    uint64_t offset;
} btensor;

struct gguf_builder {
    uint32_t magic, version, alignment;
    int has_n_tensors, has_n_kv, pad_end;
    uint64_t n_tensors, n_kv;
    uint64_t kv_count;
    buf kv;
    btensor *tensors;
    int n_t, cap_t;
};

static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) fail_msg("gguf_builder: out of memory");
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}

size_t gguf_put_u32(uint8_t *dst, uint32_t v) {
    for (int i = 0; i < 4; i++) dst[i] = (uint8_t)(v >> (8 * i));
    return 4;
}

size_t gguf_put_u64(uint8_t *dst, uint64_t v) {
    for (int i = 0; i < 8; i++) dst[i] = (uint8_t)(v >> (8 * i));
    return 8;
}

size_t gguf_put_str(uint8_t *dst, const char *s) {
    size_t n = strlen(s);
    gguf_put_u64(dst, n);
    memcpy(dst + 8, s, n);
    return 8 + n;
}

static void put_u32(buf *b, uint32_t v) {
    uint8_t t[4];
    put(b, t, gguf_put_u32(t, v));
}

static void put_u64(buf *b, uint64_t v) {
    uint8_t t[8];
    put(b, t, gguf_put_u64(t, v));
}

static void put_str(buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

gguf_builder *gguf_builder_create(void) {
    gguf_builder *b = calloc(1, sizeof *b);
    if (!b) fail_msg("gguf_builder: out of memory");
    b->magic = 0x46554747u;
    b->version = 3;
    b->alignment = 32;
    return b;
}

void gguf_builder_destroy(gguf_builder *b) {
    if (!b) return;
    for (int i = 0; i < b->n_t; i++) {
        free(b->tensors[i].name);
        free(b->tensors[i].data);
    }
    free(b->tensors);
    free(b->kv.p);
    free(b);
}

void gguf_builder_set_magic(gguf_builder *b, uint32_t magic) { b->magic = magic; }
void gguf_builder_set_version(gguf_builder *b, uint32_t version) { b->version = version; }
void gguf_builder_set_alignment(gguf_builder *b, uint32_t a) { b->alignment = a; }
void gguf_builder_set_pad_end(gguf_builder *b, int on) { b->pad_end = on; }

void gguf_builder_set_n_tensors(gguf_builder *b, uint64_t n) {
    b->has_n_tensors = 1;
    b->n_tensors = n;
}

void gguf_builder_set_n_kv(gguf_builder *b, uint64_t n) {
    b->has_n_kv = 1;
    b->n_kv = n;
}

void gguf_builder_add_raw(gguf_builder *b, const char *key, uint32_t type, const void *value,
                          size_t n) {
    put_str(&b->kv, key);
    put_u32(&b->kv, type);
    put(&b->kv, value, n);
    b->kv_count++;
}

void gguf_builder_add_raw_kv(gguf_builder *b, const void *bytes, size_t n) {
    put(&b->kv, bytes, n);
    b->kv_count++;
}

static void add_le(gguf_builder *b, const char *key, uint32_t type, uint64_t v, size_t n) {
    uint8_t t[8];
    gguf_put_u64(t, v);
    gguf_builder_add_raw(b, key, type, t, n);
}

void gguf_builder_add_u8(gguf_builder *b, const char *k, uint8_t v) { add_le(b, k, 0, v, 1); }
void gguf_builder_add_i8(gguf_builder *b, const char *k, int8_t v) {
    add_le(b, k, 1, (uint8_t)v, 1);
}
void gguf_builder_add_u16(gguf_builder *b, const char *k, uint16_t v) { add_le(b, k, 2, v, 2); }
void gguf_builder_add_i16(gguf_builder *b, const char *k, int16_t v) {
    add_le(b, k, 3, (uint16_t)v, 2);
}
void gguf_builder_add_u32(gguf_builder *b, const char *k, uint32_t v) { add_le(b, k, 4, v, 4); }
void gguf_builder_add_i32(gguf_builder *b, const char *k, int32_t v) {
    add_le(b, k, 5, (uint32_t)v, 4);
}
void gguf_builder_add_bool(gguf_builder *b, const char *k, int v) { add_le(b, k, 7, v != 0, 1); }
void gguf_builder_add_u64(gguf_builder *b, const char *k, uint64_t v) { add_le(b, k, 10, v, 8); }
void gguf_builder_add_i64(gguf_builder *b, const char *k, int64_t v) {
    add_le(b, k, 11, (uint64_t)v, 8);
}

void gguf_builder_add_f32(gguf_builder *b, const char *k, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    add_le(b, k, 6, u, 4);
}

void gguf_builder_add_f64(gguf_builder *b, const char *k, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    add_le(b, k, 12, u, 8);
}

void gguf_builder_add_str(gguf_builder *b, const char *key, const char *s) {
    put_str(&b->kv, key);
    put_u32(&b->kv, 8);
    put_str(&b->kv, s);
    b->kv_count++;
}

static size_t elem_size(uint32_t type) {
    switch (type) {
    case 0:
    case 1:
    case 7: return 1;
    case 2:
    case 3: return 2;
    case 4:
    case 5:
    case 6: return 4;
    case 10:
    case 11:
    case 12: return 8;
    default: fail_msg("gguf_builder_add_arr: type %u has no fixed size", type);
    }
    return 0;
}

void gguf_builder_add_arr(gguf_builder *b, const char *key, uint32_t elem_type, const void *data,
                          uint64_t n) {
    put_str(&b->kv, key);
    put_u32(&b->kv, 9);
    put_u32(&b->kv, elem_type);
    put_u64(&b->kv, n);
    put(&b->kv, data, (size_t)n * elem_size(elem_type)); /* host is little-endian */
    b->kv_count++;
}

void gguf_builder_add_arr_str(gguf_builder *b, const char *key, const char *const *strs,
                              uint64_t n) {
    put_str(&b->kv, key);
    put_u32(&b->kv, 9);
    put_u32(&b->kv, 8);
    put_u64(&b->kv, n);
    for (uint64_t i = 0; i < n; i++) put_str(&b->kv, strs[i]);
    b->kv_count++;
}

int gguf_builder_add_tensor(gguf_builder *b, const char *name, uint32_t type, uint32_t n_dims,
                            const int64_t *ne, const void *data, size_t data_size) {
    if (n_dims > 8) fail_msg("gguf_builder_add_tensor: n_dims %u > 8", n_dims);
    if (b->n_t == b->cap_t) {
        b->cap_t = b->cap_t ? 2 * b->cap_t : 8;
        b->tensors = realloc(b->tensors, (size_t)b->cap_t * sizeof *b->tensors);
        if (!b->tensors) fail_msg("gguf_builder: out of memory");
    }
    btensor *t = &b->tensors[b->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t i = 0; i < n_dims; i++) t->ne[i] = ne[i];
    t->size = data_size;
    t->data = malloc(data_size ? data_size : 1);
    if (!t->name || !t->data) fail_msg("gguf_builder: out of memory");
    for (size_t i = 0; i < data_size; i++)
        t->data[i] = data ? ((const uint8_t *)data)[i] : (uint8_t)(i * 7 + b->n_t);
    return b->n_t++;
}

void gguf_builder_set_tensor_offset(gguf_builder *b, int index, uint64_t offset) {
    b->tensors[index].has_offset = 1;
    b->tensors[index].offset = offset;
}

/* Tensors given an offset past this (to test bad offsets) get no data bytes written;
 * tensors placed by the builder always get theirs, however large the file. */
#define PLACE_LIMIT ((uint64_t)1 << 26)

static size_t align_up(size_t n, uint32_t a) { return a ? (n + a - 1) / a * a : n; }

void gguf_builder_finish(gguf_builder *b, uint8_t **bytes, size_t *size) {
    buf out = {0};
    put_u32(&out, b->magic);
    put_u32(&out, b->version);
    put_u64(&out, b->has_n_tensors ? b->n_tensors : (uint64_t)b->n_t);
    put_u64(&out, b->has_n_kv ? b->n_kv : b->kv_count);
    put(&out, b->kv.p, b->kv.n);

    size_t running = 0, data_end = 0;
    for (int i = 0; i < b->n_t; i++) {
        btensor *t = &b->tensors[i];
        put_str(&out, t->name);
        put_u32(&out, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(&out, (uint64_t)t->ne[d]);
        put_u32(&out, t->type);
        if (!t->has_offset) t->offset = running;
        put_u64(&out, t->offset);
        running = align_up(running + t->size, b->alignment);
        if ((!t->has_offset || t->offset <= PLACE_LIMIT) && t->offset + t->size > data_end)
            data_end = (size_t)(t->offset + t->size);
    }
    size_t data_start = align_up(out.n, b->alignment);
    size_t total = data_start + data_end;
    if (b->pad_end) total = align_up(total, b->alignment);
    if (b->n_t == 0 && !b->pad_end) total = out.n;
    uint8_t *p = calloc(1, total ? total : 1);
    if (!p) fail_msg("gguf_builder: out of memory");
    memcpy(p, out.p, out.n);
    for (int i = 0; i < b->n_t; i++)
        if (!b->tensors[i].has_offset || b->tensors[i].offset <= PLACE_LIMIT)
            memcpy(p + data_start + b->tensors[i].offset, b->tensors[i].data, b->tensors[i].size);
    free(out.p);
    *bytes = p;
    *size = total;
}
