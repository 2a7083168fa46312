/* Hardware discovery: what this machine has (CPU, Vulkan devices, AMD XDNA NPUs, NVIDIA
 * GPUs through the CUDA driver) and what Unicorn can do with each today. Discovery never
 * fails: a missing library, an unreadable file or a strange value becomes a note and the
 * rest is still filled in. Every file is read below opts->root, so tests can point it at
 * fake sysfs, /proc and /dev trees. Every string in the report is printable UTF-8 (file
 * contents are cleaned on the way in). The Vulkan backend shares ue_vk_device_info. */
#ifndef UE_BACKEND_DISCOVERY_H
#define UE_BACKEND_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum {
    UE_DISC_NOTE_MAX = 64,
    UE_DISC_NOTE_LEN = 256,
    UE_DISC_VK_MAX = 16,
    UE_DISC_VK_HEAP_MAX = 16,
    UE_DISC_VK_COOPMAT_MAX = 32,
    UE_DISC_NPU_MAX = 8,
    UE_DISC_CUDA_MAX = 16,
    UE_DISC_CACHE_MAX = 8
};

typedef struct ue_discovery_opts {
    const char *root;      /* NULL or "/": this machine; else a fake tree (tests) */
    int skip_libraries;    /* 1: do not load libvulkan, libcuda or XRT (fake trees) */
    int isolate_libraries; /* 1: run the probes that load them (NPU, Vulkan, CUDA) in a
                              short-lived child process, so this one maps none of the
                              drivers; same report (in-process when fork fails) */
    int probe_bandwidth;   /* 1: measure memory bandwidth (~0.5 s) */
    double probe_seconds;  /* 0: 0.5 s in all */
    size_t probe_bytes;    /* bytes per buffer (two buffers); 0: chosen from caches and RAM */
} ue_discovery_opts;

/* Free-form lines saying what could not be read or looked strange ("npu: ..."). */
typedef struct ue_discovery_notes {
    int n, dropped;
    char text[UE_DISC_NOTE_MAX][UE_DISC_NOTE_LEN];
} ue_discovery_notes;

void ue_disc_note(ue_discovery_notes *notes, const char *fmt, ...) UE_PRINTF(2, 3);

/* What a probe that loads a library found. */
typedef enum ue_disc_status {
    UE_DISC_NOT_PROBED = 0, /* skipped (fake root, or not compiled in) */
    UE_DISC_OK,             /* library loaded and answered (maybe with zero devices) */
    UE_DISC_NO_LIBRARY,     /* the library could not be loaded */
    UE_DISC_FAILED          /* loaded, but initialization or a query failed */
} ue_disc_status;

const char *ue_disc_status_str(ue_disc_status s);

/* ---- CPU ---------------------------------------------------------------------------- */

/* SIMD features that matter to the CPU kernels. */
enum {
    UE_CPU_AVX = 1u << 0,
    UE_CPU_AVX2 = 1u << 1,
    UE_CPU_FMA = 1u << 2,
    UE_CPU_F16C = 1u << 3,
    UE_CPU_AVX512F = 1u << 4,
    UE_CPU_AVX512BW = 1u << 5,
    UE_CPU_AVX512VNNI = 1u << 6,
    UE_CPU_AVX512BF16 = 1u << 7,
    UE_CPU_AVXVNNI = 1u << 8,
    UE_CPU_NEON = 1u << 9,
    UE_CPU_DOTPROD = 1u << 10,
    UE_CPU_I8MM = 1u << 11,
    UE_CPU_FP16 = 1u << 12, /* arm64 half-precision arithmetic (asimdhp) */
    UE_CPU_SVE = 1u << 13,
    UE_CPU_FEATURE_COUNT = 14
};

/* Short name of one UE_CPU_* bit ("AVX-512 VNNI"), and its /proc/cpuinfo flag ("avx512_vnni"). */
const char *ue_cpu_feature_name(uint32_t bit);
const char *ue_cpu_feature_flag(uint32_t bit);

typedef struct ue_cpu_cache {
    int level;          /* 1, 2, 3 */
    char type[16];      /* "Data", "Instruction", "Unified" */
    uint64_t size;      /* bytes of one instance */
    int shared_cpus;    /* logical CPUs sharing that instance; 0: unknown */
} ue_cpu_cache;

