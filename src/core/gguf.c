/* GGUF parser: maps a file read-only (or borrows bytes), validates the header, every
 * metadata value and every tensor info with checked arithmetic, and builds the lookup
 * indexes. Layout: shared/docs/gemma3.md section 4.1 (v3; v2 has the same layout).
 * Arrays of arrays are rejected with a clear error: no model uses them and accepting them
 * would need a recursive index. Every allocation is bounded by a multiple of the file size
 * because counts are checked against the bytes left before anything is allocated. */
#include "core/gguf_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checked.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_HEADER_BYTES 24u
/* Smallest encodings, used to bound counts before allocating: a key-value pair is a key
 * length (8) + at least one key byte + a type (4) + at least one value byte; a tensor info
 * is a name length (8) + one name byte + n_dims (4) + one ne (8) + type (4) + offset (8). */
#define GGUF_KV_MIN_BYTES 14u
#define GGUF_TENSOR_MIN_BYTES 33u
#define GGUF_STR_MIN_BYTES 8u
#define GGUF_NAME_MAX 64u

typedef struct parser {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    char ctx[160]; /* what is being read: "metadata key 'x'", "tensor #3" */
    ue_error *err;
} parser;

static uint64_t remaining(const parser *p) { return p->size - p->pos; }

/* Fails unless n more bytes are there; `what` names the field that would run past. */
static ue_status need(parser *p, uint64_t n, const char *what) {
    if (n <= remaining(p)) return UE_OK;
    return ue_fail(p->err, UE_ERR_FORMAT,
                   "%s: %s runs past the end of the file at byte %" PRIu64 " (needs %" PRIu64
                   " bytes, file size %" PRIu64 ")",
                   p->ctx, what, p->pos, n, p->size);
}

static ue_status read_u32(parser *p, const char *what, uint32_t *out) {
    ue_status st = need(p, 4, what);
    if (st) return st;
    *out = gguf_rd_u32(p->base + p->pos);
    p->pos += 4;
    return UE_OK;
}

static ue_status read_u64(parser *p, const char *what, uint64_t *out) {
    ue_status st = need(p, 8, what);
    if (st) return st;
    *out = gguf_rd_u64(p->base + p->pos);
    p->pos += 8;
    return UE_OK;
}

/* A string: u64 length + bytes. `what` names it in errors ("key", "string 5"). */
static ue_status read_str(parser *p, const char *what, ue_gguf_str *out) {
    char field[96];
    snprintf(field, sizeof field, "%s length", what);
    uint64_t len;
    ue_status st = read_u64(p, field, &len);
    if (st) return st;
    if (len > remaining(p))
        return ue_fail(p->err, UE_ERR_FORMAT,
                       "%s: %s (%" PRIu64 " bytes) runs past the end of the file at byte %" PRIu64
                       " (file size %" PRIu64 ")",
                       p->ctx, what, len, p->pos, p->size);
    out->ptr = (const char *)p->base + p->pos;
    out->len = len;
    p->pos += len;
    return UE_OK;
}

int gguf_str_cmp(const char *a, uint64_t alen, const char *b, uint64_t blen) {
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

void gguf_fmt_name(char *out, size_t cap, const char *name, uint64_t len) {
    size_t o = 0;
    for (uint64_t i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)name[i];
        if (i >= 80) {
            o += (size_t)snprintf(out + o, cap - o, "...");
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    out[o < cap ? o : cap - 1] = '\0';
}

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
    default: return 0; /* string, array */
    }
}

static ue_status check_bools(parser *p, const uint8_t *v, uint64_t n, int is_array) {
    for (uint64_t i = 0; i < n; i++) {
        if (v[i] <= 1) continue;
        if (is_array)
            return ue_fail(p->err, UE_ERR_FORMAT,
                           "%s: bool element %" PRIu64 " is %u, expected 0 or 1", p->ctx, i, v[i]);
        return ue_fail(p->err, UE_ERR_FORMAT, "%s: bool value is %u, expected 0 or 1", p->ctx,
                       v[i]);
    }
    return UE_OK;
}

