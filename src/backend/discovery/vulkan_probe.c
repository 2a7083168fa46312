/* Vulkan discovery: loads libvulkan.so.1 at run time (no link-time dependency), creates a
 * bare instance and describes every physical device: name, vendor, type, driver and API
 * version, memory heaps, subgroup sizes, shared memory, and the shader features the GPU
 * kernels will want (fp16, int8, bf16, integer dot product, cooperative matrix KHR / NV /
 * NV2). Types come from the Vulkan headers (VK_NO_PROTOTYPES); structs of extensions newer
 * than those headers are declared below from the Vulkan registry (vk.xml). Built without
 * the headers, the probe reports that it was not compiled in. */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/discovery/disc_fs.h"

const char *ue_vk_type_name(ue_vk_type t) {
    switch (t) {
    case UE_VK_INTEGRATED: return "integrated GPU";
    case UE_VK_DISCRETE: return "discrete GPU";
    case UE_VK_VIRTUAL: return "virtual GPU";
    case UE_VK_CPU: return "CPU";
    case UE_VK_OTHER: break;
    }
    return "other";
}

#if defined(__has_include)
#if __has_include(<vulkan/vulkan_core.h>)
#define UE_HAVE_VULKAN_HEADERS 1
#endif
#endif

#ifndef UE_HAVE_VULKAN_HEADERS

void ue_vulkan_probe(const ue_discovery_opts *opts, ue_vk_report *vk, ue_discovery_notes *notes) {
    (void)opts, (void)notes;
    memset(vk, 0, sizeof *vk);
    vk->status = UE_DISC_NOT_PROBED;
    snprintf(vk->error, sizeof vk->error,
             "this build has no Vulkan headers (install libvulkan-dev and rebuild)");
}

#else

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan_core.h>

/* VK_KHR_cooperative_matrix (registry extension 507). */
#define UE_VK_STYPE_COOPMAT_FEATURES_KHR ((VkStructureType)1000506000)
#define UE_VK_STYPE_COOPMAT_PROPERTIES_KHR ((VkStructureType)1000506001)
typedef struct ue_vk_coopmat_features_khr {
    VkStructureType sType;
    void *pNext;
    VkBool32 cooperativeMatrix;
    VkBool32 cooperativeMatrixRobustBufferAccess;
} ue_vk_coopmat_features_khr;
typedef struct ue_vk_coopmat_properties_khr {
    VkStructureType sType;
    void *pNext;
    uint32_t MSize, NSize, KSize;
    int32_t AType, BType, CType, ResultType; /* VkComponentTypeKHR */
    VkBool32 saturatingAccumulation;
    int32_t scope;                           /* VkScopeKHR: 3 = subgroup */
} ue_vk_coopmat_properties_khr;
typedef VkResult (*ue_pfn_coopmat_props)(VkPhysicalDevice, uint32_t *,
                                         ue_vk_coopmat_properties_khr *);

/* VK_NV_cooperative_matrix2 (registry extension 594). */
#define UE_VK_STYPE_COOPMAT2_FEATURES_NV ((VkStructureType)1000593000)
typedef struct ue_vk_coopmat2_features_nv {
    VkStructureType sType;
    void *pNext;
    VkBool32 cooperativeMatrixWorkgroupScope;
    VkBool32 cooperativeMatrixFlexibleDimensions;
    VkBool32 cooperativeMatrixReductions;
    VkBool32 cooperativeMatrixConversions;
    VkBool32 cooperativeMatrixPerElementOperations;
    VkBool32 cooperativeMatrixTensorAddressing;
    VkBool32 cooperativeMatrixBlockLoads;
} ue_vk_coopmat2_features_nv;

/* VK_KHR_shader_bfloat16 (registry extension 142). */
#define UE_VK_STYPE_BF16_FEATURES_KHR ((VkStructureType)1000141000)
typedef struct ue_vk_bf16_features_khr {
    VkStructureType sType;
    void *pNext;
    VkBool32 shaderBFloat16Type;
    VkBool32 shaderBFloat16DotProduct;
    VkBool32 shaderBFloat16CooperativeMatrix;
} ue_vk_bf16_features_khr;