typedef struct ue_cpu_info {
    char arch[16];            /* "x86-64", "arm64", ... */
    char vendor[64];          /* "AuthenticAMD", "GenuineIntel", "ARM", ... */
    char model[128];          /* "AMD Ryzen 7 8840U w/ Radeon 780M Graphics" */
    int n_logical;            /* online logical CPUs; 0: unknown */
    int n_cores;              /* physical cores; 0: unknown */
    int n_packages;           /* sockets; 0: unknown */
    int n_allowed;            /* CPUs this process may run on; 0: not known (fake root) */
    uint32_t features;        /* UE_CPU_* */
    char feature_source[32];  /* "cpuid", "hwcap", "/proc/cpuinfo" */
    ue_cpu_cache caches[UE_DISC_CACHE_MAX];
    int n_caches;
    uint64_t ram_total, ram_available; /* bytes; 0: unknown */
    double bw_read_gbs, bw_copy_gbs;   /* --probe; 0: not measured */
    int bw_threads;
    uint64_t bw_bytes;                 /* bytes of each of the two probe buffers */
} ue_cpu_info;

void ue_cpu_probe(const ue_discovery_opts *opts, ue_cpu_info *cpu, ue_discovery_notes *notes);
/* Measures read and copy bandwidth with cpu->n_allowed (or n_logical) threads; fills bw_*. */
void ue_membw_probe(const ue_discovery_opts *opts, ue_cpu_info *cpu, ue_discovery_notes *notes);

/* ---- Vulkan ------------------------------------------------------------------------- */

typedef struct ue_vk_heap {
    uint64_t size;
    int device_local;   /* VK_MEMORY_HEAP_DEVICE_LOCAL_BIT */
    int host_visible;   /* some memory type on this heap is host-visible */
} ue_vk_heap;

/* One supported cooperative-matrix shape (VK_KHR_cooperative_matrix). */
typedef struct ue_vk_coopmat {
    uint32_t m, n, k;
    char a[12], b[12], c[12], result[12]; /* "f16", "s8", "f32", "bf16", ... */
    int subgroup_scope;
} ue_vk_coopmat;

typedef enum ue_vk_type {
    UE_VK_OTHER = 0, UE_VK_INTEGRATED, UE_VK_DISCRETE, UE_VK_VIRTUAL, UE_VK_CPU
} ue_vk_type;

typedef struct ue_vk_device_info {
    int index;                  /* position in vkEnumeratePhysicalDevices */
    char name[256];
    uint32_t vendor_id, device_id;
    char vendor[32];            /* "AMD", "NVIDIA", "Intel", "Mesa", ... */
    ue_vk_type type;
    uint32_t api_version;       /* VK_MAKE_API_VERSION encoding */
    uint32_t driver_version;    /* vendor-specific encoding; see driver_version_str */
    char driver_version_str[32];
    char driver_name[256], driver_info[256]; /* VkPhysicalDeviceDriverProperties */
    uint8_t uuid[16];           /* deviceUUID: matches CUDA's UUID on NVIDIA */
    int has_uuid;
    ue_vk_heap heaps[UE_DISC_VK_HEAP_MAX];
    int n_heaps;
    int unified_memory;         /* integrated or CPU device: one memory for all */
    uint32_t subgroup_size, subgroup_min, subgroup_max;
    uint32_t shared_memory;     /* maxComputeSharedMemorySize, bytes per workgroup */
    int fp16, int8, bf16;       /* shader arithmetic */
    int int_dot;                /* shaderIntegerDotProduct */
    int int_dot_accel;          /* packed 4x8-bit signed dot product is accelerated */
    int coopmat_khr, coopmat_nv, coopmat2_nv;
    ue_vk_coopmat coopmat[UE_DISC_VK_COOPMAT_MAX];
    int n_coopmat;
} ue_vk_device_info;

typedef struct ue_vk_report {
    ue_disc_status status;
    char library[64];           /* the loader that was opened */
    char error[256];            /* why status is not OK */
    uint32_t instance_version;
    int n;
    ue_vk_device_info dev[UE_DISC_VK_MAX];
} ue_vk_report;

void ue_vulkan_probe(const ue_discovery_opts *opts, ue_vk_report *vk, ue_discovery_notes *notes);
/* Shared objects loaded in this process, and keeping those loaded after the first
 * `before` mapped for good: vkCreateInstance loads the drivers (ICDs), which must outlive
 * vkDestroyInstance (exit handlers, and memory LeakSanitizer would otherwise report).
 * Also used by the Vulkan backend. */
int ue_disc_count_objects(void);
void ue_disc_pin_objects_after(int before);
const char *ue_vk_type_name(ue_vk_type t); /* "integrated GPU", "discrete GPU", "CPU", ... */

/* ---- AMD XDNA NPU ------------------------------------------------------------------- */

