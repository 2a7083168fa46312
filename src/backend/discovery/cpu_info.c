/* CPU discovery: vendor, model, cores and threads, the SIMD features the kernels use,
 * caches and RAM. On this machine the features come from CPUID + XGETBV (x86-64: what the
 * CPU has and the OS saves) or getauxval HWCAP (arm64); a fake root is read from its
 * /proc/cpuinfo flags instead. Topology and caches: sysfs /sys/devices/system/cpu
 * (Documentation/ABI/stable/sysfs-devices-system-cpu); RAM: /proc/meminfo. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/discovery/disc_fs.h"
#include "core/threadpool.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

static const struct {
    uint32_t bit;
    const char *name, *flag;
} feature_table[] = {
    {UE_CPU_AVX, "AVX", "avx"},
    {UE_CPU_AVX2, "AVX2", "avx2"},
    {UE_CPU_FMA, "FMA", "fma"},
    {UE_CPU_F16C, "F16C", "f16c"},
    {UE_CPU_AVX512F, "AVX-512F", "avx512f"},
    {UE_CPU_AVX512BW, "AVX-512BW", "avx512bw"},
    {UE_CPU_AVX512VNNI, "AVX-512 VNNI", "avx512_vnni"},
    {UE_CPU_AVX512BF16, "AVX-512 BF16", "avx512_bf16"},
    {UE_CPU_AVXVNNI, "AVX-VNNI", "avx_vnni"},
    {UE_CPU_NEON, "NEON", "asimd"},
    {UE_CPU_DOTPROD, "dotprod", "asimddp"},
    {UE_CPU_I8MM, "i8mm", "i8mm"},
    {UE_CPU_FP16, "fp16", "asimdhp"},
    {UE_CPU_SVE, "SVE", "sve"},
};

const char *ue_cpu_feature_name(uint32_t bit) {
    for (size_t i = 0; i < sizeof feature_table / sizeof feature_table[0]; i++)
        if (feature_table[i].bit == bit) return feature_table[i].name;
    return "?";
}

const char *ue_cpu_feature_flag(uint32_t bit) {
    for (size_t i = 0; i < sizeof feature_table / sizeof feature_table[0]; i++)
        if (feature_table[i].bit == bit) return feature_table[i].flag;
    return "?";
}

/* Features named in a cpuinfo "flags" (x86) or "Features" (arm) line. */
static uint32_t features_from_flags(const char *line) {
    uint32_t f = 0;
    const char *p = line;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        const char *w = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        size_t n = (size_t)(p - w);
        if (n == 4 && !strncmp(w, "neon", 4)) f |= UE_CPU_NEON; /* 32-bit arm kernels */
        for (size_t i = 0; i < sizeof feature_table / sizeof feature_table[0]; i++) {
            const char *flag = feature_table[i].flag;
            if (strlen(flag) == n && !strncmp(w, flag, n)) f |= feature_table[i].bit;
        }
    }
    return f;
}

static const char *arm_implementer(uint32_t id) {
    switch (id) {
    case 0x41: return "ARM";
    case 0x42: return "Broadcom";
    case 0x43: return "Cavium";
    case 0x48: return "HiSilicon";
    case 0x4e: return "NVIDIA";
    case 0x51: return "Qualcomm";
    case 0x61: return "Apple";
    case 0xc0: return "Ampere";
    }
    return NULL;
}

static const char *arm_part(uint32_t implementer, uint32_t part) {
    if (implementer != 0x41) return NULL;
    switch (part) {
    case 0xd03: return "Cortex-A53";
    case 0xd05: return "Cortex-A55";
    case 0xd08: return "Cortex-A72";
    case 0xd0b: return "Cortex-A76";
    case 0xd0c: return "Neoverse N1";
    case 0xd40: return "Neoverse V1";
    case 0xd41: return "Cortex-A78";
    case 0xd44: return "Cortex-X1";
    case 0xd49: return "Neoverse N2";
    case 0xd4f: return "Neoverse V2";
    }
    return NULL;
}

typedef struct cpuinfo_fields {
    char vendor[64], model[128];
    uint32_t features;
    int has_flags, n_processors, is_arm;
    uint32_t implementer, part;
    int has_implementer, has_part;
} cpuinfo_fields;

