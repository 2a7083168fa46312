/* Choosing the device for a run from the discovery report and the backends this build
 * has. `auto` prefers a discrete GPU, then an integrated GPU (when the Vulkan backend is
 * built), then the CPU; a Vulkan CPU device (lavapipe) is never chosen, since the CPU
 * backend is faster than a software GPU; the NPU is not chosen until it can execute. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/discovery/discovery.h"

const char *ue_discovery_today(ue_device_kind kind, unsigned built) {
    switch (kind) {
    case UE_DEVICE_CPU:
    case UE_DEVICE_CPU_REF: return "runs the model";
    case UE_DEVICE_VULKAN:
        return built & UE_BUILT_VULKAN ? "runs the model"
                                       : "detected; the Vulkan backend is not built yet";
    case UE_DEVICE_NPU:
        return built & UE_BUILT_NPU ? "runs the model" : "detected; no NPU execution yet (discovery only)";
    case UE_DEVICE_CUDA:
        return built & UE_BUILT_CUDA ? "runs the model" : "detected; no CUDA backend";
    }
    return "unknown";
}

/* Appends printf output to buf (cap bytes), keeping it terminated when it fills up. */
static void append(char *buf, size_t cap, const char *fmt, ...) UE_PRINTF(3, 4);
static void append(char *buf, size_t cap, const char *fmt, ...) {
    size_t len = strnlen(buf, cap);
    if (len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

void ue_discovery_list(const ue_discovery *d, unsigned built, char *buf, size_t cap) {
    if (cap == 0) return;
    buf[0] = '\0';
    append(buf, cap, "cpu (%s), cpu-ref", d->cpu.model);
    for (int i = 0; i < d->vk.n; i++)
        append(buf, cap, ", vulkan%d (%s)%s", i, d->vk.dev[i].name,
               built & UE_BUILT_VULKAN ? "" : " [no backend yet]");
    for (int i = 0; i < d->npu.n; i++)
        append(buf, cap, ", npu%d (AMD %s NPU)%s", i, d->npu.dev[i].name,
               built & UE_BUILT_NPU ? "" : " [discovery only]");
    for (int i = 0; i < d->cuda.n; i++)
        append(buf, cap, ", cuda%d (%s)%s", i, d->cuda.dev[i].name,
               built & UE_BUILT_CUDA ? "" : " [no backend]");
}

/* The Vulkan device auto would use: discrete, then integrated; -1 when none. */
static int best_vulkan_gpu(const ue_discovery *d) {
    int best = -1, best_rank = 0;
    for (int i = 0; i < d->vk.n; i++) {
        int rank = d->vk.dev[i].type == UE_VK_DISCRETE     ? 3
                   : d->vk.dev[i].type == UE_VK_INTEGRATED ? 2
                   : d->vk.dev[i].type == UE_VK_VIRTUAL    ? 1
                                                           : 0;
        if (rank > best_rank) best = i, best_rank = rank;
    }
    return best;
}

static void cpu_summary(const ue_discovery *d, char *buf, size_t cap) {
    int threads = d->cpu.n_allowed > 0 ? d->cpu.n_allowed : d->cpu.n_logical;
    if (threads > 0) snprintf(buf, cap, "%s, %d thread%s", d->cpu.model, threads, threads > 1 ? "s" : "");
    else snprintf(buf, cap, "%s", d->cpu.model);
}

static ue_status choose_cpu(const ue_discovery *d, unsigned built, ue_device_choice *out) {
    char cpu[192], why[320] = "";
    cpu_summary(d, cpu, sizeof cpu);
    int gpu = best_vulkan_gpu(d);
    if (gpu >= 0 && !(built & UE_BUILT_VULKAN))
        snprintf(why, sizeof why, "; %s (Vulkan) was found but the Vulkan backend is not built yet",
                 d->vk.dev[gpu].name);
    else if (gpu < 0 && d->cuda.n > 0 && !(built & UE_BUILT_CUDA))
        snprintf(why, sizeof why, "; %s was found through CUDA but there is no CUDA backend",
                 d->cuda.dev[0].name);
    else if (gpu < 0 && d->vk.status == UE_DISC_OK)
        snprintf(why, sizeof why, "; no Vulkan GPU found");
    else if (gpu < 0)
        snprintf(why, sizeof why, "; Vulkan: %s", d->vk.status == UE_DISC_NO_LIBRARY ? "no loader"
                                                 : d->vk.status == UE_DISC_FAILED   ? "failed to start"
                                                                                    : "not probed");
    if (d->npu.n > 0 && !(built & UE_BUILT_NPU))
        append(why, sizeof why, "; the %s NPU has no execution yet", d->npu.dev[0].name);
    out->kind = UE_DEVICE_CPU;
    out->index = 0;
    snprintf(out->device, sizeof out->device, "cpu");
    out->reason[0] = '\0';
    append(out->reason, sizeof out->reason, "auto: CPU (%s)%s", cpu, why);
    return UE_OK;
}

/* Splits "vulkan1" into kind and index; index -1 when no number follows. 0: unknown name. */
static int parse_name(const char *s, ue_device_kind *kind, int *index) {
    static const struct { const char *prefix; ue_device_kind kind; } names[] = {
        {"vulkan", UE_DEVICE_VULKAN}, {"gpu", UE_DEVICE_VULKAN},
        {"npu", UE_DEVICE_NPU},       {"cuda", UE_DEVICE_CUDA}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i].prefix);
        if (strncmp(s, names[i].prefix, n)) continue;
        const char *rest = s + n;
        *kind = names[i].kind;
        if (!*rest) {
            *index = -1;
            return 1;
        }
        if (names[i].kind == UE_DEVICE_VULKAN && !strcmp(names[i].prefix, "gpu")) return 0;
        if (strlen(rest) > 3) return 0;
        for (const char *p = rest; *p; p++)
            if (!isdigit((unsigned char)*p)) return 0;
        *index = atoi(rest);
        return 1;
    }
    return 0;
}

