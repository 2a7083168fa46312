/* unicorn devices: what this machine has (CPU, Vulkan devices, AMD NPU, NVIDIA GPUs through
 * the CUDA driver), what each can do, and what Unicorn does with it today. A table by
 * default, JSON with --json; --probe adds a measured memory bandwidth. The hidden
 * --root DIR reads sysfs, /proc and /dev below DIR (tests) and loads no libraries. */
#include <stdio.h>
#include <string.h>

#include "app/commands.h"
#include "app/devices_render.h"
#include "app/options.h"

void devices_fmt_bytes(uint64_t bytes, char *buf, size_t cap) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    double v = (double)bytes;
    while (v >= 1024 && u < 4) v /= 1024, u++;
    if (u == 0) snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    else if (v == (double)(uint64_t)v) snprintf(buf, cap, "%.0f %s", v, units[u]);
    else snprintf(buf, cap, "%.1f %s", v, units[u]);
}

void devices_fmt_api(uint32_t v, char *buf, size_t cap) {
    snprintf(buf, cap, "%u.%u.%u", (v >> 22) & 0x7f, (v >> 12) & 0x3ff, v & 0xfff);
}

static const char *yes_no(int v) { return v ? "yes" : "no"; }

/* One summary row: device, kind, name (cut to fit), what Unicorn does with it. */
static void row(FILE *out, const char *dev, const char *kind, const char *name,
                const char *today) {
    char cut[40];
    size_t n = strlen(name);
    if (n < sizeof cut) snprintf(cut, sizeof cut, "%s", name);
    else snprintf(cut, sizeof cut, "%.35s...", name);
    fprintf(out, "%-9s %-15s %-39s %s\n", dev, kind, cut, today);
}

static void print_summary(FILE *out, const ue_discovery *d, unsigned built) {
    fprintf(out, "%-9s %-15s %-39s %s\n", "DEVICE", "KIND", "NAME", "UNICORN TODAY");
    row(out, "cpu", "CPU", d->cpu.model, ue_discovery_today(UE_DEVICE_CPU, built));
    for (int i = 0; i < d->vk.n; i++) {
        char dev[24], kind[32];
        snprintf(dev, sizeof dev, "vulkan%d", i);
        snprintf(kind, sizeof kind, "Vulkan %s",
                 d->vk.dev[i].type == UE_VK_DISCRETE     ? "dGPU"
                 : d->vk.dev[i].type == UE_VK_INTEGRATED ? "iGPU"
                 : d->vk.dev[i].type == UE_VK_CPU        ? "CPU"
                                                         : "other");
        row(out, dev, kind, d->vk.dev[i].name, ue_discovery_today(UE_DEVICE_VULKAN, built));
    }
    for (int i = 0; i < d->npu.n; i++) {
        char dev[24], name[96];
        snprintf(dev, sizeof dev, "npu%d", i);
        snprintf(name, sizeof name, "AMD %s", d->npu.dev[i].name);
        row(out, dev, d->npu.dev[i].generation, name, ue_discovery_today(UE_DEVICE_NPU, built));
    }
    for (int i = 0; i < d->cuda.n; i++) {
        char dev[24];
        snprintf(dev, sizeof dev, "cuda%d", i);
        row(out, dev, "CUDA", d->cuda.dev[i].name, ue_discovery_today(UE_DEVICE_CUDA, built));
    }
}

