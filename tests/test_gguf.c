/* GGUF reader on valid files: every value type read back exactly (v2 and v3), custom
 * alignment, tensor infos and data, typed getter conversions and opening from a path.
 * Corrupt files: test_gguf_bad.c; the real model: test_gguf_model.c. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/gguf.h"
#include "gguf_builder.h"
#include "test_util.h"

static ue_gguf *open_ok(const uint8_t *bytes, size_t size) {
    ue_gguf *g = NULL;
    ue_error err = {0};
    ue_status st = ue_gguf_open_memory(bytes, size, &g, &err);
    if (st != UE_OK) fail_msg("open failed: %s", err.msg);
    assert_non_null(g);
    return g;
}

static void assert_str_eq(ue_gguf_str s, const char *want) {
    assert_int_equal(s.len, strlen(want));
    if (s.len) assert_memory_equal(s.ptr, want, s.len);
}

static int64_t key_ok(const ue_gguf *g, const char *key, ue_gguf_vtype type) {
    int64_t i = ue_gguf_find_key(g, key);
    if (i < 0) fail_msg("key %s missing", key);
    assert_int_equal(ue_gguf_kv_type(g, (uint64_t)i), type);
    assert_str_eq(ue_gguf_key(g, (uint64_t)i), key);
    return i;
}

static const char *const k_strs[] = {"", "a", "\xe2\x96\x81hello", "<start_of_turn>", "x\ny"};

/* One key of every scalar type, a string, an array of every scalar type and of strings. */
static void add_all_types(gguf_builder *b) {
    gguf_builder_add_u8(b, "t.u8", 200);
    gguf_builder_add_i8(b, "t.i8", -100);
    gguf_builder_add_u16(b, "t.u16", 60000);
    gguf_builder_add_i16(b, "t.i16", -30000);
    gguf_builder_add_u32(b, "t.u32", 4000000000u);
    gguf_builder_add_i32(b, "t.i32", -2000000000);
    gguf_builder_add_f32(b, "t.f32", 1e-6f);
    gguf_builder_add_bool(b, "t.true", 1);
    gguf_builder_add_bool(b, "t.false", 0);
    gguf_builder_add_str(b, "t.str", "gemma3");
    gguf_builder_add_str(b, "t.empty", "");
    gguf_builder_add_u64(b, "t.u64", 0xfedcba9876543210ull);
    gguf_builder_add_i64(b, "t.i64", -1234567890123ll);
    gguf_builder_add_f64(b, "t.f64", 3.141592653589793);
    uint8_t u8s[3] = {1, 2, 255};
    int8_t i8s[2] = {-1, 127};
    uint16_t u16s[2] = {1, 65535};
    int16_t i16s[2] = {-32768, 5};
    uint32_t u32s[4] = {7, 0, 9, 4294967295u};
    int32_t i32s[3] = {-1, 2, -3};
    float f32s[3] = {0.5f, -2.0f, 1e30f};
    uint8_t bools[3] = {1, 0, 1};
    uint64_t u64s[2] = {1, UINT64_MAX};
    int64_t i64s[2] = {INT64_MIN, INT64_MAX};
    double f64s[2] = {-0.25, 1e300};
    gguf_builder_add_arr(b, "a.u8", 0, u8s, 3);
    gguf_builder_add_arr(b, "a.i8", 1, i8s, 2);
    gguf_builder_add_arr(b, "a.u16", 2, u16s, 2);
    gguf_builder_add_arr(b, "a.i16", 3, i16s, 2);
    gguf_builder_add_arr(b, "a.u32", 4, u32s, 4);
    gguf_builder_add_arr(b, "a.i32", 5, i32s, 3);
    gguf_builder_add_arr(b, "a.f32", 6, f32s, 3);
    gguf_builder_add_arr(b, "a.bool", 7, bools, 3);
    gguf_builder_add_arr(b, "a.u64", 10, u64s, 2);
    gguf_builder_add_arr(b, "a.i64", 11, i64s, 2);
    gguf_builder_add_arr(b, "a.f64", 12, f64s, 2);
    gguf_builder_add_arr(b, "a.empty", 4, NULL, 0);
    gguf_builder_add_arr_str(b, "a.str", k_strs, 5);
    gguf_builder_add_arr_str(b, "a.nostr", NULL, 0);
}

