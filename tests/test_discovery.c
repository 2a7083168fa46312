/* Hardware discovery against fake sysfs, /proc and /dev trees built at test time: every
 * XDNA chip (Phoenix, Hawk Point, Strix Point, Strix Halo, Krackan), no NPU, driver not
 * bound, an accel node this user may not open, and garbage files. Also the CPU section
 * against this machine's /proc/cpuinfo and against a fake arm64 one, lavapipe through
 * Vulkan when it is installed, the strict file parsers and the memory bandwidth probe. */
#include <glob.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/discovery/disc_fs.h"
#include "backend/discovery/discovery.h"
#include "fake_tree.h"
#include "test_util.h"

#define DEV_DIR "sys/devices/pci0000:00/"
#define PCI_DIR "sys/bus/pci/devices/"

typedef struct fake_npu {
    const char *addr;      /* "0000:c5:00.1" */
    const char *device;    /* "0x17f0\n" */
    const char *revision;  /* NULL: no file */
    const char *driver;    /* NULL: not bound; else the driver's name */
    int accel_minor;       /* -1: no accel node */
    const char *fw;        /* NULL: no fw_version file */
} fake_npu;

/* A PCI function laid out as the kernel does: the device directory below
 * sys/devices and a symlink to it in sys/bus/pci/devices. */
static void add_pci(const char *root, const char *addr, const char *vendor, const char *device,
                    const char *revision) {
    char rel[256], target[256];
    snprintf(rel, sizeof rel, DEV_DIR "%s/vendor", addr);
    ue_fake_text(root, rel, vendor);
    snprintf(rel, sizeof rel, DEV_DIR "%s/device", addr);
    ue_fake_text(root, rel, device);
    if (revision) {
        snprintf(rel, sizeof rel, DEV_DIR "%s/revision", addr);
        ue_fake_text(root, rel, revision);
    }
    snprintf(rel, sizeof rel, PCI_DIR "%s", addr);
    snprintf(target, sizeof target, "../../../devices/pci0000:00/%s", addr);
    ue_fake_symlink(root, rel, target);
}

static void add_npu(const char *root, const fake_npu *n) {
    char rel[256], target[256];
    add_pci(root, n->addr, "0x1022\n", n->device, n->revision);
    if (n->driver) {
        snprintf(rel, sizeof rel, "sys/bus/pci/drivers/%s", n->driver);
        ue_fake_mkdir(root, rel);
        snprintf(rel, sizeof rel, DEV_DIR "%s/driver", n->addr);
        snprintf(target, sizeof target, "../../../bus/pci/drivers/%s", n->driver);
        ue_fake_symlink(root, rel, target);
    }
    if (n->accel_minor >= 0) {
        snprintf(rel, sizeof rel, DEV_DIR "%s/accel/accel%d/dev", n->addr, n->accel_minor);
        ue_fake_text(root, rel, "261:0\n");
        snprintf(rel, sizeof rel, "dev/accel/accel%d", n->accel_minor);
        ue_fake_text(root, rel, "");
        ue_fake_chmod(root, rel, 0666);
    }
    if (n->fw) {
        snprintf(rel, sizeof rel, DEV_DIR "%s/fw_version", n->addr);
        ue_fake_text(root, rel, n->fw);
    }
}

/* A laptop around the NPU: a 4-thread CPU, RAM, and PCI functions that are not NPUs
 * (an AMD host bridge, an AMD GPU, an Intel Wi-Fi card). */
