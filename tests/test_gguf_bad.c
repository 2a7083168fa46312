/* GGUF reader on crafted bad files: each must fail with one error line that names the
 * field, never crash or over-read (run under ASan with `make SAN=1 test`). Also every
 * truncation and every single-byte corruption of a small valid file. */
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"
#include "gguf_builder.h"
#include "test_util.h"

/* Opens a private, exactly-sized copy so ASan sees any read past the end. */
static ue_status open_copy(const uint8_t *bytes, size_t size, ue_error *err) {
    uint8_t *copy = malloc(size ? size : 1);
    assert_non_null(copy);
    if (size) memcpy(copy, bytes, size);
    ue_gguf *g = (ue_gguf *)1;
    ue_status st = ue_gguf_open_memory(copy, size, &g, err);
    if (st == UE_OK) {
        assert_non_null(g);
        ue_gguf_close(g);
    } else {
        assert_null(g);
        assert_true(err->msg[0] != '\0');
        assert_null(strchr(err->msg, '\n'));
    }
    free(copy);
    return st;
}

/* Finishes b, expects failure with every non-NULL substring in the message. */
static void expect_fail(gguf_builder *b, const char *s1, const char *s2) {
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    ue_error err = {0};
    ue_status st = open_copy(bytes, size, &err);
    if (st == UE_OK) fail_msg("file was accepted, expected an error with '%s'", s1);
    if (s1 && !strstr(err.msg, s1)) fail_msg("error '%s' lacks '%s'", err.msg, s1);
    if (s2 && !strstr(err.msg, s2)) fail_msg("error '%s' lacks '%s'", err.msg, s2);
    print_message("  ok: %s\n", err.msg);
    free(bytes);
    gguf_builder_destroy(b);
}

/* A small valid file: a few keys of several types, two tensors. */
static gguf_builder *small_valid(void) {
    gguf_builder *b = gguf_builder_create();
    gguf_builder_add_str(b, "general.architecture", "gemma3");
    gguf_builder_add_u32(b, "gemma3.block_count", 1);
    gguf_builder_add_f32(b, "gemma3.eps", 1e-6f);
    gguf_builder_add_bool(b, "flag", 1);
    static const char *const toks[] = {"<pad>", "<eos>", ""};
    gguf_builder_add_arr_str(b, "tokenizer.ggml.tokens", toks, 3);
    int32_t types[3] = {3, 3, 1};
    gguf_builder_add_arr(b, "tokenizer.ggml.token_type", 5, types, 3);
    int64_t ne_a[2] = {4, 2}, ne_b[1] = {32};
    gguf_builder_add_tensor(b, "a.weight", UE_TYPE_F32, 2, ne_a, NULL, 32);
    gguf_builder_add_tensor(b, "b.weight", UE_TYPE_Q8_0, 1, ne_b, NULL, 34);
    return b;
}

static gguf_builder *one_tensor(const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                                size_t bytes) {
    gguf_builder *b = gguf_builder_create();
    gguf_builder_add_str(b, "general.architecture", "x");
    gguf_builder_add_tensor(b, name, type, n_dims, ne, NULL, bytes);
    return b;
}

static void test_small_valid_file_opens(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    ue_error err = {0};
    assert_int_equal(open_copy(bytes, size, &err), UE_OK);
    free(bytes);
    gguf_builder_destroy(b);
}

/* Every prefix shorter than the end of the last tensor's data must fail cleanly. */
static void test_truncated_at_every_byte(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    for (size_t n = 0; n < size; n++) {
        ue_error err = {0};
        if (open_copy(bytes, n, &err) == UE_OK)
            fail_msg("prefix of %zu/%zu bytes accepted", n, size);
        assert_int_equal(err.code, UE_ERR_FORMAT);
    }
    free(bytes);
    gguf_builder_destroy(b);
}