/* Reads the first processor's block (vendor, model, flags) and counts the processors. */
static void parse_cpuinfo(const char *text, cpuinfo_fields *f) {
    memset(f, 0, sizeof *f);
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *colon = memchr(line, ':', len);
        if (colon) {
            size_t klen = (size_t)(colon - line);
            while (klen > 0 && isspace((unsigned char)line[klen - 1])) klen--;
            const char *val = colon + 1;
            size_t vlen = len - (size_t)(val - line);
            char v[4096];
            disc_clean(v, sizeof v, val, vlen);
#define KEY(s) (klen == sizeof(s) - 1 && !strncmp(line, s, klen))
            if (KEY("processor")) f->n_processors++;
            else if (f->n_processors <= 1) {
                if (KEY("vendor_id") && !f->vendor[0])
                    disc_clean(f->vendor, sizeof f->vendor, v, strlen(v));
                else if (KEY("model name") && !f->model[0])
                    disc_clean(f->model, sizeof f->model, v, strlen(v));
                else if ((KEY("flags") || KEY("Features")) && !f->has_flags) {
                    f->features = features_from_flags(v);
                    f->has_flags = 1;
                } else if (KEY("CPU implementer") && !f->has_implementer) {
                    f->is_arm = 1;
                    f->has_implementer = disc_parse_hex(v, &f->implementer) == 0;
                } else if (KEY("CPU part") && !f->has_part) {
                    f->has_part = disc_parse_hex(v, &f->part) == 0;
                }
            }
#undef KEY
        }
        if (!end) break;
        line = end + 1;
    }
}

#if defined(__x86_64__)
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Features the CPU reports and the OS has enabled (XCR0 saves the YMM / ZMM state). */
static uint32_t x86_features(char *vendor, size_t vcap, char *brand, size_t bcap) {
    unsigned a, b, c, d;
    uint32_t f = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    unsigned max_leaf = a;
    char v[13];
    memcpy(v, &b, 4), memcpy(v + 4, &d, 4), memcpy(v + 8, &c, 4), v[12] = '\0';
    disc_clean(vendor, vcap, v, 12);
    __get_cpuid(1, &a, &b, &c, &d);
    int osxsave = (c >> 27) & 1;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    int ymm = (xcr0 & 0x6) == 0x6, zmm = ymm && (xcr0 & 0xe0) == 0xe0;
    if (ymm && (c >> 28 & 1)) f |= UE_CPU_AVX;
    if (ymm && (c >> 12 & 1)) f |= UE_CPU_FMA;
    if (ymm && (c >> 29 & 1)) f |= UE_CPU_F16C;
    if (max_leaf >= 7) {
        __get_cpuid_count(7, 0, &a, &b, &c, &d);
        unsigned max_sub = a;
        if (ymm && (b >> 5 & 1)) f |= UE_CPU_AVX2;
        if (zmm && (b >> 16 & 1)) f |= UE_CPU_AVX512F;
        if (zmm && (b >> 30 & 1)) f |= UE_CPU_AVX512BW;
        if (zmm && (c >> 11 & 1)) f |= UE_CPU_AVX512VNNI;
        if (max_sub >= 1) {
            __get_cpuid_count(7, 1, &a, &b, &c, &d);
            if (ymm && (a >> 4 & 1)) f |= UE_CPU_AVXVNNI;
            if (zmm && (a >> 5 & 1)) f |= UE_CPU_AVX512BF16;
        }
    }
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000004) {
        unsigned r[12];
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002 + i, &r[i * 4], &r[i * 4 + 1], &r[i * 4 + 2], &r[i * 4 + 3]);
        disc_clean(brand, bcap, (const char *)r, strnlen((const char *)r, sizeof r));
    }
    return f;
}
#endif

#if defined(__aarch64__)
/* Linux arm64 HWCAP bits (arch/arm64/include/uapi/asm/hwcap.h). */
static uint32_t arm64_features(void) {
    unsigned long h = getauxval(AT_HWCAP), h2 = getauxval(AT_HWCAP2);
    uint32_t f = 0;
    if (h & (1ul << 1)) f |= UE_CPU_NEON;     /* HWCAP_ASIMD */
    if (h & (1ul << 10)) f |= UE_CPU_FP16;    /* HWCAP_ASIMDHP */
    if (h & (1ul << 20)) f |= UE_CPU_DOTPROD; /* HWCAP_ASIMDDP */
    if (h & (1ul << 22)) f |= UE_CPU_SVE;     /* HWCAP_SVE */
    if (h2 & (1ul << 13)) f |= UE_CPU_I8MM;   /* HWCAP2_I8MM */
    return f;
}
#endif

/* First CPU number in a list ("4-7,12" -> 4); -1 when malformed. */
static int first_cpu(const char *s) {
    if (!isdigit((unsigned char)*s)) return -1;
    long v = strtol(s, NULL, 10);
    return v >= 0 && v < 1000000 ? (int)v : -1;
}