static char *make_machine(const char *cpu_model) {
    char *root = ue_fake_root();
    char cpuinfo[1024] = "";
    for (int i = 0; i < 4; i++) {
        size_t len = strlen(cpuinfo);
        snprintf(cpuinfo + len, sizeof cpuinfo - len,
                 "processor\t: %d\nvendor_id\t: AuthenticAMD\nmodel name\t: %s\n"
                 "flags\t\t: fpu sse2 avx avx2 fma f16c\n\n", i, cpu_model);
    }
    ue_fake_text(root, "proc/cpuinfo", cpuinfo);
    ue_fake_text(root, "proc/meminfo", "MemTotal:       32768000 kB\nMemFree:         1000 kB\n"
                                       "MemAvailable:   16384000 kB\n");
    ue_fake_text(root, "sys/devices/system/cpu/online", "0-3\n");
    for (int i = 0; i < 4; i++) {
        char rel[128], text[32];
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", i);
        snprintf(text, sizeof text, "%d-%d\n", i & ~1, (i & ~1) + 1);
        ue_fake_text(root, rel, text);
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/core_siblings_list", i);
        ue_fake_text(root, rel, "0-3\n");
    }
    const char *cache = "sys/devices/system/cpu/cpu0/cache/index";
    const char *levels[] = {"1", "1", "2", "3"}, *types[] = {"Data", "Instruction", "Unified", "Unified"};
    const char *sizes[] = {"32K", "32K", "1024K", "16384K"}, *shared[] = {"0-1", "0-1", "0-1", "0-3"};
    for (int i = 0; i < 4; i++) {
        char rel[160];
        snprintf(rel, sizeof rel, "%s%d/level", cache, i), ue_fake_text(root, rel, levels[i]);
        snprintf(rel, sizeof rel, "%s%d/type", cache, i), ue_fake_text(root, rel, types[i]);
        snprintf(rel, sizeof rel, "%s%d/size", cache, i), ue_fake_text(root, rel, sizes[i]);
        snprintf(rel, sizeof rel, "%s%d/shared_cpu_list", cache, i), ue_fake_text(root, rel, shared[i]);
    }
    add_pci(root, "0000:00:00.0", "0x1022\n", "0x14e8\n", "0x00\n");
    add_pci(root, "0000:c4:00.0", "0x1002\n", "0x15bf\n", "0xc1\n");
    add_pci(root, "0000:01:00.0", "0x8086\n", "0x2723\n", "0x1a\n");
    return root;
}

static ue_discovery *run_fake(const char *root) {
    ue_discovery_opts opts = {.root = root, .skip_libraries = 1};
    ue_discovery *d = NULL;
    ue_error err = {0};
    assert_int_equal(ue_discovery_run(&opts, &d, &err), UE_OK);
    assert_non_null(d);
    assert_int_equal(d->live, 0);
    return d;
}

static int has_note(const ue_discovery_notes *notes, const char *needle) {
    for (int i = 0; i < notes->n; i++)
        if (strstr(notes->text[i], needle)) return 1;
    return 0;
}

static void print_notes(const ue_discovery_notes *notes) {
    for (int i = 0; i < notes->n; i++) printf("  note: %s\n", notes->text[i]);
}

/* One bound NPU with node and firmware, on a machine with the given CPU. */
static ue_discovery *one_npu(const char *cpu_model, const char *device, const char *revision,
                             char **root_out) {
    char *root = make_machine(cpu_model);
    fake_npu n = {"0000:c5:00.1", device, revision, "amdxdna", 0, "1.5.2.380\n"};
    add_npu(root, &n);
    *root_out = root;
    return run_fake(root);
}

static void assert_ready(const ue_npu_info *n) {
    assert_string_equal(n->pci_addr, "0000:c5:00.1");
    assert_string_equal(n->driver, "amdxdna");
    assert_true(n->driver_ok);
    assert_string_equal(n->node, "/dev/accel/accel0");
    assert_true(n->node_exists);
    assert_true(n->node_access); /* 0666 */
    assert_string_equal(n->fw_version, "1.5.2.380");
}