static void print_cpu(FILE *out, const ue_cpu_info *c) {
    char a[32], b[32];
    fprintf(out, "\nCPU\n  model       %s (%s, %s)\n", c->model, c->vendor[0] ? c->vendor : "?",
            c->arch);
    fprintf(out, "  threads     ");
    if (c->n_cores) fprintf(out, "%d cores, ", c->n_cores);
    if (c->n_logical) fprintf(out, "%d thread%s", c->n_logical, c->n_logical > 1 ? "s" : "");
    else fprintf(out, "threads unknown");
    if (c->n_packages) fprintf(out, ", %d package%s", c->n_packages, c->n_packages > 1 ? "s" : "");
    if (c->n_allowed) fprintf(out, "; this process may use %d", c->n_allowed);
    fprintf(out, "\n  SIMD        ");
    int any = 0;
    for (uint32_t bit = 1; bit < (1u << UE_CPU_FEATURE_COUNT); bit <<= 1)
        if (c->features & bit) fprintf(out, "%s%s", any++ ? " " : "", ue_cpu_feature_name(bit));
    if (!any) fprintf(out, "none of those the kernels use");
    if (c->feature_source[0]) fprintf(out, " (from %s)", c->feature_source);
    fprintf(out, "\n  caches      ");
    for (int i = 0; i < c->n_caches; i++) {
        const ue_cpu_cache *k = &c->caches[i];
        devices_fmt_bytes(k->size, a, sizeof a);
        const char *t = !strcmp(k->type, "Data") ? "d" : !strcmp(k->type, "Instruction") ? "i" : "";
        fprintf(out, "%sL%d%s %s", i ? ", " : "", k->level, t, a);
        if (k->level >= 2 && k->shared_cpus > 1) fprintf(out, " (shared by %d)", k->shared_cpus);
    }
    if (!c->n_caches) fprintf(out, "unknown");
    if (c->ram_total) {
        devices_fmt_bytes(c->ram_total, a, sizeof a);
        devices_fmt_bytes(c->ram_available, b, sizeof b);
        fprintf(out, "\n  RAM         %s total, %s available", a, c->ram_available ? b : "?");
    } else {
        fprintf(out, "\n  RAM         unknown");
    }
    if (c->bw_threads) {
        devices_fmt_bytes(c->bw_bytes, a, sizeof a);
        fprintf(out, "\n  bandwidth   read %.1f GB/s, copy %.1f GB/s (%d threads, 2 x %s)",
                c->bw_read_gbs, c->bw_copy_gbs, c->bw_threads, a);
    } else {
        fprintf(out, "\n  bandwidth   not measured (--probe measures it)");
    }
    fprintf(out, "\n  Unicorn     %s (--device cpu; cpu-ref: scalar reference kernels)\n",
            ue_discovery_today(UE_DEVICE_CPU, UE_BUILT_CPU));
}

static void print_vulkan_device(FILE *out, const ue_vk_device_info *v, unsigned built) {
    char a[32], api[32];
    fprintf(out, "  vulkan%d     %s\n", v->index, v->name);
    fprintf(out, "    type      %s; vendor %s (0x%04x), device 0x%04x\n", ue_vk_type_name(v->type),
            v->vendor, v->vendor_id, v->device_id);
    devices_fmt_api(v->api_version, api, sizeof api);
    fprintf(out, "    driver    ");
    if (v->driver_name[0]) fprintf(out, "%s%s%s; ", v->driver_name, v->driver_info[0] ? ", " : "",
                                   v->driver_info);
    fprintf(out, "version %s; Vulkan %s\n", v->driver_version_str, api);
    fprintf(out, "    memory    ");
    for (int h = 0; h < v->n_heaps; h++) {
        devices_fmt_bytes(v->heaps[h].size, a, sizeof a);
        int dl = v->heaps[h].device_local, hv = v->heaps[h].host_visible;
        fprintf(out, "%sheap%d %s%s%s%s%s", h ? "; " : "", h, a, dl || hv ? " (" : "",
                dl ? "device-local" : "", dl && hv ? ", " : "", hv ? "host-visible)" : dl ? ")" : "");
    }
    fprintf(out, "%s\n", v->unified_memory ? "; unified memory" : "");
    devices_fmt_bytes(v->shared_memory, a, sizeof a);
    fprintf(out, "    compute   subgroup %u (%u..%u); shared memory %s per workgroup\n",
            v->subgroup_size, v->subgroup_min, v->subgroup_max, a);
    fprintf(out, "    shaders   fp16 %s, int8 %s, bf16 %s, int8 dot product %s%s\n",
            yes_no(v->fp16), yes_no(v->int8), yes_no(v->bf16), yes_no(v->int_dot),
            v->int_dot ? (v->int_dot_accel ? " (accelerated)" : " (not accelerated)") : "");
    fprintf(out, "    coopmat   KHR %s, NV %s, NV2 %s", yes_no(v->coopmat_khr),
            yes_no(v->coopmat_nv), yes_no(v->coopmat2_nv));
    for (int i = 0; i < v->n_coopmat && i < 6; i++) {
        const ue_vk_coopmat *c = &v->coopmat[i];
        fprintf(out, "%s%ux%ux%u %s*%s+%s", i ? ", " : "; ", c->m, c->n, c->k, c->a, c->b,
                c->c);
    }
    if (v->n_coopmat > 6) fprintf(out, " and %d more", v->n_coopmat - 6);
    fprintf(out, "\n    Unicorn   %s\n", ue_discovery_today(UE_DEVICE_VULKAN, built));
}