/* Each byte replaced by a few values: any outcome but a crash or over-read. */
static void test_every_byte_corrupted(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    for (size_t i = 0; i < size; i++) {
        uint8_t keep = bytes[i];
        for (size_t v = 0; v < sizeof vals; v++) {
            bytes[i] = vals[v];
            ue_error err = {0};
            (void)open_copy(bytes, size, &err);
        }
        bytes[i] = keep;
    }
    free(bytes);
    gguf_builder_destroy(b);
}

/* ---- header ---- */

static void test_bad_magic(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_set_magic(b, 0x4c4d4747); /* "GGML" */
    expect_fail(b, "not a GGUF file", "magic");
}

static void test_version_1(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_set_version(b, 1);
    expect_fail(b, "version 1 is not supported", NULL);
}

static void test_version_4(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_set_version(b, 4);
    expect_fail(b, "version 4 is not supported", "expected 2 or 3");
}

static void test_version_0(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_set_version(b, 0);
    expect_fail(b, "version 0 is not supported", NULL);
}

static void test_version_byte_swapped(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_set_version(b, 0x03000000);
    expect_fail(b, "big-endian", "0x03000000");
}

static void test_huge_n_kv(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_set_n_kv(b, (uint64_t)1 << 40);
    expect_fail(b, "n_kv is 1099511627776", "at most");
}

static void test_huge_n_tensors(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_set_n_tensors(b, UINT64_MAX);
    expect_fail(b, "n_tensors is 18446744073709551615", NULL);
}

static void test_n_tensors_more_than_infos(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_set_n_tensors(b, 3);
    expect_fail(b, "tensor #2", NULL);
}

static void test_n_kv_more_than_pairs(void **state) {
    (void)state;
    gguf_builder *b = gguf_builder_create();
    char text[101];
    memset(text, 't', 100);
    text[100] = '\0';
    gguf_builder_add_str(b, "a", text); /* long enough that 2 pairs pass the count bound */
    gguf_builder_set_n_kv(b, 2);
    expect_fail(b, "metadata key #1", "runs past the end");
}

/* ---- metadata ---- */

static void test_huge_key_length(void **state) {
    (void)state;
    gguf_builder *b = gguf_builder_create();
    uint8_t raw[32];
    size_t n = gguf_put_u64(raw, (uint64_t)1 << 62);
    memcpy(raw + n, "abcdefgh", 8);
    gguf_builder_add_raw_kv(b, raw, n + 8);
    expect_fail(b, "metadata key #0: key (4611686018427387904 bytes) runs past", "file size");
}

static void test_empty_key(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_add_u32(b, "", 5);
    expect_fail(b, "metadata key #6: key is empty", NULL);
}

static void test_duplicate_key(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_add_u8(b, "gemma3.block_count", 2);
    expect_fail(b, "metadata key 'gemma3.block_count' appears more than once", NULL);
}

static void test_huge_string_value(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    uint8_t raw[16];
    size_t n = gguf_put_u64(raw, UINT64_MAX);
    memcpy(raw + n, "abc", 3);
    gguf_builder_add_raw(b, "general.name", 8, raw, n + 3);
    expect_fail(b, "metadata key 'general.name': string value (18446744073709551615 bytes)",
                "runs past the end");
}

static void test_value_type_13(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_add_raw(b, "k.bad", 13, "\0\0\0\0", 4);
    expect_fail(b, "metadata key 'k.bad': value type 13 is not a GGUF value type", NULL);
}

static void test_value_type_huge(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_add_raw(b, "k.bad", 0xffffffffu, "\0\0\0\0", 4);
    expect_fail(b, "value type 4294967295", NULL);
}

static void test_bool_value_2(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_add_raw(b, "tokenizer.ggml.add_bos_token", 7, "\x02", 1);
    expect_fail(b, "'tokenizer.ggml.add_bos_token': bool value is 2, expected 0 or 1", NULL);
}

static void test_bool_array_element_2(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    uint8_t v[3] = {1, 2, 0};
    gguf_builder_add_arr(b, "pattern", 7, v, 3);
    expect_fail(b, "'pattern': bool element 1 is 2", NULL);
}