static void probe_topology(const ue_discovery_opts *opts, ue_cpu_info *cpu,
                           ue_discovery_notes *notes) {
    char buf[4096], path[1024];
    int e = disc_read_line(opts, "/sys/devices/system/cpu/online", buf, sizeof buf);
    int online = e ? -1 : disc_cpulist_count(buf);
    if (online > 0) cpu->n_logical = online;
    else if (e != ENOENT)
        ue_disc_note(notes, "cpu: /sys/devices/system/cpu/online is %s",
                     e ? strerror(e) : "not a CPU list");

    /* One core per distinct thread-sibling set, one package per distinct package set:
     * count the CPUs that come first in their own set. */
    if (disc_path(opts, "/sys/devices/system/cpu", path, sizeof path) != 0) return;
    DIR *dir = opendir(path);
    if (!dir) return;
    int cores = 0, packages = 0, seen = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        char *end;
        if (strncmp(de->d_name, "cpu", 3) || !isdigit((unsigned char)de->d_name[3])) continue;
        long n = strtol(de->d_name + 3, &end, 10);
        if (*end || n < 0 || n >= 1000000) continue;
        char rel[128];
        snprintf(rel, sizeof rel, "/sys/devices/system/cpu/cpu%ld/topology/thread_siblings_list",
                 n);
        if (disc_read_line(opts, rel, buf, sizeof buf) != 0) continue; /* offline */
        seen++;
        if (first_cpu(buf) == n) cores++;
        snprintf(rel, sizeof rel, "/sys/devices/system/cpu/cpu%ld/topology/core_siblings_list",
                 n);
        if (disc_read_line(opts, rel, buf, sizeof buf) == 0 && first_cpu(buf) == n) packages++;
    }
    closedir(dir);
    if (seen > 0 && cores > 0) cpu->n_cores = cores;
    if (seen > 0 && packages > 0) cpu->n_packages = packages;
    if (seen > 0 && cpu->n_logical == 0) cpu->n_logical = seen;
}

/* "32K", "1024K", "8M" -> bytes; 0 when malformed. */
static uint64_t parse_cache_size(const char *s) {
    uint64_t v = 0;
    int d = 0;
    for (; isdigit((unsigned char)*s) && d < 12; s++, d++) v = v * 10 + (uint64_t)(*s - '0');
    if (d == 0) return 0;
    uint64_t mul = 1;
    if (*s == 'K') mul = 1024, s++;
    else if (*s == 'M') mul = 1024 * 1024, s++;
    else if (*s == 'G') mul = 1024ull * 1024 * 1024, s++;
    return *s ? 0 : v * mul;
}

static void probe_caches(const ue_discovery_opts *opts, ue_cpu_info *cpu,
                         ue_discovery_notes *notes) {
    for (int i = 0; i < 16 && cpu->n_caches < UE_DISC_CACHE_MAX; i++) {
        char rel[128], level[32], type[32], size[32], shared[4096];
        const char *base = "/sys/devices/system/cpu/cpu0/cache/index";
        snprintf(rel, sizeof rel, "%s%d/level", base, i);
        int e = disc_read_line(opts, rel, level, sizeof level);
        if (e == ENOENT) break;
        snprintf(rel, sizeof rel, "%s%d/type", base, i);
        int e2 = disc_read_line(opts, rel, type, sizeof type);
        snprintf(rel, sizeof rel, "%s%d/size", base, i);
        int e3 = disc_read_line(opts, rel, size, sizeof size);
        uint64_t lv = 0, bytes = e3 ? 0 : parse_cache_size(size);
        if (e || e2 || disc_parse_u64(level, &lv) != 0 || lv < 1 || lv > 9 || bytes == 0) {
            ue_disc_note(notes, "cpu: cache index%d in sysfs is unreadable or malformed", i);
            continue;
        }
        ue_cpu_cache *c = &cpu->caches[cpu->n_caches++];
        c->level = (int)lv;
        disc_clean(c->type, sizeof c->type, type, strlen(type));
        c->size = bytes;
        snprintf(rel, sizeof rel, "%s%d/shared_cpu_list", base, i);
        int n = disc_read_line(opts, rel, shared, sizeof shared) ? -1 : disc_cpulist_count(shared);
        c->shared_cpus = n > 0 ? n : 0;
    }
}