static void test_phoenix(void **state) {
    (void)state;
    char *root;
    ue_discovery *d = one_npu("AMD Ryzen 7 7840U w/ Radeon 780M Graphics", "0x1502\n", "0x00\n", &root);
    print_notes(&d->notes);
    assert_int_equal(d->npu.n, 1);
    const ue_npu_info *n = &d->npu.dev[0];
    assert_string_equal(n->generation, "XDNA1");
    assert_string_equal(n->name, "Phoenix");
    assert_int_equal(n->tops, 10);
    assert_int_equal(n->tops_alt, 0);
    assert_non_null(strstr(n->name_basis, "Ryzen 7840"));
    assert_ready(n);
    assert_int_equal(d->npu.xrt_status, UE_DISC_NOT_PROBED);
    assert_int_equal(d->notes.n, 0);
    /* The CPU section comes from the same fake tree. */
    assert_string_equal(d->cpu.model, "AMD Ryzen 7 7840U w/ Radeon 780M Graphics");
    assert_int_equal(d->cpu.n_logical, 4);
    assert_int_equal(d->cpu.n_cores, 2);
    assert_int_equal(d->cpu.n_packages, 1);
    assert_int_equal(d->cpu.features, UE_CPU_AVX | UE_CPU_AVX2 | UE_CPU_FMA | UE_CPU_F16C);
    assert_int_equal(d->cpu.ram_total, 32768000ull * 1024);
    assert_int_equal(d->cpu.ram_available, 16384000ull * 1024);
    assert_int_equal(d->cpu.n_caches, 4);
    assert_int_equal(d->cpu.caches[3].level, 3);
    assert_int_equal(d->cpu.caches[3].size, 16ull << 20);
    assert_int_equal(d->cpu.caches[3].shared_cpus, 4);
    ue_discovery_destroy(d);
    ue_fake_remove(root);
}

static void test_hawk_point(void **state) {
    (void)state;
    char *root;
    ue_discovery *d = one_npu("AMD Ryzen 7 PRO 8840HS w/ Radeon 780M Graphics", "0x1502\n",
                              "0x00\n", &root);
    assert_int_equal(d->npu.n, 1);
    assert_string_equal(d->npu.dev[0].name, "Hawk Point");
    assert_string_equal(d->npu.dev[0].generation, "XDNA1");
    assert_int_equal(d->npu.dev[0].tops, 16);
    assert_ready(&d->npu.dev[0]);
    ue_discovery_destroy(d);
    ue_fake_remove(root);

    /* Same PCI ids with a CPU model that does not say which: both names, both figures. */
    d = one_npu("AMD Eng Sample: 100-000000000-00", "0x1502\n", "0x00\n", &root);
    assert_int_equal(d->npu.n, 1);
    assert_string_equal(d->npu.dev[0].name, "Phoenix or Hawk Point");
    assert_int_equal(d->npu.dev[0].tops, 10);
    assert_int_equal(d->npu.dev[0].tops_alt, 16);
    assert_non_null(strstr(d->npu.dev[0].name_basis, "1022:1502"));
    ue_discovery_destroy(d);
    ue_fake_remove(root);
}

static void test_xdna2_chips(void **state) {
    (void)state;
    static const struct {
        const char *rev, *name;
        int tops;
    } chips[] = {
        {"0x10\n", "Strix Point", 50},
        {"0x11\n", "Strix Halo", 50},
        {"0x20\n", "Krackan Point", 50},
        {"0x00\n", "early XDNA2 (npu2)", 0},
        {"0x7f\n", "unknown XDNA2", 0},
    };
    for (size_t i = 0; i < sizeof chips / sizeof chips[0]; i++) {
        char *root;
        ue_discovery *d = one_npu("AMD Ryzen AI 9 HX 370 w/ Radeon 890M", "0x17f0\n", chips[i].rev,
                                  &root);
        assert_int_equal(d->npu.n, 1);
        const ue_npu_info *n = &d->npu.dev[0];
        assert_string_equal(n->generation, "XDNA2");
        assert_string_equal(n->name, chips[i].name);
        assert_int_equal(n->tops, chips[i].tops);
        assert_int_equal(n->device_id, 0x17f0);
        assert_ready(n);
        if (chips[i].tops == 0) assert_true(n->name_basis[0] != '\0');
        ue_discovery_destroy(d);
        ue_fake_remove(root);
    }
}