static void check_all_types(const ue_gguf *g) {
    assert_int_equal(ue_gguf_n_kv(g), 28);
    uint8_t u8;
    int8_t i8;
    uint16_t u16;
    int16_t i16;
    uint32_t u32;
    int32_t i32;
    float f32;
    uint64_t u64;
    int64_t i64;
    double f64;
#define SCALAR(key, vt, var, want)                                                                 \
    do {                                                                                           \
        memcpy(&var, ue_gguf_kv_data(g, (uint64_t)key_ok(g, key, vt)), sizeof var);                \
        assert_true(var == (want));                                                                \
    } while (0)
    SCALAR("t.u8", UE_GGUF_U8, u8, 200);
    SCALAR("t.i8", UE_GGUF_I8, i8, -100);
    SCALAR("t.u16", UE_GGUF_U16, u16, 60000);
    SCALAR("t.i16", UE_GGUF_I16, i16, -30000);
    SCALAR("t.u32", UE_GGUF_U32, u32, 4000000000u);
    SCALAR("t.i32", UE_GGUF_I32, i32, -2000000000);
    SCALAR("t.f32", UE_GGUF_F32, f32, 1e-6f);
    SCALAR("t.u64", UE_GGUF_U64, u64, 0xfedcba9876543210ull);
    SCALAR("t.i64", UE_GGUF_I64, i64, -1234567890123ll);
    SCALAR("t.f64", UE_GGUF_F64, f64, 3.141592653589793);
    SCALAR("t.true", UE_GGUF_BOOL, u8, 1);
    SCALAR("t.false", UE_GGUF_BOOL, u8, 0);
#undef SCALAR
    assert_str_eq(ue_gguf_kv_str(g, (uint64_t)key_ok(g, "t.str", UE_GGUF_STRING)), "gemma3");
    assert_str_eq(ue_gguf_kv_str(g, (uint64_t)key_ok(g, "t.empty", UE_GGUF_STRING)), "");

    static const struct {
        const char *key;
        ue_gguf_vtype et;
        uint64_t n;
        size_t esize;
    } arrs[] = {{"a.u8", UE_GGUF_U8, 3, 1},   {"a.i8", UE_GGUF_I8, 2, 1},
                {"a.u16", UE_GGUF_U16, 2, 2}, {"a.i16", UE_GGUF_I16, 2, 2},
                {"a.u32", UE_GGUF_U32, 4, 4}, {"a.i32", UE_GGUF_I32, 3, 4},
                {"a.f32", UE_GGUF_F32, 3, 4}, {"a.bool", UE_GGUF_BOOL, 3, 1},
                {"a.u64", UE_GGUF_U64, 2, 8}, {"a.i64", UE_GGUF_I64, 2, 8},
                {"a.f64", UE_GGUF_F64, 2, 8}, {"a.empty", UE_GGUF_U32, 0, 4}};
    for (size_t k = 0; k < sizeof arrs / sizeof arrs[0]; k++) {
        int64_t i = key_ok(g, arrs[k].key, UE_GGUF_ARRAY);
        assert_int_equal(ue_gguf_arr_type(g, (uint64_t)i), arrs[k].et);
        assert_int_equal(ue_gguf_arr_len(g, (uint64_t)i), arrs[k].n);
        assert_non_null(ue_gguf_arr_data(g, (uint64_t)i));
    }
    const uint8_t *p = ue_gguf_arr_data(g, (uint64_t)ue_gguf_find_key(g, "a.u32"));
    uint32_t u32s[4];
    memcpy(u32s, p, sizeof u32s);
    assert_true(u32s[0] == 7 && u32s[1] == 0 && u32s[2] == 9 && u32s[3] == 4294967295u);
    int64_t i64s[2];
    memcpy(i64s, ue_gguf_arr_data(g, (uint64_t)ue_gguf_find_key(g, "a.i64")), sizeof i64s);
    assert_true(i64s[0] == INT64_MIN && i64s[1] == INT64_MAX);
    double f64s[2];
    memcpy(f64s, ue_gguf_arr_data(g, (uint64_t)ue_gguf_find_key(g, "a.f64")), sizeof f64s);
    assert_true(f64s[0] == -0.25 && f64s[1] == 1e300);
    float f32s[3];
    memcpy(f32s, ue_gguf_arr_data(g, (uint64_t)ue_gguf_find_key(g, "a.f32")), sizeof f32s);
    assert_true(f32s[0] == 0.5f && f32s[1] == -2.0f && f32s[2] == 1e30f);
    const uint8_t *bools = ue_gguf_arr_data(g, (uint64_t)ue_gguf_find_key(g, "a.bool"));
    assert_true(bools[0] == 1 && bools[1] == 0 && bools[2] == 1);

    int64_t si = key_ok(g, "a.str", UE_GGUF_ARRAY);
    assert_int_equal(ue_gguf_arr_type(g, (uint64_t)si), UE_GGUF_STRING);
    assert_int_equal(ue_gguf_arr_len(g, (uint64_t)si), 5);
    assert_null(ue_gguf_arr_data(g, (uint64_t)si));
    for (uint64_t i = 5; i-- > 0;) /* any order: indexing is direct */
        assert_str_eq(ue_gguf_arr_str(g, (uint64_t)si, i), k_strs[i]);
    assert_int_equal(ue_gguf_arr_str(g, (uint64_t)si, 5).len, 0);
    int64_t ni = key_ok(g, "a.nostr", UE_GGUF_ARRAY);
    assert_int_equal(ue_gguf_arr_len(g, (uint64_t)ni), 0);
    assert_int_equal(ue_gguf_arr_str(g, (uint64_t)ni, 0).len, 0);

    assert_int_equal(ue_gguf_find_key(g, "t"), -1);
    assert_int_equal(ue_gguf_find_key(g, "t.u8x"), -1);
    assert_int_equal(ue_gguf_find_key(g, ""), -1);
    assert_int_equal(ue_gguf_kv_type(g, 1000), UE_GGUF_VTYPE_COUNT);
    assert_int_equal(ue_gguf_key(g, 1000).len, 0);
    assert_null(ue_gguf_kv_data(g, 1000));
}

