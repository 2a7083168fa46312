/* Streaming GGUF v3 writer (see gguf_write.h). Key-value pairs are serialised into one
 * growing byte buffer as they are added; tensor infos are kept as structs until begin,
 * when their offsets are final. Layout: shared/docs/gemma3.md section 4.1. */
#include "core/gguf_write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_VERSION 3u
#define DEFAULT_ALIGNMENT 32u
#define NAME_MAX_BYTES 63

typedef struct tensor_info {
    char name[NAME_MAX_BYTES + 1];
    uint32_t n_dims;
    int64_t ne[4];
    ue_type type;
    uint64_t offset, n_bytes;
} tensor_info;

struct ue_gguf_writer {
    uint32_t alignment;
    uint8_t *kv;       /* serialised key-value pairs */
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    char **keys;       /* for the duplicate check */
    size_t keys_cap;
    tensor_info *tensors;
    uint64_t n_tensors;
    size_t tensors_cap;
    uint64_t data_bytes; /* padded sum of tensor sizes */
    uint64_t raw_left;   /* unpadded tensor bytes not yet written */
    FILE *f;             /* set by begin */
    uint64_t cur;        /* tensor being written */
    uint64_t cur_written;
    int failed;          /* a write failed: the file is incomplete */
};

static uint64_t pad_to(uint64_t n, uint32_t a) { return (n + a - 1) & ~((uint64_t)a - 1); }

static size_t scalar_size(ue_gguf_vtype t) {
    switch (t) {
    case UE_GGUF_U8:
    case UE_GGUF_I8:
    case UE_GGUF_BOOL: return 1;
    case UE_GGUF_U16:
    case UE_GGUF_I16: return 2;
    case UE_GGUF_U32:
    case UE_GGUF_I32:
    case UE_GGUF_F32: return 4;
    case UE_GGUF_U64:
    case UE_GGUF_I64:
    case UE_GGUF_F64: return 8;
    default: return 0; /* STRING, ARRAY, unknown */
    }
}

static ue_status add_scalar_kv(ue_gguf_writer *w, const char *key, ue_gguf_vtype type,
                               const void *value, ue_error *err);

ue_status ue_gguf_writer_create(uint32_t alignment, ue_gguf_writer **out, ue_error *err) {
    *out = NULL;
    if (alignment == 0) alignment = DEFAULT_ALIGNMENT;
    if (alignment & (alignment - 1))
        return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: alignment %u is not a power of two",
                       alignment);
    ue_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return ue_fail(err, UE_ERR_NOMEM, "gguf writer: out of memory");
    w->alignment = alignment;
    if (alignment != DEFAULT_ALIGNMENT) {
        ue_status st = add_scalar_kv(w, "general.alignment", UE_GGUF_U32, &alignment, err);
        if (st != UE_OK) {
            ue_gguf_writer_destroy(w);
            return st;
        }
    }
    *out = w;
    return UE_OK;
}

void ue_gguf_writer_destroy(ue_gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    free(w->kv);
    free(w->tensors);
    free(w);
}

/* Room for n more bytes in the key-value buffer. */
static ue_status kv_reserve(ue_gguf_writer *w, uint64_t n, ue_error *err) {
    size_t need;
    if (n > SIZE_MAX || !ue_add_size(w->kv_len, (size_t)n, &need))
        return ue_fail(err, UE_ERR_NOMEM, "gguf writer: metadata of %llu more bytes is too large",
                       (unsigned long long)n);
    if (need <= w->kv_cap) return UE_OK;
    size_t cap = w->kv_cap ? w->kv_cap : 4096;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(w->kv, cap);
    if (!p) return ue_fail(err, UE_ERR_NOMEM, "gguf writer: out of memory for %zu bytes", cap);
    w->kv = p;
    w->kv_cap = cap;
    return UE_OK;
}

static void kv_put(ue_gguf_writer *w, const void *p, size_t n) {
    if (n) memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}

static void kv_put_u32(ue_gguf_writer *w, uint32_t v) { kv_put(w, &v, sizeof v); }
static void kv_put_u64(ue_gguf_writer *w, uint64_t v) { kv_put(w, &v, sizeof v); }