static ue_status parse_string_array(parser *p, gguf_kv *kv) {
    uint64_t min_bytes;
    if (!ue_mul_u64(kv->arr_len, GGUF_STR_MIN_BYTES, &min_bytes) || min_bytes > remaining(p))
        return ue_fail(p->err, UE_ERR_FORMAT,
                       "%s: array of %" PRIu64
                       " strings runs past the end of the file at byte %" PRIu64
                       " (each needs at least 8 bytes, file size %" PRIu64 ")",
                       p->ctx, kv->arr_len, p->pos, p->size);
    kv->value = p->base + p->pos;
    if (kv->arr_len == 0) return UE_OK;
    /* Bounded: arr_len * 8 <= bytes left in the file. */
    uint64_t n_offs = (kv->arr_len + GGUF_STR_STRIDE - 1) / GGUF_STR_STRIDE;
    kv->str_offs = malloc((size_t)n_offs * sizeof *kv->str_offs);
    if (!kv->str_offs)
        return ue_fail(p->err, UE_ERR_NOMEM, "%s: no memory for %" PRIu64 " string offsets", p->ctx,
                       n_offs);
    for (uint64_t i = 0; i < kv->arr_len; i++) {
        char what[64];
        snprintf(what, sizeof what, "string %" PRIu64 " of %" PRIu64, i, kv->arr_len);
        if (i % GGUF_STR_STRIDE == 0) kv->str_offs[i / GGUF_STR_STRIDE] = p->pos;
        ue_gguf_str s;
        ue_status st = read_str(p, what, &s);
        if (st) return st;
    }
    return UE_OK;
}

static ue_status parse_array(parser *p, gguf_kv *kv) {
    uint32_t et;
    ue_status st = read_u32(p, "array element type", &et);
    if (st) return st;
    if (et == UE_GGUF_ARRAY)
        return ue_fail(p->err, UE_ERR_UNSUPPORTED, "%s: arrays of arrays are not supported",
                       p->ctx);
    if (et >= UE_GGUF_VTYPE_COUNT)
        return ue_fail(p->err, UE_ERR_FORMAT,
                       "%s: array element type %" PRIu32
                       " is not a GGUF value type (expected 0..12)",
                       p->ctx, et);
    kv->arr_type = (ue_gguf_vtype)et;
    if ((st = read_u64(p, "array length", &kv->arr_len))) return st;
    if (et == UE_GGUF_STRING) return parse_string_array(p, kv);

    size_t esize = scalar_size(kv->arr_type);
    uint64_t nbytes;
    if (!ue_mul_u64(kv->arr_len, esize, &nbytes) || nbytes > remaining(p))
        return ue_fail(p->err, UE_ERR_FORMAT,
                       "%s: array of %" PRIu64 " %s runs past the end of the file at byte %" PRIu64
                       " (file size %" PRIu64 ")",
                       p->ctx, kv->arr_len, ue_gguf_vtype_name(kv->arr_type), p->pos, p->size);
    kv->value = p->base + p->pos;
    if (et == UE_GGUF_BOOL && (st = check_bools(p, kv->value, kv->arr_len, 1))) return st;
    p->pos += nbytes;
    return UE_OK;
}

static ue_status parse_kv(parser *p, uint64_t index, gguf_kv *kv) {
    snprintf(p->ctx, sizeof p->ctx, "metadata key #%" PRIu64, index);
    ue_status st = read_str(p, "key", &kv->key);
    if (st) return st;
    if (kv->key.len == 0) return ue_fail(p->err, UE_ERR_FORMAT, "%s: key is empty", p->ctx);
    char name[128];
    gguf_fmt_name(name, sizeof name, kv->key.ptr, kv->key.len);
    snprintf(p->ctx, sizeof p->ctx, "metadata key '%s'", name);

    uint32_t type;
    if ((st = read_u32(p, "value type", &type))) return st;
    if (type >= UE_GGUF_VTYPE_COUNT)
        return ue_fail(p->err, UE_ERR_FORMAT,
                       "%s: value type %" PRIu32 " is not a GGUF value type (expected 0..12)",
                       p->ctx, type);
    kv->type = (ue_gguf_vtype)type;
    if (type == UE_GGUF_ARRAY) return parse_array(p, kv);
    if (type == UE_GGUF_STRING) {
        ue_gguf_str s;
        if ((st = read_str(p, "string value", &s))) return st;
        kv->value = (const uint8_t *)s.ptr;
        kv->str_len = s.len;
        return UE_OK;
    }
    size_t size = scalar_size(kv->type);
    if ((st = need(p, size, ue_gguf_vtype_name(kv->type)))) return st;
    kv->value = p->base + p->pos;
    if (type == UE_GGUF_BOOL && (st = check_bools(p, kv->value, 1, 0))) return st;
    p->pos += size;
    return UE_OK;
}