static void print_vulkan(FILE *out, const ue_vk_report *vk, unsigned built) {
    char api[32];
    fprintf(out, "\nVulkan\n");
    if (vk->status != UE_DISC_OK) {
        fprintf(out, "  %s\n", vk->error);
        return;
    }
    devices_fmt_api(vk->instance_version, api, sizeof api);
    fprintf(out, "  loader      %s (instance %s), %d device%s\n", vk->library, api, vk->n,
            vk->n == 1 ? "" : "s");
    for (int i = 0; i < vk->n; i++) print_vulkan_device(out, &vk->dev[i], built);
}

static void print_npu(FILE *out, const ue_npu_report *npu, unsigned built) {
    fprintf(out, "\nAMD NPU (XDNA)\n");
    if (npu->n == 0) fprintf(out, "  none found  no PCI device 1022:1502 or 1022:17f0\n");
    for (int i = 0; i < npu->n; i++) {
        const ue_npu_info *n = &npu->dev[i];
        fprintf(out, "  npu%d        AMD %s NPU (%s), PCI %s, id 1022:%04x", i, n->name,
                n->generation, n->pci_addr, n->device_id);
        if (n->revision != 0xffffffffu) fprintf(out, " rev 0x%02x", n->revision);
        fprintf(out, "\n");
        if (n->name_basis[0]) fprintf(out, "    name      %s\n", n->name_basis);
        if (n->tops && n->tops_alt)
            fprintf(out, "    TOPS      %d (Phoenix) or %d (Hawk Point) int8, nominal\n", n->tops,
                    n->tops_alt);
        else if (n->tops) fprintf(out, "    TOPS      %d int8, nominal\n", n->tops);
        else fprintf(out, "    TOPS      unknown for this chip\n");
        if (n->driver_ok) fprintf(out, "    driver    amdxdna (bound)\n");
        else if (n->driver[0])
            fprintf(out, "    driver    bound to %s, not amdxdna\n", n->driver);
        else
            fprintf(out, "    driver    not bound: load amdxdna (Linux 6.14+, or AMD's xdna-driver)\n");
        if (n->node_exists)
            fprintf(out, "    node      %s (%s)\n", n->node,
                    n->node_access ? "this user may open it"
                                   : "no permission for this user: see its group, often 'render'");
        else if (n->node[0]) fprintf(out, "    node      %s is missing\n", n->node);
        else fprintf(out, "    node      none\n");
        fprintf(out, "    firmware  %s\n", n->fw_version[0] ? n->fw_version : "not shown in sysfs");
        if (n->vbnv[0]) fprintf(out, "    vbnv      %s\n", n->vbnv);
        fprintf(out, "    Unicorn   %s\n", ue_discovery_today(UE_DEVICE_NPU, built));
    }
    if (npu->xrt_status == UE_DISC_OK)
        fprintf(out, "  XRT         %s loads\n", npu->xrt_library);
    else if (npu->xrt_status == UE_DISC_NOT_PROBED)
        fprintf(out, "  XRT         not probed (fake root)\n");
    else
        fprintf(out, "  XRT         libxrt_coreutil not loadable (%s)\n", npu->xrt_error);
}

