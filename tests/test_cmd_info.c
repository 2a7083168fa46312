/* `unicorn info` end to end: runs the built binary on generated GGUF files and checks
 * exit codes, the header / metadata / tensor lines, escaping and abbreviation, and the
 * one-line error for a bad file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/gguf.h"
#include "gguf_builder.h"
#include "test_util.h"

typedef struct run_result {
    int status;
    char *out, *err;
} run_result;

static char g_dir[] = "/tmp/ue_test_info_XXXXXX";

static void write_file(const char *path, const uint8_t *bytes, size_t size) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, size, f), size);
    fclose(f);
}

/* Runs `unicorn info ARGS`, capturing stdout and stderr. */
static run_result run_info(const char *args) {
    char out[96], err[96], cmd[1024];
    snprintf(out, sizeof out, "%s/out.txt", g_dir);
    snprintf(err, sizeof err, "%s/err.txt", g_dir);
    snprintf(cmd, sizeof cmd, "'%s' info %s >'%s' 2>'%s'", ue_test_unicorn_path(), args, out, err);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    run_result r = {WEXITSTATUS(st), NULL, NULL};
    size_t n;
    r.out = ue_test_read_file(out, &n);
    r.err = ue_test_read_file(err, &n);
    return r;
}

static void run_free(run_result *r) {
    free(r->out);
    free(r->err);
}

static void assert_has(const char *text, const char *want) {
    if (!strstr(text, want)) fail_msg("output lacks '%s':\n%s", want, text);
}

static const char *write_sample(int long_array) {
    static char path[128];
    snprintf(path, sizeof path, "%s/sample.gguf", g_dir);
    gguf_builder *b = gguf_builder_create();
    gguf_builder_add_str(b, "general.architecture", "gemma3");
    gguf_builder_add_str(b, "weird\nkey\x01", "tab\there \"q\" \xe2\x96\x81 bad\xff");
    gguf_builder_add_f32(b, "eps", 1e-6f);
    gguf_builder_add_i32(b, "neg", -7);
    gguf_builder_add_bool(b, "yes", 1);
    static const char *const toks[] = {"<pad>", "<eos>", "<bos>", "a", "b", "c", "d"};
    gguf_builder_add_arr_str(b, "tokens", toks, 7);
    uint32_t nums[20];
    for (int i = 0; i < 20; i++) nums[i] = (uint32_t)i * 3;
    gguf_builder_add_arr(b, "nums", 4, nums, long_array ? 20 : 3);
    int64_t ne_a[2] = {3, 2}, ne_b[1] = {64};
    gguf_builder_add_tensor(b, "a.weight", UE_TYPE_F32, 2, ne_a, NULL, 24);
    gguf_builder_add_tensor(b, "b.weight", UE_TYPE_Q8_0, 1, ne_b, NULL, 68);
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    write_file(path, bytes, size);
    free(bytes);
    gguf_builder_destroy(b);
    return path;
}

static void test_info_prints_everything(void **state) {
    (void)state;
    const char *path = write_sample(1);
    char args[256];
    snprintf(args, sizeof args, "'%s'", path);
    run_result r = run_info(args);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    assert_has(r.out, "GGUF version   3");
    assert_has(r.out, "alignment      32");
    assert_has(r.out, "metadata: 7 keys");
    assert_has(r.out, "general.architecture");
    assert_has(r.out, "\"gemma3\"");
    assert_has(r.out, "weird\\nkey\\x01");
    assert_has(r.out, "\"tab\\there \\\"q\\\" \xe2\x96\x81 bad\\xff\"");
    assert_has(r.out, "1e-06");
    assert_has(r.out, "-7");
    assert_has(r.out, "true");
    assert_has(r.out, "[string; 7]");
    assert_has(r.out, "[\"<pad>\", \"<eos>\", \"<bos>\", \"a\", \"b\", ... 2 more]");
    assert_has(r.out, "[u32; 20]");
    assert_has(r.out, "[0, 3, 6, 9, 12, 15, 18, 21, ... 12 more]");
    assert_has(r.out, "tensors: 2");
    assert_has(r.out, "a.weight");
    assert_has(r.out, "3 x 2");
    assert_has(r.out, "Q8_0");
    assert_has(r.out, "totals: 70 parameters");
    assert_null(strchr(r.out, '\x01')); /* control bytes never reach the terminal */
    run_free(&r);

    snprintf(args, sizeof args, "--full '%s'", path);
    r = run_info(args);
    assert_int_equal(r.status, 0);
    assert_has(r.out, "\"c\", \"d\"]");
    assert_has(r.out, "54, 57]");
    run_free(&r);
}

static void test_info_bad_file(void **state) {
    (void)state;
    char path[128], args[256], want[256];
    snprintf(path, sizeof path, "%s/bad.gguf", g_dir);
    gguf_builder *b = gguf_builder_create();
    gguf_builder_set_version(b, 1);
    uint8_t *bytes;
    size_t size;
    gguf_builder_finish(b, &bytes, &size);
    write_file(path, bytes, size);
    free(bytes);
    gguf_builder_destroy(b);
    snprintf(args, sizeof args, "'%s'", path);
    run_result r = run_info(args);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    snprintf(want, sizeof want, "unicorn info: %s: GGUF version 1 is not supported", path);
    assert_has(r.err, want);
    assert_int_equal(strchr(r.err, '\n') - r.err, (long)strlen(r.err) - 1); /* one line */
    run_free(&r);

    snprintf(args, sizeof args, "'%s/missing.gguf'", g_dir);
    r = run_info(args);
    assert_int_equal(r.status, 1);
    assert_has(r.err, "missing.gguf: cannot open");
    run_free(&r);
}

static void test_info_usage(void **state) {
    (void)state;
    run_result r = run_info("");
    assert_int_equal(r.status, 2);
    assert_has(r.err, "missing FILE");
    run_free(&r);
    r = run_info("--help");
    assert_int_equal(r.status, 0);
    assert_has(r.out, "usage: unicorn info");
    assert_has(r.out, "--full");
    run_free(&r);
    r = run_info("--bogus x.gguf");
    assert_int_equal(r.status, 2);
    assert_has(r.err, "unknown option '--bogus'");
    run_free(&r);
    r = run_info("a.gguf b.gguf");
    assert_int_equal(r.status, 2);
    run_free(&r);
}

/* On the real model when it is present: the composition of shared/docs/gemma3.md 5.1. */
static void test_info_real_model(void **state) {
    (void)state;
    const char *model = getenv("UE_MODEL");
    if (!model || !*model) model = "models/gemma-3-270m-q4_k_m.gguf";
    if (access(model, R_OK) != 0) skip();
    char args[512];
    snprintf(args, sizeof args, "'%s'", model);
    run_result r = run_info(args);
    assert_int_equal(r.status, 0);
    assert_has(r.out, "tensors: 236");
    assert_has(r.out, "[string; 262144]");
    assert_has(r.out, "token_embd.weight");
    assert_has(r.out, "F32        109 tensors");
    assert_has(r.out, "Q8_0        10 tensors");
    assert_has(r.out, "Q4_K        27 tensors");
    run_free(&r);
}

static int setup(void **state) {
    (void)state;
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    if (access(ue_test_unicorn_path(), X_OK) != 0) {
        fprintf(stderr, "%s is missing (build it with make)\n", ue_test_unicorn_path());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_prints_everything),
        cmocka_unit_test(test_info_bad_file),
        cmocka_unit_test(test_info_usage),
        cmocka_unit_test(test_info_real_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
