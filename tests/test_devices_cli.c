/* `unicorn devices` end to end: the table and the JSON for fake trees given with the
 * hidden --root (a Strix Point laptop, and a tree full of junk), checked for their content
 * and, for JSON, parsed by a strict RFC 8259 checker; the live run on this machine; and the
 * argument errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_tree.h"
#include "test_util.h"

/* Runs `unicorn devices ARGS` and returns its stdout (malloc'd); *rc gets the exit code. */
static char *run_devices(const char *args, int *rc) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' devices %s", ue_test_unicorn_path(), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0, got;
    char *out = malloc(cap);
    assert_non_null(out);
    while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (len + 1 == cap) {
            out = realloc(out, cap *= 2);
            assert_non_null(out);
        }
    }
    out[len] = '\0';
    int status = pclose(p);
    *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

/* ---- a strict JSON checker: returns the end of the value, NULL when invalid ---------- */

static const char *ws(const char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_string(const char *p) {
    if (*p++ != '"') return NULL;
    while (*p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) return NULL;
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i]) return NULL;
                p += 5;
                continue;
            }
            if (!*p || !strchr("\"\\/bfnrt", *p)) return NULL;
        }
        p++;
    }
    return p + 1;
}

static const char *json_number(const char *p) {
    if (*p == '-') p++;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (*p >= '0' && *p <= '9') p++;
    else return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9')) return NULL;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return NULL;
        while (*p >= '0' && *p <= '9') p++;
    }
    return p;
}

static const char *json_members(const char *p, char close, int depth) {
    p = ws(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
        if (close == '}') {
            p = json_string(ws(p));
            if (!p) return NULL;
            p = ws(p);
            if (*p++ != ':') return NULL;
        }
        p = json_value(p, depth + 1);
        if (!p) return NULL;
        p = ws(p);
        if (*p == close) return p + 1;
        if (*p++ != ',') return NULL;
    }
}

static const char *json_value(const char *p, int depth) {
    if (depth > 64) return NULL;
    p = ws(p);
    if (*p == '{') return json_members(p, '}', depth);
    if (*p == '[') return json_members(p, ']', depth);
    if (*p == '"') return json_string(p);
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    return json_number(p);
}

static void assert_json(const char *text) {
    const char *end = json_value(text, 0);
    if (!end) fail_msg("not valid JSON:\n%s", text);
    assert_true(*ws(end) == '\0');
}

/* ---- fake trees ---------------------------------------------------------------------- */

static char *strix_laptop(void) {
    char *root = ue_fake_root();
    ue_fake_text(root, "proc/cpuinfo", "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
                 "model name\t: AMD Ryzen AI 9 HX 370 w/ Radeon 890M\nflags\t\t: avx avx2 fma f16c "
                 "avx512f avx512bw avx512_vnni avx512_bf16\n");
    ue_fake_text(root, "proc/meminfo", "MemTotal: 32000000 kB\nMemAvailable: 20000000 kB\n");
    const char *dev = "sys/bus/pci/devices/0000:c5:00.1/";
    char rel[256];
    snprintf(rel, sizeof rel, "%svendor", dev), ue_fake_text(root, rel, "0x1022\n");
    snprintf(rel, sizeof rel, "%sdevice", dev), ue_fake_text(root, rel, "0x17f0\n");
    snprintf(rel, sizeof rel, "%srevision", dev), ue_fake_text(root, rel, "0x10\n");
    snprintf(rel, sizeof rel, "%sfw_version", dev), ue_fake_text(root, rel, "1.0.0.166\n");
    snprintf(rel, sizeof rel, "%saccel/accel0/dev", dev), ue_fake_text(root, rel, "261:0\n");
    ue_fake_mkdir(root, "sys/bus/pci/drivers/amdxdna");
    snprintf(rel, sizeof rel, "%sdriver", dev);
    ue_fake_symlink(root, rel, "../../drivers/amdxdna");
    ue_fake_text(root, "dev/accel/accel0", "");
    return root;
}

static char *junk_tree(void) {
    char *root = ue_fake_root();
    static const char junk[] = "\"\\\x01\x1b[31m\xff\xfe\n\t{}[]";
    ue_fake_text(root, "proc/cpuinfo", "model name\t: \"quoted\\name\"\x1b[0m\n");
    ue_fake_write(root, "proc/meminfo", junk, sizeof junk - 1);
    ue_fake_write(root, "sys/bus/pci/devices/0000:00:01.0/vendor", junk, sizeof junk - 1);
    ue_fake_text(root, "sys/bus/pci/devices/0000:00:02.0/vendor", "0x1022\n");
    ue_fake_text(root, "sys/bus/pci/devices/0000:00:02.0/device", "0x1502\n");
    ue_fake_write(root, "sys/bus/pci/devices/0000:00:02.0/revision", junk, sizeof junk - 1);
    ue_fake_text(root, "sys/bus/pci/devices/0000:00:02.0/vbnv", "\"RyzenAI\\\"\xc3\n");
    ue_fake_symlink(root, "sys/bus/pci/devices/0000:00:03.0", "/nonexistent/device");
    return root;
}