/* Validates the key and writes it with the value type; reserves extra bytes for the value. */
static ue_status start_kv(ue_gguf_writer *w, const char *key, ue_gguf_vtype type, uint64_t extra,
                          ue_error *err) {
    if (w->f) return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: key '%s' added after begin", key);
    size_t len = key ? strlen(key) : 0;
    if (len == 0) return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: empty metadata key");
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key))
            return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: metadata key '%s' added twice", key);
    if (w->n_kv == w->keys_cap) {
        size_t cap = w->keys_cap ? w->keys_cap * 2 : 32;
        char **k = realloc(w->keys, cap * sizeof *k);
        if (!k) return ue_fail(err, UE_ERR_NOMEM, "gguf writer: out of memory for keys");
        w->keys = k;
        w->keys_cap = cap;
    }
    uint64_t total;
    if (!ue_add_u64(12 + (uint64_t)len, extra, &total))
        return ue_fail(err, UE_ERR_NOMEM, "gguf writer: value of key '%s' is too large", key);
    ue_status st = kv_reserve(w, total, err);
    if (st != UE_OK) return st;
    char *copy = malloc(len + 1);
    if (!copy) return ue_fail(err, UE_ERR_NOMEM, "gguf writer: out of memory for keys");
    memcpy(copy, key, len + 1);
    w->keys[w->n_kv++] = copy;
    kv_put_u64(w, len);
    kv_put(w, key, len);
    kv_put_u32(w, (uint32_t)type);
    return UE_OK;
}

static ue_status add_scalar_kv(ue_gguf_writer *w, const char *key, ue_gguf_vtype type,
                               const void *value, ue_error *err) {
    size_t size = scalar_size(type);
    if (!size)
        return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: key '%s': value type %d is not a scalar",
                       key ? key : "", (int)type);
    if (type == UE_GGUF_BOOL && *(const uint8_t *)value > 1)
        return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: key '%s': bool value %u, expected 0 or 1",
                       key ? key : "", *(const uint8_t *)value);
    ue_status st = start_kv(w, key, type, size, err);
    if (st == UE_OK) kv_put(w, value, size);
    return st;
}

ue_status ue_gguf_writer_add_scalar(ue_gguf_writer *w, const char *key, ue_gguf_vtype type,
                                    const void *value, ue_error *err) {
    if (key && !strcmp(key, "general.alignment"))
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "gguf writer: general.alignment comes from the writer's alignment, not a key");
    return add_scalar_kv(w, key, type, value, err);
}

ue_status ue_gguf_writer_add_u32(ue_gguf_writer *w, const char *key, uint32_t v, ue_error *err) {
    return ue_gguf_writer_add_scalar(w, key, UE_GGUF_U32, &v, err);
}

ue_status ue_gguf_writer_add_f32(ue_gguf_writer *w, const char *key, float v, ue_error *err) {
    return ue_gguf_writer_add_scalar(w, key, UE_GGUF_F32, &v, err);
}

ue_status ue_gguf_writer_add_bool(ue_gguf_writer *w, const char *key, int v, ue_error *err) {
    uint8_t b = v ? 1 : 0;
    return ue_gguf_writer_add_scalar(w, key, UE_GGUF_BOOL, &b, err);
}

ue_status ue_gguf_writer_add_str(ue_gguf_writer *w, const char *key, const char *s,
                                 ue_error *err) {
    uint64_t len = strlen(s);
    ue_status st = start_kv(w, key, UE_GGUF_STRING, 8 + len, err);
    if (st != UE_OK) return st;
    kv_put_u64(w, len);
    kv_put(w, s, (size_t)len);
    return UE_OK;
}

ue_status ue_gguf_writer_add_array(ue_gguf_writer *w, const char *key, ue_gguf_vtype elem_type,
                                   const void *data, uint64_t n, ue_error *err) {
    size_t size = scalar_size(elem_type);
    if (!size)
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "gguf writer: key '%s': array element type %d is not a scalar (use "
                       "add_str_array for strings)", key ? key : "", (int)elem_type);
    uint64_t bytes;
    if (!ue_mul_u64(n, size, &bytes) || bytes > SIZE_MAX)
        return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: key '%s': array of %llu elements is too "
                       "large", key ? key : "", (unsigned long long)n);
    if (elem_type == UE_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)data)[i] > 1)
                return ue_fail(err, UE_ERR_ARGUMENT,
                               "gguf writer: key '%s': bool element %llu is %u, expected 0 or 1",
                               key ? key : "", (unsigned long long)i, ((const uint8_t *)data)[i]);
    ue_status st = start_kv(w, key, UE_GGUF_ARRAY, 12 + bytes, err);
    if (st != UE_OK) return st;
    kv_put_u32(w, (uint32_t)elem_type);
    kv_put_u64(w, n);
    kv_put(w, data, (size_t)bytes);
    return UE_OK;
}

