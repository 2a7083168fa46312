/* The discovery report: runs the CPU, NPU, Vulkan and CUDA probes in turn and collects
 * their notes. Each probe fills its own section and never fails; this file only owns the
 * report's memory and the note list. */
#include "backend/discovery/discovery.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/discovery/disc_fs.h"

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

ue_status ue_discovery_run(const ue_discovery_opts *opts, ue_discovery **out, ue_error *err) {
    static const ue_discovery_opts defaults = {0};
    if (!opts) opts = &defaults;
    *out = NULL;
    ue_discovery *d = calloc(1, sizeof *d);
    if (!d) return ue_fail(err, UE_ERR_NOMEM, "out of memory for the discovery report");
    d->live = disc_live(opts);
    ue_cpu_probe(opts, &d->cpu, &d->notes);
    if (opts->probe_bandwidth) ue_membw_probe(opts, &d->cpu, &d->notes);
    ue_npu_probe(opts, d->cpu.model, &d->npu, &d->notes);
    ue_vulkan_probe(opts, &d->vk, &d->notes);
    ue_cuda_probe(opts, &d->cuda, &d->notes);
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