ue_status ue_discovery_pick(const ue_discovery *d, const char *asked, unsigned built,
                            ue_device_choice *out, ue_error *err) {
    memset(out, 0, sizeof *out);
    const char *a = asked && *asked ? asked : "auto";
    char list[1024];
    ue_discovery_list(d, built, list, sizeof list);

    if (!strcmp(a, "auto")) {
        int gpu = best_vulkan_gpu(d);
        if (gpu >= 0 && (built & UE_BUILT_VULKAN)) {
            const ue_vk_device_info *v = &d->vk.dev[gpu];
            out->kind = UE_DEVICE_VULKAN;
            out->index = gpu;
            snprintf(out->device, sizeof out->device, "vulkan%d", gpu);
            snprintf(out->reason, sizeof out->reason, "auto: %s (%s, Vulkan) is the best GPU found",
                     v->name, ue_vk_type_name(v->type));
            return UE_OK;
        }
        return choose_cpu(d, built, out);
    }
    if (!strcmp(a, "cpu") || !strcmp(a, "cpu-ref")) {
        int ref = !strcmp(a, "cpu-ref");
        out->kind = ref ? UE_DEVICE_CPU_REF : UE_DEVICE_CPU;
        snprintf(out->device, sizeof out->device, "%s", a);
        snprintf(out->reason, sizeof out->reason, "asked for: CPU (%s)%s", d->cpu.model,
                 ref ? ", scalar reference kernels" : "");
        return UE_OK;
    }

    ue_device_kind kind;
    int index;
    if (!parse_name(a, &kind, &index))
        return ue_fail(err, UE_ERR_ARGUMENT, "device '%s' is not a device name; this machine has: %s",
                       a, list);
    int count = kind == UE_DEVICE_VULKAN ? d->vk.n : kind == UE_DEVICE_NPU ? d->npu.n : d->cuda.n;
    const char *label = kind == UE_DEVICE_VULKAN ? "Vulkan" : kind == UE_DEVICE_NPU ? "NPU" : "CUDA";
    if (index < 0 && !strcmp(a, "gpu")) {
        index = best_vulkan_gpu(d);
        if (index < 0)
            return ue_fail(err, UE_ERR_ARGUMENT, "device 'gpu': no Vulkan GPU found; "
                           "this machine has: %s", list);
    }
    if (index < 0 && kind == UE_DEVICE_VULKAN) index = best_vulkan_gpu(d);
    if (index < 0) index = count > 0 ? 0 : -1;
    if (index < 0 || index >= count)
        return ue_fail(err, UE_ERR_ARGUMENT, "device '%s' does not exist (%d %s device%s found); "
                       "this machine has: %s", a, count, label, count == 1 ? "" : "s", list);
    unsigned need = kind == UE_DEVICE_VULKAN ? UE_BUILT_VULKAN
                    : kind == UE_DEVICE_NPU  ? UE_BUILT_NPU
                                             : UE_BUILT_CUDA;
    const char *name = kind == UE_DEVICE_VULKAN ? d->vk.dev[index].name
                       : kind == UE_DEVICE_NPU  ? d->npu.dev[index].name
                                                : d->cuda.dev[index].name;
    if (!(built & need)) {
        char usable[256] = "cpu, cpu-ref";
        if ((built & UE_BUILT_VULKAN) && d->vk.n) append(usable, sizeof usable, ", vulkan0..%d", d->vk.n - 1);
        if ((built & UE_BUILT_NPU) && d->npu.n) append(usable, sizeof usable, ", npu0..%d", d->npu.n - 1);
        if ((built & UE_BUILT_CUDA) && d->cuda.n) append(usable, sizeof usable, ", cuda0..%d", d->cuda.n - 1);
        return ue_fail(err, UE_ERR_UNSUPPORTED, "device '%s' (%s) is here but Unicorn cannot run on it: %s; "
                       "usable now: %s", a, name, ue_discovery_today(kind, built), usable);
    }
    out->kind = kind;
    out->index = index;
    snprintf(out->device, sizeof out->device, "%s%d",
             kind == UE_DEVICE_VULKAN ? "vulkan" : kind == UE_DEVICE_NPU ? "npu" : "cuda", index);
    snprintf(out->reason, sizeof out->reason, "asked for: %s (%s)", name, label);
    return UE_OK;
}