typedef struct vk_fns {
    PFN_vkGetInstanceProcAddr get_proc;
    PFN_vkDestroyInstance destroy_instance;
    PFN_vkEnumeratePhysicalDevices enum_devices;
    PFN_vkGetPhysicalDeviceProperties props;
    PFN_vkGetPhysicalDeviceProperties2 props2;
    PFN_vkGetPhysicalDeviceFeatures2 features2;
    PFN_vkGetPhysicalDeviceMemoryProperties mem_props;
    PFN_vkEnumerateDeviceExtensionProperties enum_exts;
    ue_pfn_coopmat_props coopmat_props;
} vk_fns;

static const char *vendor_name(uint32_t id) {
    switch (id) {
    case 0x1002: return "AMD";
    case 0x10de: return "NVIDIA";
    case 0x8086: return "Intel";
    case 0x13b5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x1010: return "Imagination";
    case 0x106b: return "Apple";
    case 0x14e4: return "Broadcom";
    case 0x10005: return "Mesa";
    }
    return "unknown";
}

static const char *component_name(int32_t t) {
    switch (t) {
    case 0: return "f16";
    case 1: return "f32";
    case 2: return "f64";
    case 3: return "s8";
    case 4: return "s16";
    case 5: return "s32";
    case 6: return "s64";
    case 7: return "u8";
    case 8: return "u16";
    case 9: return "u32";
    case 10: return "u64";
    case 1000141000: return "bf16";
    case 1000491002: return "e4m3";
    case 1000491003: return "e5m2";
    }
    return "other";
}

static int has_ext(const VkExtensionProperties *exts, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (!strncmp(exts[i].extensionName, name, VK_MAX_EXTENSION_NAME_SIZE)) return 1;
    return 0;
}

static void driver_version_string(ue_vk_device_info *d) {
    uint32_t v = d->driver_version;
    if (d->vendor_id == 0x10de) /* NVIDIA: 10.8.8.6 bits */
        snprintf(d->driver_version_str, sizeof d->driver_version_str, "%u.%u.%u", v >> 22,
                 (v >> 14) & 0xff, (v >> 6) & 0xff);
    else
        snprintf(d->driver_version_str, sizeof d->driver_version_str, "%u.%u.%u", v >> 22,
                 (v >> 12) & 0x3ff, v & 0xfff);
}

static void copy_fixed(char *dst, size_t cap, const char *src, size_t src_cap) {
    disc_clean(dst, cap, src, strnlen(src, src_cap));
}