static const char *removed_note(uint32_t id) {
    int removed = id == 4 || id == 5 || (id >= 31 && id <= 33) || (id >= 36 && id <= 38);
    return removed ? " (removed from the format)" : "";
}

static ue_status parse_tensor_info(parser *p, uint64_t index, ue_gguf_tensor *t) {
    snprintf(p->ctx, sizeof p->ctx, "tensor #%" PRIu64, index);
    uint64_t len;
    ue_status st = read_u64(p, "name length", &len);
    if (st) return st;
    if (len == 0) return ue_fail(p->err, UE_ERR_FORMAT, "%s: name is empty", p->ctx);
    if (len >= GGUF_NAME_MAX)
        return ue_fail(p->err, UE_ERR_FORMAT, "%s: name is %" PRIu64 " bytes, expected at most %u",
                       p->ctx, len, GGUF_NAME_MAX - 1);
    if ((st = need(p, len, "name"))) return st;
    const char *name = (const char *)p->base + p->pos;
    if (memchr(name, 0, (size_t)len))
        return ue_fail(p->err, UE_ERR_FORMAT, "%s: name contains a NUL byte", p->ctx);
    memcpy(t->name, name, (size_t)len);
    t->name[len] = '\0';
    p->pos += len;
    char shown[128];
    gguf_fmt_name(shown, sizeof shown, t->name, len);
    snprintf(p->ctx, sizeof p->ctx, "tensor '%s'", shown);

    if ((st = read_u32(p, "n_dims", &t->n_dims))) return st;
    if (t->n_dims < 1 || t->n_dims > 4)
        return ue_fail(p->err, UE_ERR_FORMAT, "%s: n_dims is %" PRIu32 ", expected 1..4", p->ctx,
                       t->n_dims);
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < 4; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims) continue;
        char what[16];
        snprintf(what, sizeof what, "ne[%" PRIu32 "]", d);
        uint64_t v;
        if ((st = read_u64(p, what, &v))) return st;
        int64_t ne = (int64_t)v;
        if (ne < 1)
            return ue_fail(p->err, UE_ERR_FORMAT,
                           "%s: ne[%" PRIu32 "] is %" PRId64 ", expected >= 1", p->ctx, d, ne);
        t->ne[d] = ne;
        if (!ue_mul_u64(n_el, v, &n_el) || n_el > (uint64_t)INT64_MAX)
            return ue_fail(p->err, UE_ERR_FORMAT,
                           "%s: shape has more than 2^63 elements (product overflows at ne[%" PRIu32
                           "])",
                           p->ctx, d);
    }
    t->n_elements = n_el;

    uint32_t type_id;
    if ((st = read_u32(p, "type", &type_id))) return st;
    const ue_type_traits *tr = ue_type_get(type_id);
    if (!tr)
        return ue_fail(p->err, UE_ERR_FORMAT, "%s: type %" PRId32 " is not a GGUF tensor type%s",
                       p->ctx, (int32_t)type_id, removed_note(type_id));
    t->type = (ue_type)type_id;
    if ((uint64_t)t->ne[0] % tr->block_size)
        return ue_fail(p->err, UE_ERR_FORMAT,
                       "%s: ne[0] is %" PRId64 ", not a multiple of the %s block size %" PRIu32,
                       p->ctx, t->ne[0], tr->name, tr->block_size);
    uint64_t blocks = n_el / tr->block_size;
    if (!ue_mul_u64(blocks, tr->type_size, &t->n_bytes))
        return ue_fail(p->err, UE_ERR_FORMAT, "%s: byte size overflows (%" PRIu64 " blocks of %s)",
                       p->ctx, blocks, tr->name);
    return read_u64(p, "offset", &t->offset);
}

