/* libFuzzer target for the GGUF reader: opens the input with ue_gguf_open_memory and, when
 * it is accepted, walks every key, value, array element and tensor through the public
 * accessors and getters, checking the reader's own invariants (a violation traps).
 * Build: make fuzz; run: see docs/FUZZING.md. Seeds: fuzz/seeds/gguf/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"

#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c)) __builtin_trap();                                                            \
    } while (0)

static volatile uint8_t g_sink;

/* Reads every byte so ASan catches a span that leaves the input. */
static void touch(const void *p, uint64_t n) {
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (uint64_t i = 0; i < n; i++) acc ^= b[i];
    g_sink = acc;
}

static size_t elem_size(ue_gguf_vtype t) {
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
    default: return 0;
    }
}

static void walk_key(const ue_gguf *g, uint64_t k) {
    ue_error err;
    ue_gguf_str key = ue_gguf_key(g, k);
    CHECK(key.len > 0);
    touch(key.ptr, key.len);
    ue_gguf_vtype t = ue_gguf_kv_type(g, k);
    CHECK(t < UE_GGUF_VTYPE_COUNT);
    if (t == UE_GGUF_STRING) {
        ue_gguf_str s = ue_gguf_kv_str(g, k);
        touch(s.ptr, s.len);
    } else if (t == UE_GGUF_ARRAY) {
        ue_gguf_vtype et = ue_gguf_arr_type(g, k);
        CHECK(et < UE_GGUF_VTYPE_COUNT && et != UE_GGUF_ARRAY);
        uint64_t n = ue_gguf_arr_len(g, k);
        if (et == UE_GGUF_STRING) {
            for (uint64_t i = 0; i < n; i++) {
                ue_gguf_str s = ue_gguf_arr_str(g, k, i);
                touch(s.ptr, s.len);
            }
        } else {
            touch(ue_gguf_arr_data(g, k), n * elem_size(et));
            if (et == UE_GGUF_BOOL)
                for (uint64_t i = 0; i < n; i++)
                    CHECK(((const uint8_t *)ue_gguf_arr_data(g, k))[i] <= 1);
        }
    } else {
        touch(ue_gguf_kv_data(g, k), elem_size(t));
    }

    /* Lookups by name agree with the index (keys holding a NUL cannot be named). */
    char name[256];
    if (key.len < sizeof name && !memchr(key.ptr, 0, key.len)) {
        memcpy(name, key.ptr, key.len);
        name[key.len] = '\0';
        CHECK(ue_gguf_find_key(g, name) == (int64_t)k);
        uint32_t u;
        float f;
        int b;
        char s[16];
        (void)ue_gguf_get_u32(g, name, 1, &u, &err);
        (void)ue_gguf_get_f32(g, name, 1, &f, &err);
        (void)ue_gguf_get_bool(g, name, 1, &b, &err);
        ue_status st = ue_gguf_get_str(g, name, 1, s, sizeof s, &err);
        CHECK(st != UE_OK || strlen(s) < sizeof s);
    }
}

static void walk_tensor(const ue_gguf *g, uint64_t i) {
    const ue_gguf_tensor *t = ue_gguf_tensor_at(g, i);
    CHECK(t && t->n_dims >= 1 && t->n_dims <= 4);
    CHECK(ue_gguf_find_tensor(g, t->name) == t);
    const ue_type_traits *tr = ue_type_get(t->type);
    CHECK(tr != NULL);
    uint64_t n = 1;
    for (int d = 0; d < 4; d++) {
        CHECK(t->ne[d] >= 1);
        n *= (uint64_t)t->ne[d];
    }
    CHECK(n == t->n_elements);
    CHECK(t->ne[0] % tr->block_size == 0);
    CHECK(t->n_bytes == n / tr->block_size * tr->type_size);
    CHECK(t->offset % ue_gguf_alignment(g) == 0);
    /* Endpoints only: touching gigabytes of claimed data would just be slow. */
    const uint8_t *p = t->data;
    touch(p, 1);
    touch(p + t->n_bytes - 1, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ue_gguf *g = NULL;
    ue_error err = {0};
    if (ue_gguf_open_memory(data, size, &g, &err) != UE_OK) {
        CHECK(g == NULL && err.msg[0] != '\0' && !strchr(err.msg, '\n'));
        return 0;
    }
    CHECK(ue_gguf_version(g) == 2 || ue_gguf_version(g) == 3);
    CHECK(ue_gguf_file_size(g) == size);
    uint32_t a = ue_gguf_alignment(g);
    CHECK(a && !(a & (a - 1)));
    for (uint64_t k = 0; k < ue_gguf_n_kv(g); k++) walk_key(g, k);
    for (uint64_t i = 0; i < ue_gguf_n_tensors(g); i++) walk_tensor(g, i);
    ue_gguf_close(g);
    return 0;
}