/* Everything about one device; `api` is the version usable with it (instance and device). */
static void describe(const vk_fns *f, VkPhysicalDevice pd, uint32_t inst_api,
                     ue_vk_device_info *d, ue_discovery_notes *notes) {
    VkPhysicalDeviceProperties p;
    memset(&p, 0, sizeof p);
    f->props(pd, &p);
    copy_fixed(d->name, sizeof d->name, p.deviceName, sizeof p.deviceName);
    d->vendor_id = p.vendorID;
    d->device_id = p.deviceID;
    snprintf(d->vendor, sizeof d->vendor, "%s", vendor_name(p.vendorID));
    switch (p.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: d->type = UE_VK_INTEGRATED; break;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: d->type = UE_VK_DISCRETE; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: d->type = UE_VK_VIRTUAL; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: d->type = UE_VK_CPU; break;
    default: d->type = UE_VK_OTHER; break;
    }
    d->api_version = p.apiVersion;
    d->driver_version = p.driverVersion;
    driver_version_string(d);
    d->shared_memory = p.limits.maxComputeSharedMemorySize;
    d->unified_memory = d->type == UE_VK_INTEGRATED || d->type == UE_VK_CPU;

    VkPhysicalDeviceMemoryProperties mp;
    memset(&mp, 0, sizeof mp);
    f->mem_props(pd, &mp);
    uint32_t nh = mp.memoryHeapCount < UE_DISC_VK_HEAP_MAX ? mp.memoryHeapCount
                                                           : UE_DISC_VK_HEAP_MAX;
    for (uint32_t h = 0; h < nh; h++) {
        ue_vk_heap *heap = &d->heaps[d->n_heaps++];
        heap->size = mp.memoryHeaps[h].size;
        heap->device_local = (mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
        for (uint32_t t = 0; t < mp.memoryTypeCount && t < VK_MAX_MEMORY_TYPES; t++)
            if (mp.memoryTypes[t].heapIndex == h &&
                (mp.memoryTypes[t].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
                heap->host_visible = 1;
    }

    uint32_t api = p.apiVersion < inst_api ? p.apiVersion : inst_api;
    if (api < VK_API_VERSION_1_1 || !f->props2 || !f->features2) {
        ue_disc_note(notes, "vulkan: %s: Vulkan 1.0 only; features not queried", d->name);
        return;
    }

    uint32_t n_ext = 0;
    VkExtensionProperties *exts = NULL;
    if (f->enum_exts(pd, NULL, &n_ext, NULL) == VK_SUCCESS && n_ext > 0 && n_ext < 100000) {
        exts = calloc(n_ext, sizeof *exts);
        if (!exts || f->enum_exts(pd, NULL, &n_ext, exts) < 0) n_ext = 0;
    }
    int v12 = api >= VK_API_VERSION_1_2, v13 = api >= VK_API_VERSION_1_3;

    /* Properties: ID (UUID), subgroup, driver, subgroup size control, int dot product. */
    VkPhysicalDeviceIDProperties idp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sgp = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, .pNext = &idp};
    VkPhysicalDeviceDriverProperties drv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlProperties sgc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
    VkPhysicalDeviceShaderIntegerDotProductProperties dotp = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &sgp};
    int has_drv = v12 || has_ext(exts, n_ext, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
    int has_sgc = v13 || has_ext(exts, n_ext, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    int has_dot = v13 || has_ext(exts, n_ext, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    if (has_drv) drv.pNext = p2.pNext, p2.pNext = &drv;
    if (has_sgc) sgc.pNext = p2.pNext, p2.pNext = &sgc;
    if (has_dot) dotp.pNext = p2.pNext, p2.pNext = &dotp;
    f->props2(pd, &p2);
    memcpy(d->uuid, idp.deviceUUID, 16);
    d->has_uuid = 1;
    d->subgroup_size = d->subgroup_min = d->subgroup_max = sgp.subgroupSize;
    if (has_sgc && sgc.minSubgroupSize > 0 && sgc.maxSubgroupSize >= sgc.minSubgroupSize) {
        d->subgroup_min = sgc.minSubgroupSize;
        d->subgroup_max = sgc.maxSubgroupSize;
    }
    if (has_drv) {
        copy_fixed(d->driver_name, sizeof d->driver_name, drv.driverName,
                   sizeof drv.driverName);
        copy_fixed(d->driver_info, sizeof d->driver_info, drv.driverInfo,
                   sizeof drv.driverInfo);
    }
    if (has_dot) d->int_dot_accel = dotp.integerDotProduct4x8BitPackedSignedAccelerated != 0;

    /* Features: fp16/int8, integer dot product, cooperative matrix, bf16. */
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDeviceShaderIntegerDotProductFeatures dotf = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
    ue_vk_coopmat_features_khr cmk = {.sType = UE_VK_STYPE_COOPMAT_FEATURES_KHR};
    VkPhysicalDeviceCooperativeMatrixFeaturesNV cmn = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    ue_vk_coopmat2_features_nv cm2 = {.sType = UE_VK_STYPE_COOPMAT2_FEATURES_NV};
    ue_vk_bf16_features_khr bf = {.sType = UE_VK_STYPE_BF16_FEATURES_KHR};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    /* Only structs the device supports go into the chain (a valid-usage rule). */
    int has_f16 = v12 || has_ext(exts, n_ext, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    int has_cmk = has_ext(exts, n_ext, "VK_KHR_cooperative_matrix");
    int has_cmn = has_ext(exts, n_ext, "VK_NV_cooperative_matrix");
    int has_cm2 = has_ext(exts, n_ext, "VK_NV_cooperative_matrix2");
    int has_bf = has_ext(exts, n_ext, "VK_KHR_shader_bfloat16");
    if (has_f16) f16.pNext = f2.pNext, f2.pNext = &f16;
    if (has_dot) dotf.pNext = f2.pNext, f2.pNext = &dotf;
    if (has_cmk) cmk.pNext = f2.pNext, f2.pNext = &cmk;
    if (has_cmn) cmn.pNext = f2.pNext, f2.pNext = &cmn;
    if (has_cm2) cm2.pNext = f2.pNext, f2.pNext = &cm2;
    if (has_bf) bf.pNext = f2.pNext, f2.pNext = &bf;
    f->features2(pd, &f2);
    d->fp16 = has_f16 && f16.shaderFloat16;
    d->int8 = has_f16 && f16.shaderInt8;
    d->int_dot = has_dot && dotf.shaderIntegerDotProduct;
    d->coopmat_khr = has_cmk && cmk.cooperativeMatrix;
    d->coopmat_nv = has_cmn && cmn.cooperativeMatrix;
    d->coopmat2_nv = has_cm2 && cm2.cooperativeMatrixWorkgroupScope;
    d->bf16 = has_bf && bf.shaderBFloat16Type;
    free(exts);

    if (d->coopmat_khr && f->coopmat_props) {
        uint32_t n = 0;
        if (f->coopmat_props(pd, &n, NULL) != VK_SUCCESS || n == 0 || n > 4096) return;
        ue_vk_coopmat_properties_khr *cp = calloc(n, sizeof *cp);
        if (!cp) return;
        for (uint32_t i = 0; i < n; i++) cp[i].sType = UE_VK_STYPE_COOPMAT_PROPERTIES_KHR;
        if (f->coopmat_props(pd, &n, cp) >= 0) {
            for (uint32_t i = 0; i < n && d->n_coopmat < UE_DISC_VK_COOPMAT_MAX; i++) {
                ue_vk_coopmat *c = &d->coopmat[d->n_coopmat++];
                c->m = cp[i].MSize, c->n = cp[i].NSize, c->k = cp[i].KSize;
                snprintf(c->a, sizeof c->a, "%s", component_name(cp[i].AType));
                snprintf(c->b, sizeof c->b, "%s", component_name(cp[i].BType));
                snprintf(c->c, sizeof c->c, "%s", component_name(cp[i].CType));
                snprintf(c->result, sizeof c->result, "%s", component_name(cp[i].ResultType));
                c->subgroup_scope = cp[i].scope == 3;
            }
        }
        free(cp);
    }
}

/* The shared objects loaded in this process, counted; and pinned when `pin` is set. */
typedef struct loaded_objects {
    int count, skip, pin;
} loaded_objects;

static int visit_object(struct dl_phdr_info *info, size_t size, void *user) {
    (void)size;
    loaded_objects *lo = user;
    if (lo->count++ < lo->skip || !info->dlpi_name || !info->dlpi_name[0]) return 0;
    if (lo->pin) {
        /* NOLOAD: only takes a reference to what is already there; NODELETE: never unmap. */
        void *h = dlopen(info->dlpi_name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
        if (h) dlclose(h);
    }
    return 0;
}

/* The loader unloads the drivers (ICDs) again in vkDestroyInstance. Keeping them mapped
 * matters twice: some drivers (NVIDIA's among them) have exit handlers and threads that
 * must not outlive their code, and memory a driver keeps in its globals would otherwise
 * turn into leaks for LeakSanitizer. dl_iterate_phdr lists objects in load order, so the
 * ones after `before` are those vkCreateInstance brought in. */
void ue_disc_pin_objects_after(int before) {
    loaded_objects lo = {.skip = before, .pin = 1};
    dl_iterate_phdr(visit_object, &lo);
}

int ue_disc_count_objects(void) {
    loaded_objects lo = {0};
    dl_iterate_phdr(visit_object, &lo);
    return lo.count;
}

void ue_vulkan_probe(const ue_discovery_opts *opts, ue_vk_report *vk, ue_discovery_notes *notes) {
    memset(vk, 0, sizeof *vk);
    if (opts && opts->skip_libraries) {
        vk->status = UE_DISC_NOT_PROBED;
        snprintf(vk->error, sizeof vk->error, "libraries are not loaded for a fake root");
        return;
    }
    static const char *names[] = {"libvulkan.so.1", "libvulkan.so"};
    void *lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++) {
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (lib) snprintf(vk->library, sizeof vk->library, "%s", names[i]);
    }
    if (!lib) {
        vk->status = UE_DISC_NO_LIBRARY;
        snprintf(vk->error, sizeof vk->error, "libvulkan.so.1 not found (no Vulkan loader)");
        return;
    }
    /* The loader stays loaded: some drivers register exit handlers that must outlive it. */
    vk_fns f;
    memset(&f, 0, sizeof f);
    *(void **)&f.get_proc = dlsym(lib, "vkGetInstanceProcAddr");
    if (!f.get_proc) {
        vk->status = UE_DISC_FAILED;
        snprintf(vk->error, sizeof vk->error, "%s has no vkGetInstanceProcAddr", vk->library);
        return;
    }
    PFN_vkEnumerateInstanceVersion enum_version =
        (PFN_vkEnumerateInstanceVersion)f.get_proc(NULL, "vkEnumerateInstanceVersion");
    PFN_vkCreateInstance create =
        (PFN_vkCreateInstance)f.get_proc(NULL, "vkCreateInstance");
    uint32_t loader_api = VK_API_VERSION_1_0;
    if (enum_version && enum_version(&loader_api) != VK_SUCCESS) loader_api = VK_API_VERSION_1_0;
    vk->instance_version = loader_api;
    if (!create) {
        vk->status = UE_DISC_FAILED;
        snprintf(vk->error, sizeof vk->error, "the loader has no vkCreateInstance");
        return;
    }
    uint32_t inst_api = loader_api < VK_API_VERSION_1_3 ? loader_api : VK_API_VERSION_1_3;
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "unicorn devices",
                             .pEngineName = "Unicorn Engine",
                             .apiVersion = inst_api};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pApplicationInfo = &app};
    VkInstance inst = VK_NULL_HANDLE;
    int objects_before = ue_disc_count_objects();
    VkResult r = create(&ci, NULL, &inst);
    ue_disc_pin_objects_after(objects_before);
    if (r != VK_SUCCESS) {
        vk->status = UE_DISC_FAILED;
        snprintf(vk->error, sizeof vk->error, "vkCreateInstance failed (VkResult %d%s)", (int)r,
                 r == VK_ERROR_INCOMPATIBLE_DRIVER
                     ? ": no usable Vulkan driver; VK_LOADER_DEBUG=driver tells why"
                     : "");
        return;
    }
#define LOAD(field, name) *(void **)&f.field = (void *)f.get_proc(inst, name)
    LOAD(destroy_instance, "vkDestroyInstance");
    LOAD(enum_devices, "vkEnumeratePhysicalDevices");
    LOAD(props, "vkGetPhysicalDeviceProperties");
    LOAD(mem_props, "vkGetPhysicalDeviceMemoryProperties");
    LOAD(enum_exts, "vkEnumerateDeviceExtensionProperties");
    if (inst_api >= VK_API_VERSION_1_1) {
        LOAD(props2, "vkGetPhysicalDeviceProperties2");
        LOAD(features2, "vkGetPhysicalDeviceFeatures2");
    }
    LOAD(coopmat_props, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
#undef LOAD
    if (!f.destroy_instance || !f.enum_devices || !f.props || !f.mem_props || !f.enum_exts) {
        vk->status = UE_DISC_FAILED;
        snprintf(vk->error, sizeof vk->error, "the loader lacks core Vulkan 1.0 functions");
        if (f.destroy_instance) f.destroy_instance(inst, NULL);
        return;
    }
    uint32_t n = 0;
    r = f.enum_devices(inst, &n, NULL);
    VkPhysicalDevice pds[UE_DISC_VK_MAX];
    if (r == VK_SUCCESS && n > 0) {
        if (n > UE_DISC_VK_MAX) {
            ue_disc_note(notes, "vulkan: %u devices; only the first %d are listed", n,
                         UE_DISC_VK_MAX);
            n = UE_DISC_VK_MAX;
        }
        r = f.enum_devices(inst, &n, pds);
    }
    if (r < 0) {
        vk->status = UE_DISC_FAILED;
        snprintf(vk->error, sizeof vk->error, "vkEnumeratePhysicalDevices failed (VkResult %d)",
                 (int)r);
        f.destroy_instance(inst, NULL);
        return;
    }
    vk->status = UE_DISC_OK;
    for (uint32_t i = 0; i < n; i++) {
        ue_vk_device_info *d = &vk->dev[vk->n++];
        d->index = (int)i;
        describe(&f, pds[i], inst_api, d, notes);
    }
    f.destroy_instance(inst, NULL);
}

#endif