static int cmp_kv(const void *a, const void *b) {
    const gguf_kv *x = *(const gguf_kv *const *)a, *y = *(const gguf_kv *const *)b;
    return gguf_str_cmp(x->key.ptr, x->key.len, y->key.ptr, y->key.len);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const ue_gguf_tensor *const *)a)->name,
                  (*(const ue_gguf_tensor *const *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b) {
    uint64_t x = (*(const ue_gguf_tensor *const *)a)->offset;
    uint64_t y = (*(const ue_gguf_tensor *const *)b)->offset;
    return x < y ? -1 : x > y;
}

static ue_status parse_header(parser *p, ue_gguf *g) {
    snprintf(p->ctx, sizeof p->ctx, "header");
    uint32_t magic;
    ue_status st = read_u32(p, "magic", &magic);
    if (st) return st;
    if (magic != GGUF_MAGIC)
        return ue_fail(
            p->err, UE_ERR_FORMAT,
            "not a GGUF file: magic is %02x %02x %02x %02x, expected 47 47 55 46 (\"GGUF\")",
            p->base[0], p->base[1], p->base[2], p->base[3]);
    if ((st = read_u32(p, "version", &g->version))) return st;
    if (g->version != 0 && (g->version & 0xffffu) == 0)
        return ue_fail(p->err, UE_ERR_UNSUPPORTED,
                       "GGUF version field is 0x%08" PRIx32
                       ": the file is big-endian (byte-swapped); "
                       "only little-endian GGUF is supported",
                       g->version);
    if (g->version == 1)
        return ue_fail(
            p->err, UE_ERR_UNSUPPORTED,
            "GGUF version 1 is not supported (it uses 32-bit counts); expected version 2 or 3");
    if (g->version != 2 && g->version != 3)
        return ue_fail(p->err, UE_ERR_UNSUPPORTED,
                       "GGUF version %" PRIu32 " is not supported, expected 2 or 3", g->version);
    if ((st = read_u64(p, "n_tensors", &g->n_tensors))) return st;
    if ((st = read_u64(p, "n_kv", &g->n_kv))) return st;
    uint64_t left = remaining(p);
    if (g->n_kv > left / GGUF_KV_MIN_BYTES)
        return ue_fail(p->err, UE_ERR_FORMAT,
                       "header: n_kv is %" PRIu64 " but the %" PRIu64
                       " bytes after the header hold at "
                       "most %" PRIu64 " key-value pairs (each needs at least %u bytes)",
                       g->n_kv, left, left / GGUF_KV_MIN_BYTES, GGUF_KV_MIN_BYTES);
    if (g->n_tensors > left / GGUF_TENSOR_MIN_BYTES)
        return ue_fail(p->err, UE_ERR_FORMAT,
                       "header: n_tensors is %" PRIu64 " but the %" PRIu64
                       " bytes after the header "
                       "hold at most %" PRIu64 " tensor infos (each needs at least %u bytes)",
                       g->n_tensors, left, left / GGUF_TENSOR_MIN_BYTES, GGUF_TENSOR_MIN_BYTES);
    return UE_OK;
}

static ue_status parse_metadata(parser *p, ue_gguf *g) {
    /* Bounded by parse_header: n_kv * 14 <= file size. */
    g->kvs = calloc(g->n_kv ? (size_t)g->n_kv : 1, sizeof *g->kvs);
    g->kv_sorted = malloc((g->n_kv ? (size_t)g->n_kv : 1) * sizeof *g->kv_sorted);
    if (!g->kvs || !g->kv_sorted)
        return ue_fail(p->err, UE_ERR_NOMEM, "no memory for %" PRIu64 " metadata keys", g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        ue_status st = parse_kv(p, i, &g->kvs[i]);
        if (st) return st;
        g->kv_sorted[i] = &g->kvs[i];
    }
    qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv);
    for (uint64_t i = 1; i < g->n_kv; i++) {
        if (cmp_kv(&g->kv_sorted[i - 1], &g->kv_sorted[i])) continue;
        char name[128];
        gguf_fmt_name(name, sizeof name, g->kv_sorted[i]->key.ptr, g->kv_sorted[i]->key.len);
        return ue_fail(p->err, UE_ERR_FORMAT, "metadata key '%s' appears more than once", name);
    }

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = ue_gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        const gguf_kv *kv = &g->kvs[ai];
        if (kv->type != UE_GGUF_U32)
            return ue_fail(p->err, UE_ERR_FORMAT,
                           "metadata key 'general.alignment': type is %s, expected u32",
                           ue_gguf_vtype_name(kv->type));
        uint32_t a = gguf_rd_u32(kv->value);
        if (a == 0 || (a & (a - 1)))
            return ue_fail(p->err, UE_ERR_FORMAT,
                           "metadata key 'general.alignment' is %" PRIu32
                           ", expected a nonzero power of two",
                           a);
        g->alignment = a;
    }
    return UE_OK;
}