typedef struct ue_npu_info {
    char pci_addr[32];          /* "0000:c5:00.1" */
    uint32_t device_id, revision;
    char generation[16];        /* "XDNA1", "XDNA2", "unknown" */
    char name[64];              /* "Strix Point", "Phoenix or Hawk Point", ... */
    char name_basis[160];       /* how the name was decided, when not by the PCI ids alone */
    int tops, tops_alt;         /* nominal int8 TOPS; tops_alt when two chips share ids; 0: unknown */
    char driver[64];            /* bound driver ("amdxdna"), "" when none */
    int driver_ok;              /* bound to amdxdna */
    char node[64];              /* "/dev/accel/accel0", "" when none */
    int node_exists, node_access; /* node present; this user may open it read-write */
    char fw_version[64];        /* sysfs fw_version, "" when absent */
    char vbnv[64];              /* sysfs vbnv ("RyzenAI-npu4"), "" when absent */
} ue_npu_info;

typedef struct ue_npu_report {
    int n;
    ue_npu_info dev[UE_DISC_NPU_MAX];
    ue_disc_status xrt_status;  /* can the XRT runtime library be loaded */
    char xrt_library[128];
    char xrt_error[256];
} ue_npu_report;

/* cpu_model (may be "") tells Phoenix from Hawk Point, which share PCI ids. */
void ue_npu_probe(const ue_discovery_opts *opts, const char *cpu_model, ue_npu_report *npu,
                  ue_discovery_notes *notes);

/* ---- NVIDIA through the CUDA driver ------------------------------------------------- */

typedef struct ue_cuda_device {
    char name[256];
    uint64_t memory;            /* bytes */
    int cc_major, cc_minor, sm_count;
    uint8_t uuid[16];
    int has_uuid;
    int vk_index;               /* the same GPU among the Vulkan devices; -1: none */
} ue_cuda_device;

typedef struct ue_cuda_report {
    ue_disc_status status;
    char error[256];
    int driver_version;         /* 12040 = 12.4 */
    int n;
    ue_cuda_device dev[UE_DISC_CUDA_MAX];
} ue_cuda_report;

void ue_cuda_probe(const ue_discovery_opts *opts, ue_cuda_report *cuda, ue_discovery_notes *notes);

/* ---- the whole report --------------------------------------------------------------- */

typedef struct ue_discovery {
    int live;                   /* read from this machine (root "/") */
    ue_cpu_info cpu;
    ue_vk_report vk;
    ue_npu_report npu;
    ue_cuda_report cuda;
    ue_discovery_notes notes;
} ue_discovery;

/* Runs every probe. Fails only when the report cannot be allocated. */
ue_status ue_discovery_run(const ue_discovery_opts *opts, ue_discovery **out, ue_error *err);
void ue_discovery_destroy(ue_discovery *d); /* NULL is a no-op */

/* ---- choosing a device -------------------------------------------------------------- */

/* Backends compiled into a build. */
enum {
    UE_BUILT_CPU = 1u << 0,
    UE_BUILT_VULKAN = 1u << 1,
    UE_BUILT_NPU = 1u << 2,
    UE_BUILT_CUDA = 1u << 3
};
/* The backends of this build: add a bit when a backend lands (used by `unicorn devices`
 * and, once wired, by the engine's device choice). */
#ifdef UE_HAVE_VULKAN_BACKEND
#define UE_BUILT_BACKENDS (UE_BUILT_CPU | UE_BUILT_VULKAN)
#else
#define UE_BUILT_BACKENDS (UE_BUILT_CPU)
#endif

typedef enum ue_device_kind {
    UE_DEVICE_CPU, UE_DEVICE_CPU_REF, UE_DEVICE_VULKAN, UE_DEVICE_NPU, UE_DEVICE_CUDA
} ue_device_kind;

typedef struct ue_device_choice {
    ue_device_kind kind;
    int index;                  /* among that kind's devices (vulkanN, npuN, cudaN) */
    char device[32];            /* "cpu", "cpu-ref", "vulkan0", ... */
    char reason[512];           /* one line: why this one */
} ue_device_choice;

/* One line on what Unicorn does with a device of this kind in a build with `built`
 * ("runs the model", "detected; the Vulkan backend is not built yet", ...). */
const char *ue_discovery_today(ue_device_kind kind, unsigned built);

/* Resolves `asked` ("auto", NULL, "cpu", "cpu-ref", "vulkan", "vulkanN", "gpu", "npu",
 * "npuN", "cuda", "cudaN") against the report and the built backends; out->reason says
 * why in one line. An absent device is UE_ERR_ARGUMENT, one that is present but has no
 * backend in this build UE_ERR_UNSUPPORTED; both messages list what this machine has. */
ue_status ue_discovery_pick(const ue_discovery *d, const char *asked, unsigned built,
                            ue_device_choice *out, ue_error *err);

/* Writes "cpu (AMD EPYC), cpu-ref, vulkan0 (llvmpipe) [no backend yet], ..." into buf. */
void ue_discovery_list(const ue_discovery *d, unsigned built, char *buf, size_t cap);

#endif