static void test_no_npu(void **state) {
    (void)state;
    char *root = make_machine("AMD Ryzen 9 7950X 16-Core Processor");
    ue_discovery *d = run_fake(root);
    print_notes(&d->notes);
    assert_int_equal(d->npu.n, 0);
    assert_int_equal(d->notes.n, 0); /* three healthy non-NPU functions: nothing to say */
    ue_discovery_destroy(d);
    ue_fake_remove(root);

    /* No PCI bus at all (a container): a note, and the rest still fills in. */
    root = ue_fake_root();
    ue_fake_text(root, "proc/cpuinfo", "processor\t: 0\nmodel name\t: Tiny CPU\n");
    d = run_fake(root);
    assert_int_equal(d->npu.n, 0);
    assert_true(has_note(&d->notes, "cannot list /sys/bus/pci/devices"));
    assert_string_equal(d->cpu.model, "Tiny CPU");
    assert_int_equal(d->cpu.n_logical, 1);
    ue_discovery_destroy(d);
    ue_fake_remove(root);
}

static void test_driver_not_bound(void **state) {
    (void)state;
    char *root = make_machine("AMD Ryzen AI 9 HX 370 w/ Radeon 890M");
    fake_npu n = {"0000:c5:00.1", "0x17f0\n", "0x10\n", NULL, -1, NULL};
    add_npu(root, &n);
    ue_discovery *d = run_fake(root);
    assert_int_equal(d->npu.n, 1);
    const ue_npu_info *npu = &d->npu.dev[0];
    assert_string_equal(npu->name, "Strix Point");
    assert_string_equal(npu->driver, "");
    assert_false(npu->driver_ok);
    assert_string_equal(npu->node, "");
    assert_false(npu->node_exists);
    assert_string_equal(npu->fw_version, "");
    ue_discovery_destroy(d);
    ue_fake_remove(root);

    /* Claimed by another driver (passed through to a VM): named, not counted as bound. */
    root = make_machine("AMD Ryzen AI 9 HX 370 w/ Radeon 890M");
    fake_npu v = {"0000:c5:00.1", "0x17f0\n", "0x10\n", "vfio-pci", -1, NULL};
    add_npu(root, &v);
    d = run_fake(root);
    assert_int_equal(d->npu.n, 1);
    assert_string_equal(d->npu.dev[0].driver, "vfio-pci");
    assert_false(d->npu.dev[0].driver_ok);
    ue_discovery_destroy(d);
    ue_fake_remove(root);

    /* Bound, but the driver registered no accel node: a note. */
    root = make_machine("AMD Ryzen AI 9 HX 370 w/ Radeon 890M");
    fake_npu b = {"0000:c5:00.1", "0x17f0\n", "0x10\n", "amdxdna", -1, NULL};
    add_npu(root, &b);
    d = run_fake(root);
    assert_true(d->npu.dev[0].driver_ok);
    assert_false(d->npu.dev[0].node_exists);
    assert_true(has_note(&d->notes, "no accel node"));
    ue_discovery_destroy(d);
    ue_fake_remove(root);
}

/* node_exists + 2 * node_access + 4 * (one NPU found), from a probe of root. */
static int node_code(const char *root) {
    ue_discovery_opts opts = {.root = root, .skip_libraries = 1};
    ue_npu_report npu;
    ue_npu_probe(&opts, "", &npu, NULL);
    return (npu.n == 1) * 4 + (npu.n == 1 ? npu.dev[0].node_exists + 2 * npu.dev[0].node_access : 0);
}