static ue_status check_tensor_placement(parser *p, ue_gguf *g) {
    uint64_t data_bytes = g->size - g->data_offset; /* caller checked data_offset <= size */
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        ue_gguf_tensor *t = &g->tensors[i];
        uint64_t end;
        if (t->offset % g->alignment)
            return ue_fail(p->err, UE_ERR_FORMAT,
                           "tensor '%s': offset %" PRIu64
                           " is not a multiple of the alignment %" PRIu32,
                           t->name, t->offset, g->alignment);
        if (!ue_add_u64(t->offset, t->n_bytes, &end) || end > data_bytes)
            return ue_fail(
                p->err, UE_ERR_FORMAT,
                "tensor '%s': data (offset %" PRIu64 ", %" PRIu64 " bytes) runs past the end "
                "of the file (data section holds %" PRIu64 " bytes from byte %" PRIu64 ")",
                t->name, t->offset, t->n_bytes, data_bytes, g->data_offset);
        t->data = g->base + g->data_offset + t->offset;
    }
    /* Overlap check reuses the name-sorted array, then restores its order. */
    ue_gguf_tensor **v = g->tensor_sorted;
    qsort(v, (size_t)g->n_tensors, sizeof *v, cmp_tensor_offset);
    for (uint64_t i = 1; i < g->n_tensors; i++) {
        if (v[i - 1]->offset + v[i - 1]->n_bytes <= v[i]->offset) continue;
        return ue_fail(p->err, UE_ERR_FORMAT,
                       "tensor '%s' (bytes %" PRIu64 "..%" PRIu64 " of the data section) overlaps "
                       "tensor '%s' (starting at %" PRIu64 ")",
                       v[i - 1]->name, v[i - 1]->offset, v[i - 1]->offset + v[i - 1]->n_bytes,
                       v[i]->name, v[i]->offset);
    }
    qsort(v, (size_t)g->n_tensors, sizeof *v, cmp_tensor_name);
    return UE_OK;
}