static void all_value_types_read_back(uint32_t version) {
    gguf_builder *b = gguf_builder_create();
    gguf_builder_set_version(b, version);
    add_all_types(b);
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    ue_gguf *g = open_ok(bytes, size);
    assert_int_equal(ue_gguf_version(g), version);
    assert_int_equal(ue_gguf_alignment(g), 32);
    assert_int_equal(ue_gguf_file_size(g), size);
    assert_int_equal(ue_gguf_n_tensors(g), 0);
    check_all_types(g);
    ue_gguf_close(g);
    free(bytes);
    gguf_builder_destroy(b);
}

static void test_every_value_type_v3(void **state) {
    (void)state;
    all_value_types_read_back(3);
}

static void test_every_value_type_v2(void **state) {
    (void)state;
    all_value_types_read_back(2);
}

/* Tensors of several types and ranks; data read back through the data pointer. */
static void test_tensors_read_back(void **state) {
    (void)state;
    gguf_builder *b = gguf_builder_create();
    gguf_builder_add_str(b, "general.architecture", "test");
    float w[6] = {1, 2, 3, 4, 5, 6};
    int64_t ne_a[2] = {3, 2}, ne_b[1] = {256}, ne_c[3] = {512, 3, 2}, ne_d[4] = {32, 1, 1, 2};
    char name63[64];
    memset(name63, 'n', 63);
    name63[63] = '\0';
    gguf_builder_add_tensor(b, "a.weight", UE_TYPE_F32, 2, ne_a, w, sizeof w);
    gguf_builder_add_tensor(b, "b", UE_TYPE_F16, 1, ne_b, NULL, 512);
    gguf_builder_add_tensor(b, "c", UE_TYPE_Q4_K, 3, ne_c, NULL, 2 * 6 * 144);
    gguf_builder_add_tensor(b, name63, UE_TYPE_Q8_0, 4, ne_d, NULL, 2 * 34);
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    ue_gguf *g = open_ok(bytes, size);
    assert_int_equal(ue_gguf_n_tensors(g), 4);
    assert_int_equal(ue_gguf_data_offset(g) % 32, 0);

    const ue_gguf_tensor *a = ue_gguf_find_tensor(g, "a.weight");
    assert_ptr_equal(a, ue_gguf_tensor_at(g, 0));
    assert_int_equal(a->n_dims, 2);
    assert_true(a->ne[0] == 3 && a->ne[1] == 2 && a->ne[2] == 1 && a->ne[3] == 1);
    assert_int_equal(a->type, UE_TYPE_F32);
    assert_int_equal(a->n_elements, 6);
    assert_int_equal(a->n_bytes, 24);
    assert_int_equal(a->offset, 0);
    assert_memory_equal(a->data, w, sizeof w);
    assert_ptr_equal(a->data, bytes + ue_gguf_data_offset(g));

    const ue_gguf_tensor *c = ue_gguf_find_tensor(g, "c");
    assert_int_equal(c->type, UE_TYPE_Q4_K);
    assert_int_equal(c->n_elements, 512 * 6);
    assert_int_equal(c->n_bytes, 12 * 144);
    assert_int_equal(c->offset % 32, 0);
    assert_int_equal(((const uint8_t *)c->data)[5], (uint8_t)(5 * 7 + 2));

    const ue_gguf_tensor *d = ue_gguf_find_tensor(g, name63);
    assert_non_null(d);
    assert_int_equal(d->n_dims, 4);
    assert_int_equal(d->n_bytes, 68);
    assert_ptr_equal(d, ue_gguf_tensor_at(g, 3));
    assert_int_equal(ue_gguf_find_tensor(g, "b")->n_bytes, 512);
    assert_null(ue_gguf_find_tensor(g, "a"));
    assert_null(ue_gguf_find_tensor(g, "zzz"));
    assert_null(ue_gguf_tensor_at(g, 4));
    ue_gguf_close(g);
    free(bytes);
    gguf_builder_destroy(b);
}