static void print_cuda(FILE *out, const ue_cuda_report *c, unsigned built) {
    char a[32];
    fprintf(out, "\nNVIDIA (CUDA driver)\n");
    if (c->status != UE_DISC_OK) {
        fprintf(out, "  %s\n", c->error);
        return;
    }
    fprintf(out, "  driver      CUDA %d.%d, %d GPU%s\n", c->driver_version / 1000,
            (c->driver_version % 1000) / 10, c->n, c->n == 1 ? "" : "s");
    for (int i = 0; i < c->n; i++) {
        const ue_cuda_device *g = &c->dev[i];
        devices_fmt_bytes(g->memory, a, sizeof a);
        fprintf(out, "  cuda%d       %s, %s, compute capability %d.%d, %d SMs", i, g->name, a,
                g->cc_major, g->cc_minor, g->sm_count);
        if (g->vk_index >= 0) fprintf(out, "; same GPU as vulkan%d", g->vk_index);
        fprintf(out, "\n    Unicorn   %s\n", ue_discovery_today(UE_DEVICE_CUDA, built));
    }
}

void devices_print_table(FILE *out, const ue_discovery *d, const ue_device_choice *choice,
                         unsigned built) {
    print_summary(out, d, built);
    fprintf(out, "\n--device auto picks %s: %s\n", choice->device, choice->reason);
    print_cpu(out, &d->cpu);
    print_vulkan(out, &d->vk, built);
    print_npu(out, &d->npu, built);
    print_cuda(out, &d->cuda, built);
    if (d->notes.n || d->notes.dropped) {
        fprintf(out, "\nnotes\n");
        for (int i = 0; i < d->notes.n; i++) fprintf(out, "  - %s\n", d->notes.text[i]);
        if (d->notes.dropped) fprintf(out, "  - (%d more not shown)\n", d->notes.dropped);
    }
}

int cmd_devices(int argc, char **argv) {
    int json = 0, probe = 0;
    const char *root = NULL;
    /* --root is for tests and stays out of --help: take it out before parsing. */
    char *args[64];
    int n = 0;
    for (int i = 0; i < argc && n < 64; i++) {
        if (i > 0 && !strcmp(argv[i], "--root")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "unicorn devices: --root needs a value (DIR)\n");
                return 2;
            }
            root = argv[++i];
            continue;
        }
        args[n++] = argv[i];
    }
    if (argc > 64) {
        fprintf(stderr, "unicorn devices: too many arguments\n");
        return 2;
    }
    const app_option options[] = {
        {NULL, "--json", APP_OPT_FLAG, &json, 0, 0, NULL, "print JSON instead of a table"},
        {NULL, "--probe", APP_OPT_FLAG, &probe, 0, 0, NULL,
         "also measure memory bandwidth (about half a second)"},
    };
    const app_command_spec spec = {
        "devices", "unicorn devices [--json] [--probe]",
        "Lists the CPU, Vulkan devices, AMD NPU and NVIDIA GPUs of this machine, what each\n"
        "can do, what Unicorn does with it today, and which device --device auto picks.",
        options, sizeof options / sizeof options[0]};
    int pr = app_parse(&spec, n, args);
    if (pr != APP_PARSE_OK) return pr == APP_PARSE_HELP ? 0 : 2;

    ue_discovery_opts opts = {.root = root, .skip_libraries = root != NULL,
                              .probe_bandwidth = probe};
    ue_discovery *d = NULL;
    ue_error err = {0};
    if (ue_discovery_run(&opts, &d, &err) != UE_OK) {
        fprintf(stderr, "unicorn devices: %s\n", err.msg);
        return 1;
    }
    unsigned built = UE_BUILT_BACKENDS;
    ue_device_choice choice;
    if (ue_discovery_pick(d, "auto", built, &choice, &err) != UE_OK) {
        /* auto always resolves; keep the report printable if that ever changes */
        snprintf(choice.device, sizeof choice.device, "cpu");
        snprintf(choice.reason, sizeof choice.reason, "%s", err.msg);
    }
    if (json) devices_print_json(stdout, d, &choice, built);
    else devices_print_table(stdout, d, &choice, built);
    ue_discovery_destroy(d);
    return fflush(stdout) == 0 ? 0 : 1;
}