static void test_table_for_strix_point(void **state) {
    (void)state;
    char *root = strix_laptop();
    char args[1024];
    int rc;
    snprintf(args, sizeof args, "--root '%s'", root);
    char *out = run_devices(args, &rc);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "npu0      XDNA2"));
    assert_non_null(strstr(out, "AMD Strix Point NPU (XDNA2), PCI 0000:c5:00.1, id 1022:17f0 rev 0x10"));
    assert_non_null(strstr(out, "TOPS      50 int8, nominal"));
    assert_non_null(strstr(out, "driver    amdxdna (bound)"));
    assert_non_null(strstr(out, "node      /dev/accel/accel0 (this user may open it)"));
    assert_non_null(strstr(out, "firmware  1.0.0.166"));
    assert_non_null(strstr(out, "Unicorn   detected; no NPU execution yet (discovery only)"));
    assert_non_null(strstr(out, "XRT         not probed (fake root)"));
    assert_non_null(strstr(out, "cpu       CPU             AMD Ryzen AI 9 HX 370 w/ Radeon 890M"));
    assert_non_null(strstr(out, "AVX2 FMA F16C AVX-512F AVX-512BW AVX-512 VNNI AVX-512 BF16 (from /proc/cpuinfo)"));
    assert_non_null(strstr(out, "RAM         30.5 GiB total, 19.1 GiB available"));
    assert_non_null(strstr(out, "--device auto picks cpu: auto: CPU (AMD Ryzen AI 9 HX 370 w/ Radeon 890M, 1 thread)"));
    assert_non_null(strstr(out, "1 thread); Vulkan: not probed; the Strix Point NPU has no execution yet"));
    assert_non_null(strstr(out, "threads     1 thread\n"));
    free(out);

    snprintf(args, sizeof args, "--json --root '%s'", root);
    out = run_devices(args, &rc);
    assert_int_equal(rc, 0);
    assert_json(out);
    assert_non_null(strstr(out, "\"live\": false"));
    assert_non_null(strstr(out, "\"name\": \"Strix Point\""));
    assert_non_null(strstr(out, "\"tops_int8\": 50"));
    assert_non_null(strstr(out, "\"driver_bound\": true"));
    assert_non_null(strstr(out, "\"node_accessible\": true"));
    assert_non_null(strstr(out, "\"firmware\": \"1.0.0.166\""));
    assert_non_null(strstr(out, "\"unicorn\": \"detected; no NPU execution yet (discovery only)\""));
    assert_non_null(strstr(out, "\"features\": [\n      \"avx\",\n      \"avx2\""));
    free(out);
    ue_fake_remove(root);
}

static void test_junk_tree_still_prints(void **state) {
    (void)state;
    char *root = junk_tree();
    char args[1024];
    int rc;
    snprintf(args, sizeof args, "--root '%s'", root);
    char *out = run_devices(args, &rc);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "AMD Phoenix or Hawk Point NPU (XDNA1), PCI 0000:00:02.0"));
    assert_non_null(strstr(out, "driver    not bound"));
    assert_non_null(strstr(out, "notes\n"));
    assert_non_null(strstr(out, "0000:00:01.0/vendor is not a hex id"));
    assert_null(strchr(out, '\x1b')); /* no terminal escapes from file contents */
    free(out);

    snprintf(args, sizeof args, "--json --root '%s'", root);
    out = run_devices(args, &rc);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_json(out);
    assert_non_null(strstr(out, "\"model\": \"\\\"quoted\\\\name\\\"?[0m\""));
    assert_non_null(strstr(out, "\"vbnv\": \"\\\"RyzenAI\\\\\\\"?\""));
    free(out);
    ue_fake_remove(root);
}

static void test_this_machine(void **state) {
    (void)state;
    int rc;
    char *out = run_devices("--json", &rc);
    assert_int_equal(rc, 0);
    assert_json(out);
    assert_non_null(strstr(out, "\"live\": true"));
    assert_non_null(strstr(out, "\"auto\": {\n    \"device\": \"cpu\""));
    free(out);
    out = run_devices("", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "DEVICE    KIND"));
    assert_non_null(strstr(out, "\nCPU\n"));
    assert_non_null(strstr(out, "\nVulkan\n"));
    assert_non_null(strstr(out, "\nAMD NPU (XDNA)\n"));
    assert_non_null(strstr(out, "\nNVIDIA (CUDA driver)\n"));
    free(out);
}

static void test_arguments(void **state) {
    (void)state;
    int rc;
    char *out = run_devices("--bogus 2>/dev/null", &rc);
    assert_int_equal(rc, 2);
    free(out);
    out = run_devices("--root 2>/dev/null", &rc);
    assert_int_equal(rc, 2);
    free(out);
    out = run_devices("--help", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "usage: unicorn devices [--json] [--probe]"));
    assert_null(strstr(out, "--root")); /* a test hook, not a user option */
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_for_strix_point),
        cmocka_unit_test(test_junk_tree_still_prints),
        cmocka_unit_test(test_this_machine),
        cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
