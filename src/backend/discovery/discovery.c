/* The discovery report: runs the CPU, NPU, Vulkan and CUDA probes in turn and collects
 * their notes. Each probe fills its own section and never fails; this file only owns the
 * report's memory, the note list and where the library-loading probes run (here, or in a
 * child process with opts->isolate_libraries). */
#include "backend/discovery/discovery.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/discovery/disc_child.h"
#include "backend/discovery/disc_fs.h"

/* Driver initialization takes well under a second; a child still silent after this is
 * stuck (a hung driver, or a lock some other thread held at fork). */
enum { LIB_PROBE_TIMEOUT_MS = 30000 };

void ue_disc_note(ue_discovery_notes *notes, const char *fmt, ...) {
    if (!notes) return;
    if (notes->n >= UE_DISC_NOTE_MAX) {
        notes->dropped++;
        return;
    }
    char raw[UE_DISC_NOTE_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    /* Notes quote file contents and library messages: keep them printable. */
    disc_clean(notes->text[notes->n], UE_DISC_NOTE_LEN, raw, strlen(raw));
    notes->n++;
}

const char *ue_disc_status_str(ue_disc_status s) {
    switch (s) {
    case UE_DISC_NOT_PROBED: return "not probed";
    case UE_DISC_OK: return "ok";
    case UE_DISC_NO_LIBRARY: return "library not found";
    case UE_DISC_FAILED: return "failed";
    }
    return "unknown";
}

/* What the probes that load libraries report, as the child sends it back. */
typedef struct lib_report {
    ue_npu_report npu;
    ue_vk_report vk;
    ue_cuda_report cuda;
    ue_discovery_notes notes;
} lib_report;

typedef struct lib_args {
    const ue_discovery_opts *opts;
    const char *cpu_model;
} lib_args;

static void probe_libraries(void *arg, void *out) {
    const lib_args *a = arg;
    lib_report *r = out;
    ue_npu_probe(a->opts, a->cpu_model, &r->npu, &r->notes);
    ue_vulkan_probe(a->opts, &r->vk, &r->notes);
    ue_cuda_probe(a->opts, &r->cuda, &r->notes);
}

static void append_notes(ue_discovery_notes *dst, const ue_discovery_notes *src) {
    int n = src->n < 0 ? 0 : src->n > UE_DISC_NOTE_MAX ? UE_DISC_NOTE_MAX : src->n;
    for (int i = 0; i < n; i++) {
        if (dst->n >= UE_DISC_NOTE_MAX) {
            dst->dropped++;
            continue;
        }
        memcpy(dst->text[dst->n], src->text[i], UE_DISC_NOTE_LEN);
        dst->text[dst->n++][UE_DISC_NOTE_LEN - 1] = '\0';
    }
    if (src->dropped > 0) dst->dropped += src->dropped;
}

/* The NPU, Vulkan and CUDA probes in a child process. Returns 0 when no child could be
 * started (the caller probes in-process), else 1 with d filled: from the child's answer,
 * or, when the child died or hung, the NPU's files without XRT and Vulkan and CUDA
 * marked failed (probing them here could crash or hang this process the same way). */
static int probe_isolated(const ue_discovery_opts *opts, ue_discovery *d) {
    lib_report *r = calloc(1, sizeof *r);
    if (!r) return 0;
    lib_args a = {opts, d->cpu.model};
    char why[200];
    int rc = disc_run_in_child(probe_libraries, &a, r, sizeof *r, LIB_PROBE_TIMEOUT_MS, why,
                               sizeof why);
    if (rc == DISC_CHILD_NO_FORK) {
        free(r);
        return 0;
    }
    if (rc == DISC_CHILD_OK) {
        d->npu = r->npu;
        d->vk = r->vk;
        d->cuda = r->cuda;
        /* plain data from our own code, but a count out of range would index past arrays */
        if (d->npu.n < 0 || d->npu.n > UE_DISC_NPU_MAX) d->npu.n = 0;
        if (d->vk.n < 0 || d->vk.n > UE_DISC_VK_MAX) d->vk.n = 0;
        if (d->cuda.n < 0 || d->cuda.n > UE_DISC_CUDA_MAX) d->cuda.n = 0;
        append_notes(&d->notes, &r->notes);
    } else {
        ue_discovery_opts no_libs = *opts;
        no_libs.skip_libraries = 1;
        ue_npu_probe(&no_libs, d->cpu.model, &d->npu, &d->notes);
        ue_disc_note(&d->notes, "discovery: the process probing the drivers %s; Vulkan, CUDA "
                     "and XRT are not reported", why);
        memset(&d->vk, 0, sizeof d->vk);
        memset(&d->cuda, 0, sizeof d->cuda);
        d->vk.status = d->cuda.status = UE_DISC_FAILED;
        snprintf(d->vk.error, sizeof d->vk.error, "the probe process %s", why);
        snprintf(d->cuda.error, sizeof d->cuda.error, "the probe process %s", why);
    }
    free(r);
    return 1;
}

ue_status ue_discovery_run(const ue_discovery_opts *opts, ue_discovery **out, ue_error *err) {
    static const ue_discovery_opts defaults = {0};
    if (!opts) opts = &defaults;
    *out = NULL;
    ue_discovery *d = calloc(1, sizeof *d);
    if (!d) return ue_fail(err, UE_ERR_NOMEM, "out of memory for the discovery report");
    d->live = disc_live(opts);
    ue_cpu_probe(opts, &d->cpu, &d->notes);
    if (opts->probe_bandwidth) ue_membw_probe(opts, &d->cpu, &d->notes);
    if (!opts->isolate_libraries || opts->skip_libraries || !probe_isolated(opts, d)) {
        ue_npu_probe(opts, d->cpu.model, &d->npu, &d->notes);
        ue_vulkan_probe(opts, &d->vk, &d->notes);
        ue_cuda_probe(opts, &d->cuda, &d->notes);
    }
    /* The same NVIDIA GPU seen through both APIs: match by UUID. */
    for (int i = 0; i < d->cuda.n; i++) {
        ue_cuda_device *c = &d->cuda.dev[i];
        c->vk_index = -1;
        for (int j = 0; c->has_uuid && j < d->vk.n; j++)
            if (d->vk.dev[j].has_uuid && !memcmp(d->vk.dev[j].uuid, c->uuid, 16))
                c->vk_index = j;
    }
    *out = d;
    return UE_OK;
}

void ue_discovery_destroy(ue_discovery *d) { free(d); }
