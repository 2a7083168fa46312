/* NVIDIA discovery through the CUDA driver API, loaded at run time from libcuda.so.1 (no
 * build-time dependency). The few prototypes are declared here from NVIDIA's public
 * driver API reference (cuda.h): cuInit, cuDriverGetVersion, cuDeviceGetCount, cuDeviceGet,
 * cuDeviceGetName, cuDeviceTotalMem_v2, cuDeviceGetAttribute, cuDeviceGetUuid. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "backend/discovery/disc_fs.h"

typedef int cu_result;   /* CUresult; 0 = CUDA_SUCCESS */
typedef int cu_device;   /* CUdevice */
typedef struct cu_uuid { char bytes[16]; } cu_uuid;

enum {
    CU_ATTR_MULTIPROCESSOR_COUNT = 16,
    CU_ATTR_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_ATTR_COMPUTE_CAPABILITY_MINOR = 76
};

typedef struct cu_fns {
    cu_result (*init)(unsigned int flags);
    cu_result (*driver_version)(int *version);
    cu_result (*count)(int *n);
    cu_result (*get)(cu_device *dev, int ordinal);
    cu_result (*name)(char *name, int len, cu_device dev);
    cu_result (*total_mem)(size_t *bytes, cu_device dev);
    cu_result (*attribute)(int *value, int attrib, cu_device dev);
    cu_result (*uuid)(cu_uuid *uuid, cu_device dev);
    cu_result (*error_string)(cu_result r, const char **s);
} cu_fns;

static void set_error(ue_cuda_report *c, const cu_fns *f, const char *what, cu_result r) {
    const char *msg = NULL;
    if (f->error_string) f->error_string(r, &msg);
    char raw[256];
    snprintf(raw, sizeof raw, "%s failed: %s (CUresult %d)", what, msg ? msg : "no message", r);
    disc_clean(c->error, sizeof c->error, raw, strlen(raw));
    c->status = UE_DISC_FAILED;
}

void ue_cuda_probe(const ue_discovery_opts *opts, ue_cuda_report *cuda, ue_discovery_notes *notes) {
    memset(cuda, 0, sizeof *cuda);
    if (opts && opts->skip_libraries) {
        cuda->status = UE_DISC_NOT_PROBED;
        snprintf(cuda->error, sizeof cuda->error, "libraries are not loaded for a fake root");
        return;
    }
    /* Not closed again: the driver keeps threads and exit handlers once initialized. */
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        cuda->status = UE_DISC_NO_LIBRARY;
        snprintf(cuda->error, sizeof cuda->error,
                 "libcuda.so.1 not found (no NVIDIA driver installed)");
        return;
    }
    cu_fns f;
    memset(&f, 0, sizeof f);
#define LOAD(field, name) *(void **)&f.field = dlsym(lib, name)
    LOAD(init, "cuInit");
    LOAD(driver_version, "cuDriverGetVersion");
    LOAD(count, "cuDeviceGetCount");
    LOAD(get, "cuDeviceGet");
    LOAD(name, "cuDeviceGetName");
    LOAD(total_mem, "cuDeviceTotalMem_v2");
    LOAD(attribute, "cuDeviceGetAttribute");
    LOAD(uuid, "cuDeviceGetUuid");
    LOAD(error_string, "cuGetErrorString");
#undef LOAD
    if (!f.init || !f.count || !f.get || !f.name || !f.total_mem || !f.attribute) {
        cuda->status = UE_DISC_FAILED;
        snprintf(cuda->error, sizeof cuda->error, "libcuda.so.1 lacks a driver API function");
        return;
    }
    cu_result r = f.init(0);
    if (r != 0) {
        set_error(cuda, &f, "cuInit", r);
        return;
    }
    if (f.driver_version) f.driver_version(&cuda->driver_version);
    int n = 0;
    if ((r = f.count(&n)) != 0) {
        set_error(cuda, &f, "cuDeviceGetCount", r);
        return;
    }
    cuda->status = UE_DISC_OK;
    if (n > UE_DISC_CUDA_MAX) {
        ue_disc_note(notes, "cuda: %d GPUs; only the first %d are listed", n, UE_DISC_CUDA_MAX);
        n = UE_DISC_CUDA_MAX;
    }
    for (int i = 0; i < n; i++) {
        cu_device dev;
        if ((r = f.get(&dev, i)) != 0) {
            ue_disc_note(notes, "cuda: cuDeviceGet(%d) failed (CUresult %d)", i, r);
            continue;
        }
        ue_cuda_device *d = &cuda->dev[cuda->n++];
        d->vk_index = -1;
        char name[256] = "";
        if (f.name(name, (int)sizeof name - 1, dev) == 0) {
            name[sizeof name - 1] = '\0';
            disc_clean(d->name, sizeof d->name, name, strlen(name));
        } else {
            snprintf(d->name, sizeof d->name, "CUDA device %d", i);
        }
        size_t bytes = 0;
        if (f.total_mem(&bytes, dev) == 0) d->memory = bytes;
        f.attribute(&d->cc_major, CU_ATTR_COMPUTE_CAPABILITY_MAJOR, dev);
        f.attribute(&d->cc_minor, CU_ATTR_COMPUTE_CAPABILITY_MINOR, dev);
        f.attribute(&d->sm_count, CU_ATTR_MULTIPROCESSOR_COUNT, dev);
        cu_uuid u;
        if (f.uuid && f.uuid(&u, dev) == 0) {
            memcpy(d->uuid, u.bytes, 16);
            d->has_uuid = 1;
        }
    }
}