/* general.alignment = 64 moves the data section and every offset onto 64-byte steps. */
static void test_custom_alignment(void **state) {
    (void)state;
    gguf_builder *b = gguf_builder_create();
    gguf_builder_set_alignment(b, 64);
    gguf_builder_add_u32(b, "general.alignment", 64);
    int64_t ne[1] = {10};
    gguf_builder_add_tensor(b, "x", UE_TYPE_F32, 1, ne, NULL, 40);
    gguf_builder_add_tensor(b, "y", UE_TYPE_F32, 1, ne, NULL, 40);
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    ue_gguf *g = open_ok(bytes, size);
    assert_int_equal(ue_gguf_alignment(g), 64);
    assert_int_equal(ue_gguf_data_offset(g) % 64, 0);
    assert_int_equal(ue_gguf_find_tensor(g, "y")->offset, 64);
    assert_int_equal(((const uint8_t *)ue_gguf_find_tensor(g, "y")->data)[3], (uint8_t)(3 * 7 + 1));
    ue_gguf_close(g);
    free(bytes);
    gguf_builder_destroy(b);
}

static void test_getters_convert(void **state) {
    (void)state;
    gguf_builder *b = gguf_builder_create();
    add_all_types(b);
    gguf_builder_add_u64(b, "c.u64small", 42);
    gguf_builder_add_i8(b, "c.i8pos", 5);
    gguf_builder_add_u32(b, "c.u32one", 1);
    gguf_builder_add_u64(b, "c.big24", (1u << 24) + 1);
    gguf_builder_add_i64(b, "c.negexact", -(1ll << 40));
    gguf_builder_add_f64(b, "c.f64big", 1e300);
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    ue_gguf *g = open_ok(bytes, size);
    ue_error err = {0};
    uint32_t u = 0;
    float f = 0;
    int bo = -1;
    char s[8];

    assert_int_equal(ue_gguf_get_u32(g, "t.u8", 1, &u, &err), UE_OK);
    assert_int_equal(u, 200);
    assert_int_equal(ue_gguf_get_u32(g, "t.u16", 1, &u, &err), UE_OK);
    assert_int_equal(u, 60000);
    assert_int_equal(ue_gguf_get_u32(g, "t.u32", 1, &u, &err), UE_OK);
    assert_int_equal(u, 4000000000u);
    assert_int_equal(ue_gguf_get_u32(g, "c.u64small", 1, &u, &err), UE_OK);
    assert_int_equal(u, 42);
    assert_int_equal(ue_gguf_get_u32(g, "c.i8pos", 1, &u, &err), UE_OK);
    assert_int_equal(u, 5);
    assert_int_equal(ue_gguf_get_u32(g, "t.i32", 1, &u, &err), UE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "'t.i32'"));
    assert_non_null(strstr(err.msg, "-2000000000"));
    assert_int_equal(ue_gguf_get_u32(g, "t.u64", 1, &u, &err), UE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "does not fit u32"));
    assert_int_equal(ue_gguf_get_u32(g, "t.str", 1, &u, &err), UE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "type is string"));
    assert_int_equal(ue_gguf_get_u32(g, "t.f32", 1, &u, &err), UE_ERR_FORMAT);
    assert_int_equal(ue_gguf_get_u32(g, "a.u32", 1, &u, &err), UE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "array of u32"));
    assert_int_equal(u, 5); /* failures leave *out alone */

    u = 77;
    assert_int_equal(ue_gguf_get_u32(g, "nope", 0, &u, &err), UE_OK);
    assert_int_equal(u, 77);
    assert_int_equal(ue_gguf_get_u32(g, "nope", 1, &u, &err), UE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "missing key 'nope'"));

    assert_int_equal(ue_gguf_get_f32(g, "t.f32", 1, &f, &err), UE_OK);
    assert_true(f == 1e-6f);
    assert_int_equal(ue_gguf_get_f32(g, "t.f64", 1, &f, &err), UE_OK);
    assert_true(f == (float)3.141592653589793);
    assert_int_equal(ue_gguf_get_f32(g, "t.u16", 1, &f, &err), UE_OK);
    assert_true(f == 60000.0f);
    assert_int_equal(ue_gguf_get_f32(g, "c.negexact", 1, &f, &err), UE_OK);
    assert_true(f == -1099511627776.0f);
    assert_int_equal(ue_gguf_get_f32(g, "c.big24", 1, &f, &err), UE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not exactly representable"));
    assert_int_equal(ue_gguf_get_f32(g, "c.f64big", 1, &f, &err), UE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "outside the f32 range"));
    assert_int_equal(ue_gguf_get_f32(g, "t.true", 1, &f, &err), UE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "type is bool"));

    assert_int_equal(ue_gguf_get_bool(g, "t.true", 1, &bo, &err), UE_OK);
    assert_int_equal(bo, 1);
    assert_int_equal(ue_gguf_get_bool(g, "t.false", 1, &bo, &err), UE_OK);
    assert_int_equal(bo, 0);
    assert_int_equal(ue_gguf_get_bool(g, "c.u32one", 1, &bo, &err), UE_OK);
    assert_int_equal(bo, 1);
    assert_int_equal(ue_gguf_get_bool(g, "t.u8", 1, &bo, &err), UE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not a bool"));
    assert_int_equal(ue_gguf_get_bool(g, "t.str", 1, &bo, &err), UE_ERR_FORMAT);

    assert_int_equal(ue_gguf_get_str(g, "t.str", 1, s, sizeof s, &err), UE_OK);
    assert_string_equal(s, "gemma3");
    assert_int_equal(ue_gguf_get_str(g, "t.str", 1, s, 4, &err), UE_OK);
    assert_string_equal(s, "gem");
    assert_int_equal(ue_gguf_get_str(g, "t.empty", 1, s, sizeof s, &err), UE_OK);
    assert_string_equal(s, "");
    assert_int_equal(ue_gguf_get_str(g, "t.u8", 1, s, sizeof s, &err), UE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "expected string"));
    assert_int_equal(ue_gguf_get_str(g, "a.str", 1, s, sizeof s, &err), UE_ERR_FORMAT);
    assert_int_equal(ue_gguf_get_str(g, "nope", 1, s, sizeof s, &err), UE_ERR_FORMAT);
    ue_gguf_close(g);
    free(bytes);
    gguf_builder_destroy(b);
}