static void test_array_elem_type(uint32_t et, const char *want) {
    gguf_builder *b = small_valid();
    uint8_t raw[16];
    size_t n = gguf_put_u32(raw, et);
    n += gguf_put_u64(raw + n, 1);
    memset(raw + n, 0, 4);
    gguf_builder_add_raw(b, "arr", 9, raw, n + 4);
    expect_fail(b, want, NULL);
}

static void test_array_elem_type_13(void **state) {
    (void)state;
    test_array_elem_type(13, "'arr': array element type 13 is not a GGUF value type");
}

static void test_array_elem_type_99(void **state) {
    (void)state;
    test_array_elem_type(99, "'arr': array element type 99");
}

static void test_nested_array(void **state) {
    (void)state;
    test_array_elem_type(9, "'arr': arrays of arrays are not supported");
}

static void test_huge_array_count(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    uint8_t raw[16];
    size_t n = gguf_put_u32(raw, 4);
    n += gguf_put_u64(raw + n, (uint64_t)1 << 62); /* * 4 bytes overflows u64 */
    gguf_builder_add_raw(b, "arr", 9, raw, n);
    expect_fail(b, "'arr': array of 4611686018427387904 u32 runs past the end", NULL);
}

static void test_huge_string_array_count(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    uint8_t raw[16];
    size_t n = gguf_put_u32(raw, 8);
    n += gguf_put_u64(raw + n, 262144);
    gguf_builder_add_raw(b, "tokenizer.ggml.merges", 9, raw, n);
    expect_fail(b, "'tokenizer.ggml.merges': array of 262144 strings runs past the end", NULL);
}

/* The count fits the bytes left (8 each) but the strings themselves run out. */
static void test_string_array_short_by_one(void **state) {
    (void)state;
    gguf_builder *b = gguf_builder_create();
    uint8_t raw[128];
    size_t n = gguf_put_u32(raw, 8);
    n += gguf_put_u64(raw + n, 4);
    n += gguf_put_str(raw + n, "ab");
    n += gguf_put_str(raw + n, "cd");
    n += gguf_put_u64(raw + n, 100); /* third string claims 100 bytes */
    memset(raw + n, 'x', 20);
    gguf_builder_add_raw(b, "toks", 9, raw, n + 20);
    expect_fail(b, "'toks': string 2 of 4 (100 bytes) runs past the end", NULL);
}

static void test_alignment_zero(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_add_u32(b, "general.alignment", 0);
    expect_fail(b, "'general.alignment' is 0, expected a nonzero power of two", NULL);
}

static void test_alignment_not_power_of_two(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_add_u32(b, "general.alignment", 48);
    expect_fail(b, "'general.alignment' is 48", NULL);
}

static void test_alignment_wrong_type(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_add_u64(b, "general.alignment", 32);
    expect_fail(b, "'general.alignment': type is u64, expected u32", NULL);
}

/* ---- tensor infos ---- */

static void test_n_dims_0(void **state) {
    (void)state;
    int64_t ne[1] = {4};
    expect_fail(one_tensor("t0", UE_TYPE_F32, 0, ne, 4), "tensor 't0': n_dims is 0, expected 1..4",
                NULL);
}

static void test_n_dims_5(void **state) {
    (void)state;
    int64_t ne[5] = {4, 1, 1, 1, 1};
    expect_fail(one_tensor("blk.0.attn_q.weight", UE_TYPE_F32, 5, ne, 16),
                "tensor 'blk.0.attn_q.weight': n_dims is 5, expected 1..4", NULL);
}

static void test_ne_negative(void **state) {
    (void)state;
    int64_t ne[2] = {4, -3};
    expect_fail(one_tensor("t", UE_TYPE_F32, 2, ne, 16), "tensor 't': ne[1] is -3, expected >= 1",
                NULL);
}

static void test_ne_zero(void **state) {
    (void)state;
    int64_t ne[2] = {0, 4};
    expect_fail(one_tensor("t", UE_TYPE_F32, 2, ne, 16), "tensor 't': ne[0] is 0", NULL);
}