/* The node is mode 0444: readable, not writable. The driver needs read-write. Tests run
 * as root here, and root may open anything, so the check runs in a child that drops to
 * uid/gid 65534 (nobody) first; as any other user the file is simply not writable. */
static void test_node_without_permission(void **state) {
    (void)state;
    char *root = make_machine("AMD Ryzen AI 7 350 w/ Radeon 860M");
    fake_npu n = {"0000:c5:00.1", "0x17f0\n", "0x20\n", "amdxdna", 0, NULL};
    add_npu(root, &n);
    ue_fake_chmod(root, "dev/accel/accel0", 0444);
    if (geteuid() != 0) {
        assert_int_equal(node_code(root), 4 + 1);
        ue_fake_remove(root);
        return;
    }
    assert_int_equal(node_code(root), 4 + 1 + 2); /* root may */
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(99);
        _exit(node_code(root));
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 99) {
        printf("cannot switch to uid 65534 here; the unprivileged check is skipped\n");
    } else {
        assert_int_equal(WEXITSTATUS(status), 4 + 1); /* exists, not accessible */
    }
    ue_fake_remove(root);
}

static void test_garbage_files(void **state) {
    (void)state;
    char *root = ue_fake_root();
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    ue_fake_write(root, "proc/cpuinfo", png, sizeof png - 1);
    ue_fake_text(root, "proc/meminfo", "MemTotal: lots kB\n");
    ue_fake_text(root, "sys/devices/system/cpu/online", "0-x\n");
    ue_fake_text(root, "sys/devices/system/cpu/cpu0/cache/index0/level", "1\n");
    ue_fake_text(root, "sys/devices/system/cpu/cpu0/cache/index0/type", "Data\n");
    ue_fake_text(root, "sys/devices/system/cpu/cpu0/cache/index0/size", "huge\n");
    /* PCI functions: binary vendor, missing device, dangling entry, trailing junk, a
     * 5000-byte vendor file, and one real NPU with a bad revision, a dangling driver
     * link, binary firmware and invalid UTF-8 in vbnv. */
    ue_fake_write(root, PCI_DIR "0000:00:01.0/vendor", png, sizeof png - 1);
    ue_fake_text(root, PCI_DIR "0000:00:02.0/vendor", "0x1022\n");
    ue_fake_symlink(root, PCI_DIR "0000:00:03.0", "../../../devices/pci0000:00/gone");
    ue_fake_text(root, PCI_DIR "0000:00:05.0/vendor", "0x1022xyz\n");
    char big[5000];
    memset(big, 'A', sizeof big);
    ue_fake_write(root, PCI_DIR "0000:00:06.0/vendor", big, sizeof big);
    ue_fake_text(root, PCI_DIR "0000:00:04.0/vendor", "0x1022\n");
    ue_fake_text(root, PCI_DIR "0000:00:04.0/device", "0x17f0\n");
    ue_fake_text(root, PCI_DIR "0000:00:04.0/revision", "zz\n");
    ue_fake_symlink(root, PCI_DIR "0000:00:04.0/driver", "../../nowhere/amdxdna");
    ue_fake_write(root, PCI_DIR "0000:00:04.0/fw_version", "\x01\x02\x03", 3);
    ue_fake_text(root, PCI_DIR "0000:00:04.0/vbnv", "\xff\xfeRyzen\n");

    ue_discovery *d = run_fake(root);
    print_notes(&d->notes);
    assert_int_equal(d->npu.n, 1);
    const ue_npu_info *n = &d->npu.dev[0];
    assert_string_equal(n->pci_addr, "0000:00:04.0");
    assert_string_equal(n->name, "unknown XDNA2");
    assert_int_equal(n->tops, 0);
    assert_int_equal(n->revision, 0xffffffffu);
    assert_non_null(strstr(n->name_basis, "revision could not be read"));
    assert_false(n->driver_ok);
    assert_string_equal(n->fw_version, "");
    assert_string_equal(n->vbnv, "??Ryzen");
    assert_true(has_note(&d->notes, "0000:00:01.0/vendor is not a hex id: \"\\x89PNG"));
    assert_true(has_note(&d->notes, "0000:00:02.0/device: No such file"));
    assert_true(has_note(&d->notes, "0000:00:03.0/vendor: No such file"));
    assert_true(has_note(&d->notes, "0000:00:05.0/vendor is not a hex id"));
    assert_true(has_note(&d->notes, "0000:00:06.0/vendor is not a hex id: \"AAAAAAAAAAAAAAAA...\""));
    assert_true(has_note(&d->notes, "0000:00:04.0/revision is not a hex id"));
    assert_true(has_note(&d->notes, "0000:00:04.0/driver points nowhere"));
    assert_true(has_note(&d->notes, "0000:00:04.0/fw_version holds binary data"));
    assert_true(has_note(&d->notes, "/sys/devices/system/cpu/online is not a CPU list"));
    assert_true(has_note(&d->notes, "cache index0"));
    assert_true(has_note(&d->notes, "MemTotal is not a kB count"));
    /* The CPU section still prints, with what it could not learn left unknown. */
    assert_string_equal(d->cpu.model, "unknown CPU");
    assert_int_equal(d->cpu.n_caches, 0);
    assert_int_equal(d->cpu.ram_total, 0);
    for (int i = 0; i < d->notes.n; i++)
        for (const char *p = d->notes.text[i]; *p; p++) assert_true((unsigned char)*p >= 0x20);
    ue_discovery_destroy(d);
    ue_fake_remove(root);
}

