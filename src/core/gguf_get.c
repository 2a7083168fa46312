/* Read side of ue_gguf: accessors over the validated index built by gguf.c and the typed
 * getters with their conversion rules (gguf.h): integers convert when the value fits,
 * f32 also takes f64 (rounded to nearest) and integers that a float holds exactly, bool
 * also takes integer 0/1. Out-of-range indexes give empty values, never a crash. */
#include "core/gguf_internal.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

static const gguf_kv *kv_at(const ue_gguf *g, uint64_t index) {
    return g && index < g->n_kv ? &g->kvs[index] : NULL;
}

const char *ue_gguf_vtype_name(ue_gguf_vtype type) {
    static const char *const names[UE_GGUF_VTYPE_COUNT] = {"u8",  "i8",  "u16",  "i16",    "u32",
                                                           "i32", "f32", "bool", "string", "array",
                                                           "u64", "i64", "f64"};
    return (unsigned)type < UE_GGUF_VTYPE_COUNT ? names[type] : "invalid";
}

uint32_t ue_gguf_version(const ue_gguf *g) { return g->version; }
uint64_t ue_gguf_file_size(const ue_gguf *g) { return g->size; }
uint32_t ue_gguf_alignment(const ue_gguf *g) { return g->alignment; }
uint64_t ue_gguf_data_offset(const ue_gguf *g) { return g->data_offset; }
uint64_t ue_gguf_n_kv(const ue_gguf *g) { return g->n_kv; }
uint64_t ue_gguf_n_tensors(const ue_gguf *g) { return g->n_tensors; }