ue_status ue_gguf_writer_add_str_array(ue_gguf_writer *w, const char *key,
                                       const char *const *strs, const uint64_t *lens, uint64_t n,
                                       ue_error *err) {
    uint64_t bytes = 12;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = lens ? lens[i] : strlen(strs[i]);
        if (!ue_add_u64(bytes, 8 + len, &bytes) || bytes > SIZE_MAX)
            return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: key '%s': string array is too large",
                           key ? key : "");
    }
    ue_status st = start_kv(w, key, UE_GGUF_ARRAY, bytes, err);
    if (st != UE_OK) return st;
    kv_put_u32(w, UE_GGUF_STRING);
    kv_put_u64(w, n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = lens ? lens[i] : strlen(strs[i]);
        kv_put_u64(w, len);
        kv_put(w, strs[i], (size_t)len);
    }
    return UE_OK;
}

ue_status ue_gguf_writer_add_tensor(ue_gguf_writer *w, const char *name, ue_type type,
                                    uint32_t n_dims, const int64_t *ne, ue_error *err) {
    if (w->f)
        return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: tensor '%s' added after begin", name);
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > NAME_MAX_BYTES)
        return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: tensor name '%s' is %zu bytes, expected "
                       "1..%d", name ? name : "", len, NAME_MAX_BYTES);
    const ue_type_traits *tr = ue_type_get((uint32_t)type);
    if (!tr)
        return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: tensor '%s': type %d is not a GGUF "
                       "tensor type", name, (int)type);
    if (n_dims < 1 || n_dims > 4)
        return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: tensor '%s': n_dims %u, expected 1..4",
                       name, n_dims);
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < n_dims; d++)
        if (ne[d] < 1 || !ue_mul_u64(n_el, (uint64_t)ne[d], &n_el) || n_el > (uint64_t)INT64_MAX)
            return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: tensor '%s': ne[%u] = %lld is not "
                           "a valid dimension", name, d, (long long)ne[d]);
    if ((uint64_t)ne[0] % tr->block_size)
        return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: tensor '%s': ne[0] = %lld is not a "
                       "multiple of the %s block size %u", name, (long long)ne[0], tr->name,
                       tr->block_size);
    uint64_t n_bytes, total;
    if (!ue_mul_u64(n_el / tr->block_size, tr->type_size, &n_bytes) ||
        n_bytes > UINT64_MAX - w->alignment ||
        !ue_add_u64(w->data_bytes, pad_to(n_bytes, w->alignment), &total))
        return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: tensor '%s': data size overflows", name);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: tensor '%s' added twice", name);
    if (w->n_tensors == w->tensors_cap) {
        size_t cap = w->tensors_cap ? w->tensors_cap * 2 : 64;
        tensor_info *t = realloc(w->tensors, cap * sizeof *t);
        if (!t) return ue_fail(err, UE_ERR_NOMEM, "gguf writer: out of memory for tensor infos");
        w->tensors = t;
        w->tensors_cap = cap;
    }
    tensor_info *t = &w->tensors[w->n_tensors++];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, len);
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < 4; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->type = type;
    t->offset = w->data_bytes;
    t->n_bytes = n_bytes;
    w->data_bytes = total;
    w->raw_left += n_bytes; /* <= data_bytes, which did not overflow */
    return UE_OK;
}

uint64_t ue_gguf_writer_n_tensors(const ue_gguf_writer *w) { return w->n_tensors; }

uint64_t ue_gguf_writer_tensor_bytes(const ue_gguf_writer *w, uint64_t i) {
    return i < w->n_tensors ? w->tensors[i].n_bytes : 0;
}