/* A file with no keys and no tensors is a valid (empty) GGUF. */
static void test_empty_gguf(void **state) {
    (void)state;
    gguf_builder *b = gguf_builder_create();
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    assert_int_equal(size, 24);
    ue_gguf *g = open_ok(bytes, size);
    assert_int_equal(ue_gguf_n_kv(g), 0);
    assert_int_equal(ue_gguf_n_tensors(g), 0);
    assert_int_equal(ue_gguf_data_offset(g), 24); /* no data section, no padding needed */
    assert_int_equal(ue_gguf_find_key(g, "general.name"), -1);
    assert_null(ue_gguf_find_tensor(g, "x"));
    ue_gguf_close(g);
    ue_gguf_close(NULL);
    free(bytes);
    gguf_builder_destroy(b);
}

/* Through a real file: the mapping gives the same view as the bytes in memory. */
static void test_open_path(void **state) {
    (void)state;
    gguf_builder *b = gguf_builder_create();
    add_all_types(b);
    int64_t ne[2] = {4, 4};
    gguf_builder_add_tensor(b, "m", UE_TYPE_F32, 2, ne, NULL, 64);
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    char path[] = "/tmp/ue_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, size), (ssize_t)size);
    close(fd);

    ue_gguf *g = NULL;
    ue_error err = {0};
    assert_int_equal(ue_gguf_open(path, &g, &err), UE_OK);
    check_all_types(g);
    const ue_gguf_tensor *m = ue_gguf_find_tensor(g, "m");
    assert_memory_equal(m->data, bytes + ue_gguf_data_offset(g), 64);
    ue_gguf_close(g);
    unlink(path);

    assert_int_equal(ue_gguf_open(path, &g, &err), UE_ERR_IO);
    assert_null(g);
    assert_non_null(strstr(err.msg, "cannot open"));
    assert_int_not_equal(ue_gguf_open("/tmp", &g, &err), UE_OK);
    assert_non_null(strstr(err.msg, "not a regular file"));
    fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    close(fd);
    assert_int_equal(ue_gguf_open(path, &g, &err), UE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "empty"));
    unlink(path);
    free(bytes);
    gguf_builder_destroy(b);
}