static void test_dims_product_overflows(void **state) {
    (void)state;
    int64_t ne[3] = {(int64_t)1 << 32, (int64_t)1 << 31, 2};
    expect_fail(one_tensor("t", UE_TYPE_F32, 3, ne, 16), "more than 2^63 elements", "at ne[1]");
}

static void test_byte_size_overflows(void **state) {
    (void)state;
    int64_t ne[2] = {(int64_t)1 << 32, (int64_t)1 << 30}; /* 2^62 f64 = 2^65 bytes */
    expect_fail(one_tensor("t", UE_TYPE_F64, 2, ne, 16), "tensor 't': byte size overflows", NULL);
}

static void test_tensor_type(uint32_t type, const char *want) {
    int64_t ne[1] = {256};
    expect_fail(one_tensor("w", type, 1, ne, 1024), want, NULL);
}

static void test_type_4_removed(void **state) {
    (void)state;
    test_tensor_type(4, "tensor 'w': type 4 is not a GGUF tensor type (removed from the format)");
}

static void test_type_31_removed(void **state) {
    (void)state;
    test_tensor_type(31, "type 31 is not a GGUF tensor type (removed");
}

static void test_type_37_removed(void **state) {
    (void)state;
    test_tensor_type(37, "type 37 is not a GGUF tensor type (removed");
}

static void test_type_99(void **state) {
    (void)state;
    test_tensor_type(99, "tensor 'w': type 99 is not a GGUF tensor type");
}

static void test_type_minus_1(void **state) {
    (void)state;
    test_tensor_type(0xffffffffu, "tensor 'w': type -1 is not a GGUF tensor type");
}

static void test_ne0_not_block_multiple(void **state) {
    (void)state;
    int64_t ne[2] = {100, 2};
    expect_fail(one_tensor("blk.0.ffn_up.weight", UE_TYPE_Q4_K, 2, ne, 144),
                "'blk.0.ffn_up.weight': ne[0] is 100, not a multiple of the Q4_K block size 256",
                NULL);
}

static void test_empty_tensor_name(void **state) {
    (void)state;
    int64_t ne[1] = {4};
    expect_fail(one_tensor("", UE_TYPE_F32, 1, ne, 16), "tensor #0: name is empty", NULL);
}

static void test_tensor_name_64_bytes(void **state) {
    (void)state;
    char name[65];
    memset(name, 'a', 64);
    name[64] = '\0';
    int64_t ne[1] = {4};
    expect_fail(one_tensor(name, UE_TYPE_F32, 1, ne, 16),
                "tensor #0: name is 64 bytes, expected at most 63", NULL);
}

static void test_tensor_name_huge_length(void **state) {
    (void)state;
    gguf_builder *b = gguf_builder_create();
    int64_t ne[1] = {4};
    gguf_builder_add_tensor(b, "x", UE_TYPE_F32, 1, ne, NULL, 16);
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    gguf_put_u64(bytes + 24, UINT64_MAX); /* the first info starts right after the header */
    ue_error err = {0};
    assert_int_not_equal(open_copy(bytes, size, &err), UE_OK);
    assert_non_null(strstr(err.msg, "tensor #0: name is 18446744073709551615 bytes"));
    free(bytes);
    gguf_builder_destroy(b);
}

static void test_duplicate_tensor_name(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    int64_t ne[1] = {8};
    gguf_builder_add_tensor(b, "a.weight", UE_TYPE_F32, 1, ne, NULL, 32);
    expect_fail(b, "tensor 'a.weight' appears more than once", NULL);
}

static void test_offset_not_aligned(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_set_tensor_offset(b, 1, 36);
    expect_fail(b, "tensor 'b.weight': offset 36 is not a multiple of the alignment 32", NULL);
}

static void test_offset_past_end(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_set_tensor_offset(b, 1, (uint64_t)1 << 40);
    expect_fail(b, "tensor 'b.weight': data (offset 1099511627776, 34 bytes) runs past the end",
                NULL);
}