int64_t ue_gguf_find_key(const ue_gguf *g, const char *key) {
    uint64_t len = strlen(key), lo = 0, hi = g->n_kv;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const gguf_kv *kv = g->kv_sorted[mid];
        int c = gguf_str_cmp(kv->key.ptr, kv->key.len, key, len);
        if (c == 0) return (int64_t)(kv - g->kvs);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

ue_gguf_str ue_gguf_key(const ue_gguf *g, uint64_t index) {
    const gguf_kv *kv = kv_at(g, index);
    return kv ? kv->key : (ue_gguf_str){"", 0};
}

ue_gguf_vtype ue_gguf_kv_type(const ue_gguf *g, uint64_t index) {
    const gguf_kv *kv = kv_at(g, index);
    return kv ? kv->type : UE_GGUF_VTYPE_COUNT;
}

ue_gguf_vtype ue_gguf_arr_type(const ue_gguf *g, uint64_t index) {
    const gguf_kv *kv = kv_at(g, index);
    return kv && kv->type == UE_GGUF_ARRAY ? kv->arr_type : UE_GGUF_VTYPE_COUNT;
}

uint64_t ue_gguf_arr_len(const ue_gguf *g, uint64_t index) {
    const gguf_kv *kv = kv_at(g, index);
    return kv && kv->type == UE_GGUF_ARRAY ? kv->arr_len : 0;
}

const void *ue_gguf_arr_data(const ue_gguf *g, uint64_t index) {
    const gguf_kv *kv = kv_at(g, index);
    return kv && kv->type == UE_GGUF_ARRAY && kv->arr_type != UE_GGUF_STRING ? kv->value : NULL;
}

ue_gguf_str ue_gguf_arr_str(const ue_gguf *g, uint64_t index, uint64_t i) {
    const gguf_kv *kv = kv_at(g, index);
    if (!kv || kv->type != UE_GGUF_ARRAY || kv->arr_type != UE_GGUF_STRING || i >= kv->arr_len)
        return (ue_gguf_str){"", 0};
    /* the parser checked every length against the file, so the walk stays inside it */
    const uint8_t *p = g->base + kv->str_offs[i / GGUF_STR_STRIDE];
    for (uint64_t k = i % GGUF_STR_STRIDE; k > 0; k--) p += 8 + gguf_rd_u64(p);
    return (ue_gguf_str){(const char *)p + 8, gguf_rd_u64(p)};
}

const void *ue_gguf_kv_data(const ue_gguf *g, uint64_t index) {
    const gguf_kv *kv = kv_at(g, index);
    return kv ? kv->value : NULL;
}

ue_gguf_str ue_gguf_kv_str(const ue_gguf *g, uint64_t index) {
    const gguf_kv *kv = kv_at(g, index);
    if (!kv || kv->type != UE_GGUF_STRING) return (ue_gguf_str){"", 0};
    return (ue_gguf_str){(const char *)kv->value, kv->str_len};
}

const ue_gguf_tensor *ue_gguf_tensor_at(const ue_gguf *g, uint64_t index) {
    return g && index < g->n_tensors ? &g->tensors[index] : NULL;
}

const ue_gguf_tensor *ue_gguf_find_tensor(const ue_gguf *g, const char *name) {
    uint64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->tensor_sorted[mid]->name, name);
        if (c == 0) return g->tensor_sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- typed getters ---- */

/* An integer value as sign + magnitude; 0 when the key is not of an integer type. */
static int kv_integer(const gguf_kv *kv, int *neg, uint64_t *mag) {
    const uint8_t *v = kv->value;
    int64_t s;
    *neg = 0;
    switch (kv->type) {
    case UE_GGUF_U8: *mag = v[0]; return 1;
    case UE_GGUF_U16: *mag = gguf_rd_u16(v); return 1;
    case UE_GGUF_U32: *mag = gguf_rd_u32(v); return 1;
    case UE_GGUF_U64: *mag = gguf_rd_u64(v); return 1;
    case UE_GGUF_I8: s = (int8_t)v[0]; break;
    case UE_GGUF_I16: s = (int16_t)gguf_rd_u16(v); break;
    case UE_GGUF_I32: s = (int32_t)gguf_rd_u32(v); break;
    case UE_GGUF_I64: s = (int64_t)gguf_rd_u64(v); break;
    default: return 0;
    }
    *neg = s < 0;
    *mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return 1;
}

/* Finds key; on absence returns UE_OK with *kv NULL unless required. */
static ue_status lookup(const ue_gguf *g, const char *key, int required, const gguf_kv **kv,
                        ue_error *err) {
    int64_t i = ue_gguf_find_key(g, key);
    *kv = i >= 0 ? &g->kvs[i] : NULL;
    if (!*kv && required) return ue_fail(err, UE_ERR_FORMAT, "missing key '%s'", key);
    return UE_OK;
}

static ue_status wrong_type(const gguf_kv *kv, const char *key, const char *expected,
                            ue_error *err) {
    if (kv->type == UE_GGUF_ARRAY)
        return ue_fail(err, UE_ERR_FORMAT, "metadata key '%s': type is array of %s, expected %s",
                       key, ue_gguf_vtype_name(kv->arr_type), expected);
    return ue_fail(err, UE_ERR_FORMAT, "metadata key '%s': type is %s, expected %s", key,
                   ue_gguf_vtype_name(kv->type), expected);
}

ue_status ue_gguf_get_u32(const ue_gguf *g, const char *key, int required, uint32_t *out,
                          ue_error *err) {
    const gguf_kv *kv;
    ue_status st = lookup(g, key, required, &kv, err);
    if (st || !kv) return st;
    int neg;
    uint64_t mag;
    if (!kv_integer(kv, &neg, &mag)) return wrong_type(kv, key, "an integer (u32)", err);
    if (neg || mag > UINT32_MAX)
        return ue_fail(err, UE_ERR_FORMAT,
                       "metadata key '%s': %s value %s%" PRIu64 " does not fit u32 (0..4294967295)",
                       key, ue_gguf_vtype_name(kv->type), neg ? "-" : "", mag);
    *out = (uint32_t)mag;
    return UE_OK;
}

ue_status ue_gguf_get_f32(const ue_gguf *g, const char *key, int required, float *out,
                          ue_error *err) {
    const gguf_kv *kv;
    ue_status st = lookup(g, key, required, &kv, err);
    if (st || !kv) return st;
    if (kv->type == UE_GGUF_F32) {
        uint32_t bits = gguf_rd_u32(kv->value);
        memcpy(out, &bits, sizeof *out);
        return UE_OK;
    }
    if (kv->type == UE_GGUF_F64) {
        uint64_t bits = gguf_rd_u64(kv->value);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (isfinite(d) && fabs(d) > FLT_MAX)
            return ue_fail(err, UE_ERR_FORMAT,
                           "metadata key '%s': f64 value %g is outside the f32 range", key, d);
        *out = (float)d;
        return UE_OK;
    }
    int neg;
    uint64_t mag;
    if (!kv_integer(kv, &neg, &mag)) return wrong_type(kv, key, "a number (f32)", err);
    /* A float holds an integer exactly when its significant bits fit in 24. */
    uint64_t sig = mag ? mag >> __builtin_ctzll(mag) : 0;
    if (sig >= (1u << 24))
        return ue_fail(err, UE_ERR_FORMAT,
                       "metadata key '%s': %s value %s%" PRIu64
                       " is not exactly representable as f32",
                       key, ue_gguf_vtype_name(kv->type), neg ? "-" : "", mag);
    *out = neg ? -(float)mag : (float)mag;
    return UE_OK;
}

ue_status ue_gguf_get_bool(const ue_gguf *g, const char *key, int required, int *out,
                           ue_error *err) {
    const gguf_kv *kv;
    ue_status st = lookup(g, key, required, &kv, err);
    if (st || !kv) return st;
    if (kv->type == UE_GGUF_BOOL) {
        *out = kv->value[0] != 0;
        return UE_OK;
    }
    int neg;
    uint64_t mag;
    if (!kv_integer(kv, &neg, &mag)) return wrong_type(kv, key, "bool", err);
    if (neg || mag > 1)
        return ue_fail(err, UE_ERR_FORMAT,
                       "metadata key '%s': %s value %s%" PRIu64 " is not a bool (0 or 1)", key,
                       ue_gguf_vtype_name(kv->type), neg ? "-" : "", mag);
    *out = (int)mag;
    return UE_OK;
}

ue_status ue_gguf_get_str(const ue_gguf *g, const char *key, int required, char *out, size_t cap,
                          ue_error *err) {
    if (cap == 0) return ue_fail(err, UE_ERR_ARGUMENT, "ue_gguf_get_str('%s'): cap is 0", key);
    const gguf_kv *kv;
    ue_status st = lookup(g, key, required, &kv, err);
    if (st || !kv) return st;
    if (kv->type != UE_GGUF_STRING) return wrong_type(kv, key, "string", err);
    size_t n = kv->str_len < cap - 1 ? (size_t)kv->str_len : cap - 1;
    memcpy(out, kv->value, n);
    out[n] = '\0';
    return UE_OK;
}