/* Resident kB of the mapping that holds addr (/proc/self/smaps), -1 when not found. */
static long rss_kb_of(const void *addr) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    int in = 0;
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
            continue;
        }
        if (in && sscanf(line, "Rss: %ld kB", &kb) == 1) break;
    }
    fclose(f);
    return kb;
}

/* 300 strings of 0..599 bytes: the sparse offset index (one per 16) walks to each one in
 * any order; releasing the metadata pages of a file drops them from this process and a
 * later read maps them again; over caller's memory releasing changes nothing. */
static void test_string_array_and_release(void **state) {
    (void)state;
    enum { N = 300 };
    char *text[N];
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)(i * 37 % 600);
        text[i] = malloc(len + 1);
        for (size_t k = 0; k < len; k++) text[i][k] = (char)('!' + (i + k) % 90);
        text[i][len] = '\0';
    }
    gguf_builder *b = gguf_builder_create();
    gguf_builder_add_arr_str(b, "t.many", (const char *const *)text, N);
    int64_t ne[1] = {1024};
    gguf_builder_add_tensor(b, "w", UE_TYPE_F32, 1, ne, NULL, 4096);
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    char path[] = "/tmp/ue_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, size), (ssize_t)size);
    close(fd);

    ue_gguf *gf = NULL, *gm = open_ok(bytes, size);
    ue_error err = {0};
    assert_int_equal(ue_gguf_open(path, &gf, &err), UE_OK);
    assert_true(ue_gguf_data_offset(gf) > 3 * 4096); /* the metadata spans whole pages */
    ue_gguf *both[2] = {gf, gm};
    for (int pass = 0; pass < 2; pass++) {
        for (int j = 0; j < 2; j++) {
            int64_t k = key_ok(both[j], "t.many", UE_GGUF_ARRAY);
            for (int i = N - 1; i >= 0; i--)
                assert_str_eq(ue_gguf_arr_str(both[j], (uint64_t)k, (uint64_t)i), text[i]);
            for (int i = 0; i < N; i++) {
                int r = i * 131 % N;
                assert_str_eq(ue_gguf_arr_str(both[j], (uint64_t)k, (uint64_t)r), text[r]);
            }
            assert_int_equal(ue_gguf_arr_str(both[j], (uint64_t)k, N).len, 0);
            assert_memory_equal(ue_gguf_find_tensor(both[j], "w")->data,
                                bytes + ue_gguf_data_offset(both[j]), 4096);
        }
        if (pass == 0) {
            const void *meta = ue_gguf_key(gf, 0).ptr;
            long before = rss_kb_of(meta);
            ue_gguf_release_metadata(gf);
            ue_gguf_release_metadata(gm);
            long after = rss_kb_of(meta);
            printf("file mapping resident: %ld kB, after release %ld kB\n", before, after);
            if (before >= 0) assert_true(after <= before - 12); /* three pages or more */
        }
    }
    ue_gguf_close(gf);
    ue_gguf_close(gm);
    unlink(path);
    free(bytes);
    gguf_builder_destroy(b);
    for (int i = 0; i < N; i++) free(text[i]);
}

