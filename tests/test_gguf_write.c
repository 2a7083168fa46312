/* GGUF writer (src/core/gguf_write.h): files written with every metadata value type,
 * string arrays (empty strings, NUL bytes, UTF-8), scalar arrays of every type and
 * tensors of several types and ranks, streamed in odd-sized chunks that span tensors,
 * read back with the project's reader (core/gguf.h): every value and data byte exact,
 * offsets aligned and equal to the running sum of padded sizes, file size as predicted.
 * Also every misuse the writer rejects, and write failures. */
#include "test_util.h"

#include "core/gguf.h"
#include "core/gguf_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct test_tensor {
    const char *name;
    ue_type type;
    uint32_t n_dims;
    int64_t ne[4];
} test_tensor;

static const test_tensor k_tensors[] = {
    {"a.f32", UE_TYPE_F32, 1, {7}},
    {"blk.0.q4_k", UE_TYPE_Q4_K, 2, {256, 3}},
    {"q8_0.three_dims", UE_TYPE_Q8_0, 3, {32, 5, 2}},
    {"f16.four_dims", UE_TYPE_F16, 4, {3, 1, 1, 2}},
    {"x", UE_TYPE_Q6_K, 2, {512, 1}},
};
#define N_TENSORS (sizeof k_tensors / sizeof k_tensors[0])

static uint8_t pattern_byte(uint64_t tensor, uint64_t i) {
    return (uint8_t)((i * 131u + tensor * 17u + (i >> 8)) & 0xff);
}

/* Bytes of the five scalar values used below. */
static const int8_t v_i8 = -7;
static const int16_t v_i16 = -12345;
static const uint16_t v_u16 = 65000;
static const int32_t v_i32 = -2000000000;
static const uint64_t v_u64 = 0xfedcba9876543210ull;
static const int64_t v_i64 = -0x123456789abcdefll;
static const double v_f64 = 3.141592653589793;

static const char *k_strs[] = {"<pad>", "", "\xe2\x96\x81hello", "a\0b", "<0x0A>"};
static const uint64_t k_lens[] = {5, 0, 8, 3, 6};