static void test_offset_wraps(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_set_tensor_offset(b, 1, UINT64_MAX - 31); /* aligned; + bytes wraps */
    expect_fail(b, "tensor 'b.weight': data", "runs past the end");
}

static void test_tensor_data_short_by_one_byte(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    ue_error err = {0};
    assert_int_not_equal(open_copy(bytes, size - 1, &err), UE_OK);
    assert_non_null(strstr(err.msg, "tensor 'b.weight': data (offset 32, 34 bytes) runs past"));
    free(bytes);
    gguf_builder_destroy(b);
}

static void test_overlapping_tensors(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    int64_t ne[1] = {16};
    int c = gguf_builder_add_tensor(b, "c.weight", UE_TYPE_F32, 1, ne, NULL, 64);
    gguf_builder_set_tensor_offset(b, c, 0); /* on top of a.weight (32 bytes) and b */
    expect_fail(b, "overlaps", "'a.weight'");
}

static void test_alignment_moves_data_past_end(void **state) {
    (void)state;
    gguf_builder *b = small_valid();
    gguf_builder_add_u32(b, "general.alignment", 1u << 30);
    expect_fail(b, "tensor data section would start at byte 1073741824", "past the end");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_valid_file_opens),
        cmocka_unit_test(test_truncated_at_every_byte),
        cmocka_unit_test(test_every_byte_corrupted),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_version_1),
        cmocka_unit_test(test_version_4),
        cmocka_unit_test(test_version_0),
        cmocka_unit_test(test_version_byte_swapped),
        cmocka_unit_test(test_huge_n_kv),
        cmocka_unit_test(test_huge_n_tensors),
        cmocka_unit_test(test_n_tensors_more_than_infos),
        cmocka_unit_test(test_n_kv_more_than_pairs),
        cmocka_unit_test(test_huge_key_length),
        cmocka_unit_test(test_empty_key),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_huge_string_value),
        cmocka_unit_test(test_value_type_13),
        cmocka_unit_test(test_value_type_huge),
        cmocka_unit_test(test_bool_value_2),
        cmocka_unit_test(test_bool_array_element_2),
        cmocka_unit_test(test_array_elem_type_13),
        cmocka_unit_test(test_array_elem_type_99),
        cmocka_unit_test(test_nested_array),
        cmocka_unit_test(test_huge_array_count),
        cmocka_unit_test(test_huge_string_array_count),
        cmocka_unit_test(test_string_array_short_by_one),
        cmocka_unit_test(test_alignment_zero),
        cmocka_unit_test(test_alignment_not_power_of_two),
        cmocka_unit_test(test_alignment_wrong_type),
        cmocka_unit_test(test_n_dims_0),
        cmocka_unit_test(test_n_dims_5),
        cmocka_unit_test(test_ne_negative),
        cmocka_unit_test(test_ne_zero),
        cmocka_unit_test(test_dims_product_overflows),
        cmocka_unit_test(test_byte_size_overflows),
        cmocka_unit_test(test_type_4_removed),
        cmocka_unit_test(test_type_31_removed),
        cmocka_unit_test(test_type_37_removed),
        cmocka_unit_test(test_type_99),
        cmocka_unit_test(test_type_minus_1),
        cmocka_unit_test(test_ne0_not_block_multiple),
        cmocka_unit_test(test_empty_tensor_name),
        cmocka_unit_test(test_tensor_name_64_bytes),
        cmocka_unit_test(test_tensor_name_huge_length),
        cmocka_unit_test(test_duplicate_tensor_name),
        cmocka_unit_test(test_offset_not_aligned),
        cmocka_unit_test(test_offset_past_end),
        cmocka_unit_test(test_offset_wraps),
        cmocka_unit_test(test_tensor_data_short_by_one_byte),
        cmocka_unit_test(test_overlapping_tensors),
        cmocka_unit_test(test_alignment_moves_data_past_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