/* Files written by the reference Python writer (gguf package; tools/make_gguf_seeds.py),
 * which double as the fuzz seeds: a second implementation agrees with ours. */
static void test_reference_writer_files(void **state) {
    (void)state;
    ue_gguf *g = NULL;
    ue_error err = {0};
    if (ue_gguf_open("fuzz/seeds/gguf/all_types.gguf", &g, &err)) fail_msg("%s", err.msg);
    uint32_t u = 0;
    assert_int_equal(ue_gguf_get_u32(g, "t.u32", 1, &u, &err), UE_OK);
    assert_int_equal(u, 4000000000u);
    uint64_t u64;
    memcpy(&u64, ue_gguf_kv_data(g, (uint64_t)key_ok(g, "t.u64", UE_GGUF_U64)), 8);
    assert_true(u64 == (1ull << 63) + 5);
    assert_str_eq(ue_gguf_kv_str(g, (uint64_t)key_ok(g, "t.str", UE_GGUF_STRING)),
                  "hello \xe2\x96\x81world");
    int64_t si = key_ok(g, "a.str", UE_GGUF_ARRAY);
    assert_str_eq(ue_gguf_arr_str(g, (uint64_t)si, 1), "<eos>");
    assert_str_eq(ue_gguf_arr_str(g, (uint64_t)si, 2), "");
    assert_str_eq(ue_gguf_arr_str(g, (uint64_t)si, 3), "\xe2\x96\x81" "a");
    const ue_gguf_tensor *a = ue_gguf_find_tensor(g, "a.weight");
    assert_true(a && a->ne[0] == 4 && a->ne[1] == 2 && a->type == UE_TYPE_F32);
    float v[8];
    memcpy(v, a->data, sizeof v);
    for (int i = 0; i < 8; i++) assert_true(v[i] == (float)i);
    ue_gguf_close(g);

    if (ue_gguf_open("fuzz/seeds/gguf/quant.gguf", &g, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ue_gguf_alignment(g), 64);
    assert_int_equal(ue_gguf_find_tensor(g, "q4k.weight")->type, UE_TYPE_Q4_K);
    assert_int_equal(ue_gguf_find_tensor(g, "q4k.weight")->offset, 64);
    ue_gguf_close(g);
    if (ue_gguf_open("fuzz/seeds/gguf/v2.gguf", &g, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ue_gguf_version(g), 2);
    assert_int_equal(ue_gguf_n_tensors(g), 3);
    ue_gguf_close(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_value_type_v3), cmocka_unit_test(test_every_value_type_v2),
        cmocka_unit_test(test_tensors_read_back),   cmocka_unit_test(test_custom_alignment),
        cmocka_unit_test(test_getters_convert),     cmocka_unit_test(test_empty_gguf),
        cmocka_unit_test(test_open_path),
        cmocka_unit_test(test_string_array_and_release),
        cmocka_unit_test(test_reference_writer_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