/* Reads a /proc file whole (its size is not known in advance). */
static char *read_proc(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            char *b = realloc(buf, cap * 2);
            if (!b) free(buf);
            buf = b, cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    return buf;
}

/* The value of the first "key\t: value" line, in out; 0 when absent. */
static int cpuinfo_field(const char *text, const char *key, char *out, size_t cap) {
    size_t klen = strlen(key);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, key, klen) || (line[klen] != '\t' && line[klen] != ' ' && line[klen] != ':'))
            continue;
        const char *v = strchr(line, ':');
        if (!v) continue;
        v++;
        while (*v == ' ') v++;
        const char *end = strchr(v, '\n');
        size_t n = end ? (size_t)(end - v) : strlen(v);
        if (n >= cap) n = cap - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        return 1;
    }
    return 0;
}

static int has_word(const char *line, const char *word) {
    size_t n = strlen(word);
    for (const char *p = strstr(line, word); p; p = strstr(p + 1, word))
        if ((p == line || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
    return 0;
}

static void test_cpu_matches_proc_cpuinfo(void **state) {
    (void)state;
    char *text = read_proc("/proc/cpuinfo");
    if (!text) {
        printf("no /proc/cpuinfo here: the comparison is skipped\n");
        return;
    }
    int processors = 0;
    for (const char *p = text; (p = strstr(p, "processor")) != NULL; p++)
        if (p == text || p[-1] == '\n') processors++;
    char model[256] = "", flags[8192] = "";
    int has_model = cpuinfo_field(text, "model name", model, sizeof model);
    int has_flags = cpuinfo_field(text, "flags", flags, sizeof flags) ||
                    cpuinfo_field(text, "Features", flags, sizeof flags);
    free(text);

    ue_cpu_info cpu;
    ue_discovery_notes notes = {0};
    ue_cpu_probe(NULL, &cpu, &notes);
    print_notes(&notes);
    printf("cpu: %s, %d threads, %d cores, features 0x%x from %s\n", cpu.model, cpu.n_logical,
           cpu.n_cores, cpu.features, cpu.feature_source);
    assert_int_equal(cpu.n_logical, processors);
    assert_true(cpu.n_cores >= 1 && cpu.n_cores <= cpu.n_logical);
    assert_true(cpu.n_allowed >= 1);
    if (has_model) assert_string_equal(cpu.model, model);
    assert_true(cpu.ram_total > 0);
    assert_true(cpu.ram_available > 0 && cpu.ram_available <= cpu.ram_total);
    if (!has_flags) return;
    /* Features from CPUID / HWCAP agree with the kernel's flags. */
    for (uint32_t bit = 1; bit < (1u << UE_CPU_FEATURE_COUNT); bit <<= 1) {
#if defined(__x86_64__)
        if (bit >= UE_CPU_NEON) continue;
#elif defined(__aarch64__)
        if (bit < UE_CPU_NEON) continue;
#endif
        int ours = (cpu.features & bit) != 0, kernel = has_word(flags, ue_cpu_feature_flag(bit));
        if (ours != kernel)
            printf("%s: discovery says %d, /proc/cpuinfo says %d\n", ue_cpu_feature_flag(bit),
                   ours, kernel);
        assert_int_equal(ours, kernel);
    }
}

static void test_cpu_fake_arm64(void **state) {
    (void)state;
    char *root = ue_fake_root();
    ue_fake_text(root, "proc/cpuinfo",
                 "processor\t: 0\nBogoMIPS\t: 50.00\n"
                 "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp "
                 "cpuid asimdrdm lrcpc dcpop asimddp ssbs\n"
                 "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\n"
                 "CPU part\t: 0xd0c\nCPU revision\t: 1\n\n"
                 "processor\t: 1\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n"
                 "CPU part\t: 0xd0c\n");
    ue_discovery_opts opts = {.root = root, .skip_libraries = 1};
    ue_cpu_info cpu;
    ue_discovery_notes notes = {0};
    ue_cpu_probe(&opts, &cpu, &notes);
    assert_string_equal(cpu.arch, "arm64");
    assert_string_equal(cpu.vendor, "ARM");
    assert_string_equal(cpu.model, "Neoverse N1");
    assert_int_equal(cpu.features, UE_CPU_NEON | UE_CPU_FP16 | UE_CPU_DOTPROD);
    assert_string_equal(cpu.feature_source, "/proc/cpuinfo");
    assert_int_equal(cpu.n_logical, 2); /* no sysfs: counted from cpuinfo */
    assert_int_equal(cpu.n_allowed, 0);
    assert_true(has_note(&notes, "/proc/meminfo"));
    ue_fake_remove(root);
}

static int lavapipe_installed(void) {
    const char *pats[] = {"/usr/share/vulkan/icd.d/lvp_icd*.json", "/etc/vulkan/icd.d/lvp_icd*.json"};
    for (int i = 0; i < 2; i++) {
        glob_t g;
        int found = glob(pats[i], 0, NULL, &g) == 0 && g.gl_pathc > 0;
        globfree(&g);
        if (found) return 1;
    }
    return 0;
}

static void test_vulkan_lavapipe(void **state) {
    (void)state;
    ue_vk_report *vk = calloc(1, sizeof *vk);
    assert_non_null(vk);
    ue_discovery_notes notes = {0};
    ue_vulkan_probe(NULL, vk, &notes);
    print_notes(&notes);
    if (vk->status == UE_DISC_NOT_PROBED || vk->status == UE_DISC_NO_LIBRARY) {
        printf("Vulkan part skipped: %s\n", vk->error);
        free(vk);
        return;
    }
    if (!lavapipe_installed()) {
        printf("Vulkan part skipped: no lavapipe ICD (mesa-vulkan-drivers) installed\n");
        free(vk);
        return;
    }
    assert_int_equal(vk->status, UE_DISC_OK);
    int found = -1;
    for (int i = 0; i < vk->n; i++) {
        printf("vulkan%d: %s (%s)\n", i, vk->dev[i].name, ue_vk_type_name(vk->dev[i].type));
        if (vk->dev[i].type == UE_VK_CPU && !strncmp(vk->dev[i].name, "llvmpipe", 8)) found = i;
    }
    assert_true(found >= 0);
    const ue_vk_device_info *v = &vk->dev[found];
    assert_int_equal(v->vendor_id, 0x10005);
    assert_string_equal(v->vendor, "Mesa");
    assert_true(v->api_version >= ((1u << 22) | (1u << 12))); /* 1.1 */
    assert_string_equal(v->driver_name, "llvmpipe");
    assert_non_null(strstr(v->driver_info, "Mesa"));
    assert_true(v->has_uuid);
    assert_true(v->n_heaps >= 1 && v->heaps[0].size > 0);
    assert_true(v->unified_memory);
    assert_true(v->subgroup_size >= 1 && v->subgroup_min <= v->subgroup_max);
    assert_true(v->shared_memory >= 16384); /* the Vulkan minimum */
    free(vk);
}

static void test_parsers(void **state) {
    (void)state;
    uint32_t v = 0;
    assert_int_equal(disc_parse_hex("0x1022\n", &v), 0);
    assert_int_equal(v, 0x1022);
    assert_int_equal(disc_parse_hex("17F0", &v), 0);
    assert_int_equal(v, 0x17f0);
    assert_int_equal(disc_parse_hex("0x", &v), -1);
    assert_int_equal(disc_parse_hex("", &v), -1);
    assert_int_equal(disc_parse_hex("0x1022 1", &v), -1);
    assert_int_equal(disc_parse_hex("0x123456789", &v), -1);
    assert_int_equal(disc_parse_hex("-1", &v), -1);
    uint64_t u = 0;
    assert_int_equal(disc_parse_u64("18446744073709551615", &u), 0);
    assert_int_equal(disc_parse_u64("18446744073709551616", &u), -1);
    assert_int_equal(disc_cpulist_count("0-3,8,10-11\n"), 7);
    assert_int_equal(disc_cpulist_count("0"), 1);
    assert_int_equal(disc_cpulist_count("3-1"), -1);
    assert_int_equal(disc_cpulist_count("0-"), -1);
    assert_int_equal(disc_cpulist_count(""), -1);
    assert_int_equal(disc_cpulist_count("0,,1"), -1);
    char out[16];
    disc_clean(out, sizeof out, " a\tb\xc3\xa9\xff\xe2\x82 ", 10);
    assert_string_equal(out, "a?b\xc3\xa9???"); /* tab, 0xff, a cut-off sequence */
    disc_clean(out, 4, "abc\xc3\xa9", 5); /* never cuts a character in half */
    assert_string_equal(out, "abc");
    disc_show(out, sizeof out, "a\x01", 2);
    assert_string_equal(out, "a\\x01");
}

static void test_membw_probe(void **state) {
    (void)state;
    ue_cpu_info cpu;
    memset(&cpu, 0, sizeof cpu);
    cpu.n_logical = 2;
    ue_discovery_opts opts = {.probe_bytes = 8u << 20, .probe_seconds = 0.05};
    ue_discovery_notes notes = {0};
    ue_membw_probe(&opts, &cpu, &notes);
    print_notes(&notes);
    assert_int_equal(cpu.bw_threads, 2);
    assert_true(cpu.bw_read_gbs > 0 && cpu.bw_copy_gbs > 0);
    assert_int_equal(cpu.bw_bytes, 8u << 20);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phoenix),
        cmocka_unit_test(test_hawk_point),
        cmocka_unit_test(test_xdna2_chips),
        cmocka_unit_test(test_no_npu),
        cmocka_unit_test(test_driver_not_bound),
        cmocka_unit_test(test_node_without_permission),
        cmocka_unit_test(test_garbage_files),
        cmocka_unit_test(test_cpu_matches_proc_cpuinfo),
        cmocka_unit_test(test_cpu_fake_arm64),
        cmocka_unit_test(test_vulkan_lavapipe),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_membw_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