static ue_status parse_tensors(parser *p, ue_gguf *g) {
    uint64_t left = remaining(p);
    if (g->n_tensors > left / GGUF_TENSOR_MIN_BYTES)
        return ue_fail(p->err, UE_ERR_FORMAT,
                       "header: n_tensors is %" PRIu64 " but the %" PRIu64
                       " bytes after the metadata "
                       "hold at most %" PRIu64 " tensor infos (each needs at least %u bytes)",
                       g->n_tensors, left, left / GGUF_TENSOR_MIN_BYTES, GGUF_TENSOR_MIN_BYTES);
    size_t n = g->n_tensors ? (size_t)g->n_tensors : 1;
    g->tensors = calloc(n, sizeof *g->tensors);
    g->tensor_sorted = malloc(n * sizeof *g->tensor_sorted);
    if (!g->tensors || !g->tensor_sorted)
        return ue_fail(p->err, UE_ERR_NOMEM, "no memory for %" PRIu64 " tensor infos",
                       g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        ue_status st = parse_tensor_info(p, i, &g->tensors[i]);
        if (st) return st;
        g->tensor_sorted[i] = &g->tensors[i];
    }
    qsort(g->tensor_sorted, (size_t)g->n_tensors, sizeof *g->tensor_sorted, cmp_tensor_name);
    for (uint64_t i = 1; i < g->n_tensors; i++)
        if (!strcmp(g->tensor_sorted[i - 1]->name, g->tensor_sorted[i]->name))
            return ue_fail(p->err, UE_ERR_FORMAT, "tensor '%s' appears more than once",
                           g->tensor_sorted[i]->name);

    uint64_t start;
    if (!ue_add_u64(p->pos, g->alignment - 1, &start))
        return ue_fail(p->err, UE_ERR_FORMAT, "tensor data start overflows");
    g->data_offset = start & ~((uint64_t)g->alignment - 1);
    if (g->n_tensors == 0) {
        /* No data section: a file may end without padding; keep data_offset <= size. */
        if (g->data_offset > g->size) g->data_offset = g->size;
        return UE_OK;
    }
    if (g->data_offset > g->size)
        return ue_fail(p->err, UE_ERR_FORMAT,
                       "tensor data section would start at byte %" PRIu64
                       " (tensor infos end at %" PRIu64 ", alignment %" PRIu32
                       "), past the end of the file (size %" PRIu64 ")",
                       g->data_offset, p->pos, g->alignment, g->size);
    return check_tensor_placement(p, g);
}

static ue_status parse(ue_gguf *g, ue_error *err) {
    parser p = {.base = g->base, .size = g->size, .pos = 0, .err = err};
    ue_status st = parse_header(&p, g);
    if (!st) st = parse_metadata(&p, g);
    if (!st) st = parse_tensors(&p, g);
    return st;
}

ue_status ue_gguf_open_memory(const void *data, size_t size, ue_gguf **out, ue_error *err) {
    *out = NULL;
    if (!data && size) return ue_fail(err, UE_ERR_ARGUMENT, "ue_gguf_open_memory: data is NULL");
    ue_gguf *g = calloc(1, sizeof *g);
    if (!g) return ue_fail(err, UE_ERR_NOMEM, "no memory for the GGUF reader");
    g->base = data ? data : (const uint8_t *)"";
    g->size = size;
    ue_status st = parse(g, err);
    if (st) {
        ue_gguf_close(g);
        return st;
    }
    *out = g;
    return UE_OK;
}

ue_status ue_gguf_open(const char *path, ue_gguf **out, ue_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ue_fail(err, UE_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ue_fail(err, UE_ERR_IO, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ue_fail(err, UE_ERR_IO, "not a regular file");
    }
    if (sb.st_size == 0) {
        close(fd);
        return ue_fail(err, UE_ERR_FORMAT, "file is empty, expected a GGUF header of %u bytes",
                       GGUF_HEADER_BYTES);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return ue_fail(err, UE_ERR_UNSUPPORTED, "file of %lld bytes is too large to map",
                       (long long)sb.st_size);
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return ue_fail(err, UE_ERR_IO, "cannot map %zu bytes: %s", size, strerror(e));

    ue_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        munmap(map, size);
        return ue_fail(err, UE_ERR_NOMEM, "no memory for the GGUF reader");
    }
    g->base = map;
    g->size = size;
    g->map = map;
    g->map_size = size;
    ue_status st = parse(g, err);
    if (st) {
        ue_gguf_close(g);
        return st;
    }
    *out = g;
    return UE_OK;
}

void ue_gguf_release_metadata(const ue_gguf *g) {
    if (!g || !g->map) return;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) return;
    /* whole pages before the data section only: the first tensor's page stays */
    size_t end = (size_t)(g->data_offset < g->map_size ? g->data_offset : g->map_size);
    end &= ~((size_t)page - 1);
    if (end) madvise(g->map, end, MADV_DONTNEED); /* advice: failure changes nothing */
}

void ue_gguf_close(ue_gguf *g) {
    if (!g) return;
    if (g->kvs)
        for (uint64_t i = 0; i < g->n_kv; i++) free(g->kvs[i].str_offs);
    free(g->kvs);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->tensor_sorted);
    if (g->map) munmap(g->map, g->map_size);
    free(g);
}