/* Bytes from the start of the file to the end of the tensor infos. */
static uint64_t header_bytes(const ue_gguf_writer *w) {
    uint64_t n = 4 + 4 + 8 + 8 + w->kv_len;
    for (uint64_t i = 0; i < w->n_tensors; i++)
        n += 8 + strlen(w->tensors[i].name) + 4 + 8 * (uint64_t)w->tensors[i].n_dims + 4 + 8;
    return n;
}

uint64_t ue_gguf_writer_file_size(const ue_gguf_writer *w) {
    return pad_to(header_bytes(w), w->alignment) + w->data_bytes;
}

static ue_status put(ue_gguf_writer *w, const void *p, size_t n, ue_error *err) {
    if (n && fwrite(p, 1, n, w->f) != n) {
        w->failed = 1;
        return ue_fail(err, UE_ERR_IO, "gguf writer: write of %zu bytes failed: %s", n,
                       strerror(errno));
    }
    return UE_OK;
}

static ue_status put_zeros(ue_gguf_writer *w, uint64_t n, ue_error *err) {
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        ue_status st = put(w, zeros, k, err);
        if (st != UE_OK) return st;
        n -= k;
    }
    return UE_OK;
}

ue_status ue_gguf_writer_begin(ue_gguf_writer *w, FILE *f, ue_error *err) {
    if (w->f) return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: begin called twice");
    if (!f) return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: no file to write to");
    w->f = f;
    uint32_t head[2] = {GGUF_MAGIC, GGUF_VERSION};
    uint64_t counts[2] = {w->n_tensors, w->n_kv};
    ue_status st;
    if ((st = put(w, head, sizeof head, err)) || (st = put(w, counts, sizeof counts, err)) ||
        (st = put(w, w->kv, w->kv_len, err)))
        return st;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const tensor_info *t = &w->tensors[i];
        uint64_t len = strlen(t->name);
        uint32_t type = (uint32_t)t->type;
        if ((st = put(w, &len, sizeof len, err)) || (st = put(w, t->name, (size_t)len, err)) ||
            (st = put(w, &t->n_dims, sizeof t->n_dims, err)) ||
            (st = put(w, t->ne, sizeof t->ne[0] * t->n_dims, err)) ||
            (st = put(w, &type, sizeof type, err)) ||
            (st = put(w, &t->offset, sizeof t->offset, err)))
            return st;
    }
    uint64_t h = header_bytes(w);
    return put_zeros(w, pad_to(h, w->alignment) - h, err);
}

ue_status ue_gguf_writer_write(ue_gguf_writer *w, const void *data, size_t n, ue_error *err) {
    if (!w->f) return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: tensor data before begin");
    if (w->failed) return ue_fail(err, UE_ERR_IO, "gguf writer: an earlier write failed");
    if (n > w->raw_left)
        return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: %zu bytes of data, but the tensors "
                       "only need %llu more", n, (unsigned long long)w->raw_left);
    w->raw_left -= n;
    const uint8_t *p = data;
    while (n) {
        const tensor_info *t = &w->tensors[w->cur];
        uint64_t left = t->n_bytes - w->cur_written;
        size_t k = n < left ? n : (size_t)left;
        ue_status st = put(w, p, k, err);
        if (st != UE_OK) return st;
        p += k;
        n -= k;
        w->cur_written += k;
        if (w->cur_written == t->n_bytes) {
            if ((st = put_zeros(w, pad_to(t->n_bytes, w->alignment) - t->n_bytes, err))) return st;
            w->cur++;
            w->cur_written = 0;
        }
    }
    return UE_OK;
}

ue_status ue_gguf_writer_end(ue_gguf_writer *w, ue_error *err) {
    if (!w->f) return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: end before begin");
    if (w->failed) return ue_fail(err, UE_ERR_IO, "gguf writer: an earlier write failed");
    if (w->cur < w->n_tensors)
        return ue_fail(err, UE_ERR_ARGUMENT, "gguf writer: tensor '%s' got %llu of %llu bytes",
                       w->tensors[w->cur].name, (unsigned long long)w->cur_written,
                       (unsigned long long)w->tensors[w->cur].n_bytes);
    if (fflush(w->f) != 0) {
        w->failed = 1;
        return ue_fail(err, UE_ERR_IO, "gguf writer: flush failed: %s", strerror(errno));
    }
    return UE_OK;
}