static void build(ue_gguf_writer *w) {
    ue_error err;
    uint8_t u8 = 200, b = 1;
    assert_int_equal(ue_gguf_writer_add_scalar(w, "t.u8", UE_GGUF_U8, &u8, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_scalar(w, "t.i8", UE_GGUF_I8, &v_i8, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_scalar(w, "t.u16", UE_GGUF_U16, &v_u16, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_scalar(w, "t.i16", UE_GGUF_I16, &v_i16, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_u32(w, "t.u32", 4000000000u, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_scalar(w, "t.i32", UE_GGUF_I32, &v_i32, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_f32(w, "t.f32", -0.0f, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_scalar(w, "t.bool", UE_GGUF_BOOL, &b, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_bool(w, "t.false", 0, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_str(w, "t.str", "gemma3 \xc3\xa9", &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_str(w, "t.empty", "", &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_scalar(w, "t.u64", UE_GGUF_U64, &v_u64, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_scalar(w, "t.i64", UE_GGUF_I64, &v_i64, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_scalar(w, "t.f64", UE_GGUF_F64, &v_f64, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_str_array(w, "t.strs", k_strs, k_lens, 5, &err), UE_OK);
    const char *plain[] = {"one", "two"};
    assert_int_equal(ue_gguf_writer_add_str_array(w, "t.plain", plain, NULL, 2, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_str_array(w, "t.nostrs", plain, NULL, 0, &err), UE_OK);
    float f[3] = {1.5f, -1e-30f, 1e30f};
    int32_t i32[4] = {3, -3, 2147483647, -2147483647 - 1};
    uint8_t bools[3] = {1, 0, 1};
    int16_t i16[2] = {-1, 2};
    double f64[2] = {-2.5, 1e300};
    uint64_t u64[1] = {~0ull};
    assert_int_equal(ue_gguf_writer_add_array(w, "a.f32", UE_GGUF_F32, f, 3, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_array(w, "a.i32", UE_GGUF_I32, i32, 4, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_array(w, "a.bool", UE_GGUF_BOOL, bools, 3, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_array(w, "a.i16", UE_GGUF_I16, i16, 2, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_array(w, "a.f64", UE_GGUF_F64, f64, 2, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_array(w, "a.u64", UE_GGUF_U64, u64, 1, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_array(w, "a.empty", UE_GGUF_U8, NULL, 0, &err), UE_OK);
    for (size_t i = 0; i < N_TENSORS; i++)
        assert_int_equal(ue_gguf_writer_add_tensor(w, k_tensors[i].name, k_tensors[i].type,
                                                   k_tensors[i].n_dims, k_tensors[i].ne, &err),
                         UE_OK);
}

/* Streams the data in chunks of `chunk` bytes that ignore tensor boundaries. */
static void write_data(ue_gguf_writer *w, size_t chunk) {
    uint64_t total = 0;
    for (uint64_t t = 0; t < N_TENSORS; t++) total += ue_gguf_writer_tensor_bytes(w, t);
    uint8_t *all = malloc(total);
    assert_non_null(all);
    uint64_t at = 0;
    for (uint64_t t = 0; t < N_TENSORS; t++)
        for (uint64_t i = 0; i < ue_gguf_writer_tensor_bytes(w, t); i++) all[at++] = pattern_byte(t, i);
    ue_error err;
    for (uint64_t off = 0; off < total; off += chunk) {
        size_t n = total - off < chunk ? (size_t)(total - off) : chunk;
        assert_int_equal(ue_gguf_writer_write(w, all + off, n, &err), UE_OK);
    }
    free(all);
    assert_int_equal(ue_gguf_writer_end(w, &err), UE_OK);
}

static const void *kv_data(const ue_gguf *g, const char *key, ue_gguf_vtype type) {
    int64_t k = ue_gguf_find_key(g, key);
    assert_true(k >= 0);
    assert_int_equal(ue_gguf_kv_type(g, (uint64_t)k), type);
    return ue_gguf_kv_data(g, (uint64_t)k);
}

static void check_file(const ue_gguf *g, uint32_t alignment, uint64_t predicted_size) {
    assert_int_equal(ue_gguf_version(g), 3);
    assert_int_equal(ue_gguf_alignment(g), alignment);
    assert_true(ue_gguf_file_size(g) == predicted_size);
    assert_int_equal(ue_gguf_find_key(g, "general.alignment") >= 0, alignment != 32);
    assert_int_equal(*(const uint8_t *)kv_data(g, "t.u8", UE_GGUF_U8), 200);
    assert_memory_equal(kv_data(g, "t.i8", UE_GGUF_I8), &v_i8, 1);
    assert_memory_equal(kv_data(g, "t.u16", UE_GGUF_U16), &v_u16, 2);
    assert_memory_equal(kv_data(g, "t.i16", UE_GGUF_I16), &v_i16, 2);
    uint32_t u32;
    ue_error err;
    assert_int_equal(ue_gguf_get_u32(g, "t.u32", 1, &u32, &err), UE_OK);
    assert_true(u32 == 4000000000u);
    assert_memory_equal(kv_data(g, "t.i32", UE_GGUF_I32), &v_i32, 4);
    float neg_zero = -0.0f;
    assert_memory_equal(kv_data(g, "t.f32", UE_GGUF_F32), &neg_zero, 4);
    int b = 0;
    assert_int_equal(ue_gguf_get_bool(g, "t.bool", 1, &b, &err), UE_OK);
    assert_int_equal(b, 1);
    assert_int_equal(ue_gguf_get_bool(g, "t.false", 1, &b, &err), UE_OK);
    assert_int_equal(b, 0);
    char s[64];
    assert_int_equal(ue_gguf_get_str(g, "t.str", 1, s, sizeof s, &err), UE_OK);
    assert_string_equal(s, "gemma3 \xc3\xa9");
    assert_int_equal(ue_gguf_get_str(g, "t.empty", 1, s, sizeof s, &err), UE_OK);
    assert_string_equal(s, "");
    assert_memory_equal(kv_data(g, "t.u64", UE_GGUF_U64), &v_u64, 8);
    assert_memory_equal(kv_data(g, "t.i64", UE_GGUF_I64), &v_i64, 8);
    assert_memory_equal(kv_data(g, "t.f64", UE_GGUF_F64), &v_f64, 8);

    int64_t k = ue_gguf_find_key(g, "t.strs");
    assert_true(k >= 0);
    assert_int_equal(ue_gguf_arr_type(g, (uint64_t)k), UE_GGUF_STRING);
    assert_int_equal(ue_gguf_arr_len(g, (uint64_t)k), 5);
    for (uint64_t i = 0; i < 5; i++) {
        ue_gguf_str e = ue_gguf_arr_str(g, (uint64_t)k, i);
        assert_true(e.len == k_lens[i]);
        if (e.len) assert_memory_equal(e.ptr, k_strs[i], e.len);
    }
    k = ue_gguf_find_key(g, "t.plain");
    assert_int_equal(ue_gguf_arr_len(g, (uint64_t)k), 2);
    ue_gguf_str two = ue_gguf_arr_str(g, (uint64_t)k, 1);
    assert_true(two.len == 3 && !memcmp(two.ptr, "two", 3));
    assert_int_equal(ue_gguf_arr_len(g, (uint64_t)ue_gguf_find_key(g, "t.nostrs")), 0);

    struct { const char *key; ue_gguf_vtype type; uint64_t n; size_t size; } arrs[] = {
        {"a.f32", UE_GGUF_F32, 3, 4}, {"a.i32", UE_GGUF_I32, 4, 4}, {"a.bool", UE_GGUF_BOOL, 3, 1},
        {"a.i16", UE_GGUF_I16, 2, 2}, {"a.f64", UE_GGUF_F64, 2, 8}, {"a.u64", UE_GGUF_U64, 1, 8},
        {"a.empty", UE_GGUF_U8, 0, 1},
    };
    float f[3] = {1.5f, -1e-30f, 1e30f};
    int32_t i32[4] = {3, -3, 2147483647, -2147483647 - 1};
    uint8_t bools[3] = {1, 0, 1};
    int16_t i16[2] = {-1, 2};
    double f64[2] = {-2.5, 1e300};
    uint64_t u64[1] = {~0ull};
    const void *want[] = {f, i32, bools, i16, f64, u64, NULL};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        k = ue_gguf_find_key(g, arrs[i].key);
        assert_true(k >= 0);
        assert_int_equal(ue_gguf_kv_type(g, (uint64_t)k), UE_GGUF_ARRAY);
        assert_int_equal(ue_gguf_arr_type(g, (uint64_t)k), arrs[i].type);
        assert_true(ue_gguf_arr_len(g, (uint64_t)k) == arrs[i].n);
        if (arrs[i].n)
            assert_memory_equal(ue_gguf_arr_data(g, (uint64_t)k), want[i], arrs[i].n * arrs[i].size);
    }

    assert_int_equal(ue_gguf_n_tensors(g), N_TENSORS);
    uint64_t expect_off = 0;
    for (uint64_t t = 0; t < N_TENSORS; t++) {
        const ue_gguf_tensor *tt = ue_gguf_tensor_at(g, t);
        assert_string_equal(tt->name, k_tensors[t].name);
        assert_int_equal(tt->type, k_tensors[t].type);
        assert_int_equal(tt->n_dims, k_tensors[t].n_dims);
        for (uint32_t d = 0; d < 4; d++)
            assert_int_equal(tt->ne[d], d < k_tensors[t].n_dims ? k_tensors[t].ne[d] : 1);
        assert_true(tt->offset == expect_off);
        assert_int_equal(tt->offset % alignment, 0);
        assert_int_equal((ue_gguf_data_offset(g)) % alignment, 0);
        const uint8_t *p = tt->data;
        for (uint64_t i = 0; i < tt->n_bytes; i++) assert_int_equal(p[i], pattern_byte(t, i));
        expect_off += (tt->n_bytes + alignment - 1) / alignment * alignment;
    }
    assert_true(ue_gguf_data_offset(g) + expect_off == ue_gguf_file_size(g));
}

static void test_round_trip_file(void **state) {
    (void)state;
    const uint32_t aligns[] = {32, 64, 8, 1};
    const size_t chunks[] = {37, 1, 100000, 4096};
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
        char path[] = "/tmp/ue_gguf_write_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        FILE *f = fdopen(fd, "wb");
        assert_non_null(f);
        ue_gguf_writer *w;
        ue_error err;
        assert_int_equal(ue_gguf_writer_create(aligns[a], &w, &err), UE_OK);
        build(w);
        uint64_t predicted = ue_gguf_writer_file_size(w);
        assert_int_equal(ue_gguf_writer_begin(w, f, &err), UE_OK);
        write_data(w, chunks[a]);
        ue_gguf_writer_destroy(w);
        assert_int_equal(fclose(f), 0);

        ue_gguf *g;
        ue_status st = ue_gguf_open(path, &g, &err);
        if (st != UE_OK) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(st, UE_OK);
        check_file(g, aligns[a], predicted);
        ue_gguf_close(g);
        unlink(path);
    }
}

/* The same through a memory stream and the in-memory reader. */
static void test_round_trip_memstream(void **state) {
    (void)state;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    ue_gguf_writer *w;
    ue_error err;
    assert_int_equal(ue_gguf_writer_create(0, &w, &err), UE_OK);
    build(w);
    uint64_t predicted = ue_gguf_writer_file_size(w);
    assert_int_equal(ue_gguf_writer_begin(w, f, &err), UE_OK);
    write_data(w, 999);
    ue_gguf_writer_destroy(w);
    assert_int_equal(fclose(f), 0);
    assert_true(size == predicted);
    ue_gguf *g;
    assert_int_equal(ue_gguf_open_memory(buf, size, &g, &err), UE_OK);
    check_file(g, 32, predicted);
    ue_gguf_close(g);
    free(buf);
}

static void test_misuse(void **state) {
    (void)state;
    ue_gguf_writer *w;
    ue_error err;
    assert_int_equal(ue_gguf_writer_create(48, &w, &err), UE_ERR_ARGUMENT);
    assert_null(w);
    assert_int_equal(ue_gguf_writer_create(32, &w, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_u32(w, "k", 1, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_u32(w, "k", 2, &err), UE_ERR_ARGUMENT);
    assert_non_null(strstr(err.msg, "'k'"));
    assert_int_equal(ue_gguf_writer_add_u32(w, "", 2, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_gguf_writer_add_u32(w, "general.alignment", 64, &err), UE_ERR_ARGUMENT);
    uint8_t two = 2;
    assert_int_equal(ue_gguf_writer_add_scalar(w, "b", UE_GGUF_BOOL, &two, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_gguf_writer_add_scalar(w, "s", UE_GGUF_STRING, "x", &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_gguf_writer_add_array(w, "a", UE_GGUF_STRING, "x", 1, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_gguf_writer_add_array(w, "a", UE_GGUF_BOOL, &two, 1, &err), UE_ERR_ARGUMENT);

    int64_t ne[4] = {256, 2, 1, 1};
    char long_name[65];
    memset(long_name, 'n', 64);
    long_name[64] = '\0';
    assert_int_equal(ue_gguf_writer_add_tensor(w, long_name, UE_TYPE_F32, 1, ne, &err), UE_ERR_ARGUMENT);
    long_name[63] = '\0'; /* 63 bytes: the longest allowed */
    assert_int_equal(ue_gguf_writer_add_tensor(w, long_name, UE_TYPE_F32, 1, ne, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_add_tensor(w, long_name, UE_TYPE_F32, 1, ne, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_gguf_writer_add_tensor(w, "z", UE_TYPE_F32, 0, ne, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_gguf_writer_add_tensor(w, "z", UE_TYPE_F32, 5, ne, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_gguf_writer_add_tensor(w, "z", (ue_type)4, 1, ne, &err), UE_ERR_ARGUMENT);
    int64_t odd[2] = {100, 2};
    assert_int_equal(ue_gguf_writer_add_tensor(w, "z", UE_TYPE_Q4_K, 2, odd, &err), UE_ERR_ARGUMENT);
    assert_non_null(strstr(err.msg, "block size 256"));
    int64_t zero[2] = {32, 0};
    assert_int_equal(ue_gguf_writer_add_tensor(w, "z", UE_TYPE_Q8_0, 2, zero, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_gguf_writer_add_tensor(w, "q", UE_TYPE_Q8_0, 2, ne, &err), UE_OK);

    uint8_t data[2048] = {0};
    assert_int_equal(ue_gguf_writer_write(w, data, 1, &err), UE_ERR_ARGUMENT); /* before begin */
    assert_int_equal(ue_gguf_writer_end(w, &err), UE_ERR_ARGUMENT);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_int_equal(ue_gguf_writer_begin(w, f, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_begin(w, f, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_gguf_writer_add_u32(w, "late", 1, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_gguf_writer_add_tensor(w, "late", UE_TYPE_F32, 1, ne, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_gguf_writer_write(w, data, 1024, &err), UE_OK); /* the F32 tensor */
    assert_int_equal(ue_gguf_writer_end(w, &err), UE_ERR_ARGUMENT);      /* q missing */
    assert_non_null(strstr(err.msg, "'q' got 0 of 544 bytes"));
    assert_int_equal(ue_gguf_writer_write(w, data, 545, &err), UE_ERR_ARGUMENT);
    assert_non_null(strstr(err.msg, "only need 544 more"));
    assert_int_equal(ue_gguf_writer_end(w, &err), UE_ERR_ARGUMENT); /* nothing was written */
    assert_int_equal(ue_gguf_writer_write(w, data, 544, &err), UE_OK);
    assert_int_equal(ue_gguf_writer_write(w, data, 1, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_gguf_writer_end(w, &err), UE_OK);
    ue_gguf_writer_destroy(w);
    fclose(f);
    free(buf);
    ue_gguf_writer_destroy(NULL);
}

/* A device that refuses every byte: the error comes back as UE_ERR_IO, at the latest
 * from end's flush. */
static void test_write_failure(void **state) {
    (void)state;
    FILE *f = fopen("/dev/full", "wb");
    if (!f) skip();
    ue_gguf_writer *w;
    ue_error err;
    assert_int_equal(ue_gguf_writer_create(0, &w, &err), UE_OK);
    int64_t ne[1] = {1 << 20};
    assert_int_equal(ue_gguf_writer_add_tensor(w, "big", UE_TYPE_F32, 1, ne, &err), UE_OK);
    static uint8_t data[4 << 20];
    ue_status st = ue_gguf_writer_begin(w, f, &err);
    if (st == UE_OK) st = ue_gguf_writer_write(w, data, sizeof data, &err);
    if (st == UE_OK) st = ue_gguf_writer_end(w, &err);
    assert_int_equal(st, UE_ERR_IO);
    assert_int_equal(ue_gguf_writer_end(w, &err), UE_ERR_IO);
    ue_gguf_writer_destroy(w);
    fclose(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_file),
        cmocka_unit_test(test_round_trip_memstream),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_write_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