static void probe_meminfo(const ue_discovery_opts *opts, ue_cpu_info *cpu,
                          ue_discovery_notes *notes) {
    char buf[8192];
    size_t len;
    int e = disc_read(opts, "/proc/meminfo", buf, sizeof buf, &len);
    if (e) {
        ue_disc_note(notes, "cpu: /proc/meminfo: %s", strerror(e));
        return;
    }
    const char *keys[2] = {"MemTotal:", "MemAvailable:"};
    uint64_t *dst[2] = {&cpu->ram_total, &cpu->ram_available};
    for (int k = 0; k < 2; k++) {
        const char *p = strstr(buf, keys[k]);
        if (!p || (p != buf && p[-1] != '\n')) continue;
        p += strlen(keys[k]);
        char *end;
        errno = 0;
        unsigned long long kb = strtoull(p, &end, 10);
        while (*end == ' ') end++;
        if (errno || end == p || strncmp(end, "kB", 2) || kb > (UINT64_MAX >> 10)) {
            ue_disc_note(notes, "cpu: /proc/meminfo %.*s is not a kB count",
                         (int)strlen(keys[k]) - 1, keys[k]);
            continue;
        }
        *dst[k] = (uint64_t)kb << 10;
    }
    if (!cpu->ram_total) ue_disc_note(notes, "cpu: /proc/meminfo gives no MemTotal");
}

void ue_cpu_probe(const ue_discovery_opts *opts, ue_cpu_info *cpu, ue_discovery_notes *notes) {
    memset(cpu, 0, sizeof *cpu);
    int live = disc_live(opts);
#if defined(__x86_64__)
    snprintf(cpu->arch, sizeof cpu->arch, "x86-64");
#elif defined(__aarch64__)
    snprintf(cpu->arch, sizeof cpu->arch, "arm64");
#else
    snprintf(cpu->arch, sizeof cpu->arch, "unknown");
#endif

    /* 256 KiB holds the first processor's block of any cpuinfo; the count of processors
     * is only a fallback for a missing sysfs. */
    size_t cap = 256 * 1024, len = 0;
    char *text = malloc(cap);
    cpuinfo_fields f;
    memset(&f, 0, sizeof f);
    int e = text ? disc_read(opts, "/proc/cpuinfo", text, cap, &len) : ENOMEM;
    if (e) ue_disc_note(notes, "cpu: /proc/cpuinfo: %s", strerror(e));
    else parse_cpuinfo(text, &f);
    free(text);

    snprintf(cpu->vendor, sizeof cpu->vendor, "%s", f.vendor);
    snprintf(cpu->model, sizeof cpu->model, "%s", f.model);
    if (f.is_arm) {
        const char *impl = f.has_implementer ? arm_implementer(f.implementer) : NULL;
        if (!cpu->vendor[0] && f.has_implementer)
            snprintf(cpu->vendor, sizeof cpu->vendor, "%s", impl ? impl : "unknown implementer");
        const char *part = f.has_part ? arm_part(f.implementer, f.part) : NULL;
        if (!cpu->model[0] && part) snprintf(cpu->model, sizeof cpu->model, "%s", part);
        else if (!cpu->model[0] && f.has_part)
            snprintf(cpu->model, sizeof cpu->model, "%s part 0x%03x", impl ? impl : "CPU",
                     f.part);
        if (!live) snprintf(cpu->arch, sizeof cpu->arch, "arm64");
    } else if (!live && f.vendor[0]) {
        snprintf(cpu->arch, sizeof cpu->arch, "x86-64");
    }
    if (f.has_flags) {
        cpu->features = f.features;
        snprintf(cpu->feature_source, sizeof cpu->feature_source, "/proc/cpuinfo");
    }
    if (live) {
#if defined(__x86_64__)
        char vendor[64] = "", brand[128] = "";
        cpu->features = x86_features(vendor, sizeof vendor, brand, sizeof brand);
        snprintf(cpu->feature_source, sizeof cpu->feature_source, "cpuid");
        if (vendor[0]) snprintf(cpu->vendor, sizeof cpu->vendor, "%s", vendor);
        if (!cpu->model[0]) snprintf(cpu->model, sizeof cpu->model, "%s", brand);
#elif defined(__aarch64__)
        cpu->features = arm64_features();
        snprintf(cpu->feature_source, sizeof cpu->feature_source, "hwcap");
#endif
        cpu->n_allowed = ue_cpu_count();
    }
    if (!cpu->model[0]) snprintf(cpu->model, sizeof cpu->model, "unknown CPU");

    probe_topology(opts, cpu, notes);
    if (cpu->n_logical == 0 && f.n_processors > 0) cpu->n_logical = f.n_processors;
    if (cpu->n_logical == 0) ue_disc_note(notes, "cpu: the number of logical CPUs is unknown");
    probe_caches(opts, cpu, notes);
    probe_meminfo(opts, cpu, notes);
}
