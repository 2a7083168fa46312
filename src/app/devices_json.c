/* `unicorn devices --json`: the discovery report as one JSON object (RFC 8259) for scripts.
 * A small writer is enough for output only: report strings are already printable UTF-8,
 * and the writer still escapes quotes, backslashes and any control byte. Sizes are bytes,
 * bandwidth GB/s; a value that is unknown is null. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/devices_render.h"

typedef struct jw {
    FILE *f;
    int depth;
    int first[16]; /* no member written yet at this depth */
} jw;

static void jw_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* Comma, newline and indent before a member; then the key when inside an object. */
static void jw_key(jw *w, const char *key) {
    if (!w->first[w->depth]) fputc(',', w->f);
    w->first[w->depth] = 0;
    fprintf(w->f, "\n%*s", 2 * w->depth, "");
    if (key) {
        jw_string(w->f, key);
        fputs(": ", w->f);
    }
}

static void jw_open(jw *w, const char *key, char bracket) {
    if (w->depth > 0) jw_key(w, key);
    fputc(bracket, w->f);
    if (w->depth < 15) w->depth++;
    w->first[w->depth] = 1;
}

static void jw_close(jw *w, char bracket) {
    int empty = w->first[w->depth];
    if (w->depth > 0) w->depth--;
    if (!empty) fprintf(w->f, "\n%*s", 2 * w->depth, "");
    fputc(bracket, w->f);
}

static void jw_str(jw *w, const char *key, const char *v) {
    jw_key(w, key);
    jw_string(w->f, v);
}

/* A string member that is null when empty. */
static void jw_str_or_null(jw *w, const char *key, const char *v) {
    jw_key(w, key);
    if (v && *v) jw_string(w->f, v);
    else fputs("null", w->f);
}

static void jw_int(jw *w, const char *key, long long v) {
    jw_key(w, key);
    fprintf(w->f, "%lld", v);
}

static void jw_u64(jw *w, const char *key, uint64_t v) {
    jw_key(w, key);
    fprintf(w->f, "%llu", (unsigned long long)v);
}

/* 0 means unknown for the counts and sizes that use this. */
static void jw_u64_or_null(jw *w, const char *key, uint64_t v) {
    jw_key(w, key);
    if (v) fprintf(w->f, "%llu", (unsigned long long)v);
    else fputs("null", w->f);
}

static void jw_bool(jw *w, const char *key, int v) {
    jw_key(w, key);
    fputs(v ? "true" : "false", w->f);
}

static void jw_num_or_null(jw *w, const char *key, double v) {
    jw_key(w, key);
    if (v > 0 && isfinite(v)) fprintf(w->f, "%.2f", v);
    else fputs("null", w->f);
}

static void jw_hex(jw *w, const char *key, uint32_t v, int digits) {
    char buf[16];
    snprintf(buf, sizeof buf, "0x%0*x", digits, v);
    jw_str(w, key, buf);
}

static void uuid_str(const uint8_t *u, char *buf, size_t cap) {
    size_t o = 0;
    for (int i = 0; i < 16 && o + 3 < cap; i++) {
        o += (size_t)snprintf(buf + o, cap - o, "%02x", u[i]);
        if ((i == 3 || i == 5 || i == 7 || i == 9) && o + 2 < cap) buf[o++] = '-', buf[o] = '\0';
    }
}

static void json_cpu(jw *w, const ue_cpu_info *c, unsigned built) {
    jw_open(w, "cpu", '{');
    jw_str(w, "device", "cpu");
    jw_str(w, "arch", c->arch);
    jw_str_or_null(w, "vendor", c->vendor);
    jw_str(w, "model", c->model);
    jw_u64_or_null(w, "cores", (uint64_t)c->n_cores);
    jw_u64_or_null(w, "threads", (uint64_t)c->n_logical);
    jw_u64_or_null(w, "packages", (uint64_t)c->n_packages);
    jw_u64_or_null(w, "threads_allowed", (uint64_t)c->n_allowed);
    jw_open(w, "features", '[');
    for (uint32_t bit = 1; bit < (1u << UE_CPU_FEATURE_COUNT); bit <<= 1)
        if (c->features & bit) jw_str(w, NULL, ue_cpu_feature_flag(bit));
    jw_close(w, ']');
    jw_str_or_null(w, "feature_source", c->feature_source);
    jw_open(w, "caches", '[');
    for (int i = 0; i < c->n_caches; i++) {
        jw_open(w, NULL, '{');
        jw_int(w, "level", c->caches[i].level);
        jw_str(w, "type", c->caches[i].type);
        jw_u64(w, "size", c->caches[i].size);
        jw_u64_or_null(w, "shared_cpus", (uint64_t)c->caches[i].shared_cpus);
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_u64_or_null(w, "ram_total", c->ram_total);
    jw_u64_or_null(w, "ram_available", c->ram_available);
    jw_num_or_null(w, "bandwidth_read_gbs", c->bw_read_gbs);
    jw_num_or_null(w, "bandwidth_copy_gbs", c->bw_copy_gbs);
    jw_str(w, "unicorn", ue_discovery_today(UE_DEVICE_CPU, built));
    jw_close(w, '}');
}

static void json_vk_device(jw *w, const ue_vk_device_info *v, unsigned built) {
    char buf[64];
    jw_open(w, NULL, '{');
    snprintf(buf, sizeof buf, "vulkan%d", v->index);
    jw_str(w, "device", buf);
    jw_str(w, "name", v->name);
    jw_str(w, "vendor", v->vendor);
    jw_hex(w, "vendor_id", v->vendor_id, 4);
    jw_hex(w, "device_id", v->device_id, 4);
    jw_str(w, "type", ue_vk_type_name(v->type));
    devices_fmt_api(v->api_version, buf, sizeof buf);
    jw_str(w, "api_version", buf);
    jw_str(w, "driver_version", v->driver_version_str);
    jw_str_or_null(w, "driver_name", v->driver_name);
    jw_str_or_null(w, "driver_info", v->driver_info);
    if (v->has_uuid) {
        uuid_str(v->uuid, buf, sizeof buf);
        jw_str(w, "uuid", buf);
    } else {
        jw_str_or_null(w, "uuid", "");
    }
    jw_open(w, "heaps", '[');
    for (int h = 0; h < v->n_heaps; h++) {
        jw_open(w, NULL, '{');
        jw_u64(w, "size", v->heaps[h].size);
        jw_bool(w, "device_local", v->heaps[h].device_local);
        jw_bool(w, "host_visible", v->heaps[h].host_visible);
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_bool(w, "unified_memory", v->unified_memory);
    jw_u64_or_null(w, "subgroup_size", v->subgroup_size);
    jw_u64_or_null(w, "subgroup_min", v->subgroup_min);
    jw_u64_or_null(w, "subgroup_max", v->subgroup_max);
    jw_u64_or_null(w, "shared_memory", v->shared_memory);
    jw_bool(w, "fp16", v->fp16);
    jw_bool(w, "int8", v->int8);
    jw_bool(w, "bf16", v->bf16);
    jw_bool(w, "integer_dot_product", v->int_dot);
    jw_bool(w, "integer_dot_product_accelerated", v->int_dot_accel);
    jw_bool(w, "cooperative_matrix_khr", v->coopmat_khr);
    jw_bool(w, "cooperative_matrix_nv", v->coopmat_nv);
    jw_bool(w, "cooperative_matrix2_nv", v->coopmat2_nv);
    jw_open(w, "cooperative_matrix_shapes", '[');
    for (int i = 0; i < v->n_coopmat; i++) {
        const ue_vk_coopmat *c = &v->coopmat[i];
        jw_open(w, NULL, '{');
        jw_int(w, "m", c->m), jw_int(w, "n", c->n), jw_int(w, "k", c->k);
        jw_str(w, "a", c->a), jw_str(w, "b", c->b), jw_str(w, "c", c->c);
        jw_str(w, "result", c->result);
        jw_bool(w, "subgroup_scope", c->subgroup_scope);
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_str(w, "unicorn", ue_discovery_today(UE_DEVICE_VULKAN, built));
    jw_close(w, '}');
}

static void json_vulkan(jw *w, const ue_vk_report *vk, unsigned built) {
    char buf[32];
    jw_open(w, "vulkan", '{');
    jw_str(w, "status", ue_disc_status_str(vk->status));
    jw_str_or_null(w, "error", vk->error);
    jw_str_or_null(w, "library", vk->library);
    devices_fmt_api(vk->instance_version, buf, sizeof buf);
    jw_str_or_null(w, "instance_version", vk->instance_version ? buf : "");
    jw_open(w, "devices", '[');
    for (int i = 0; i < vk->n; i++) json_vk_device(w, &vk->dev[i], built);
    jw_close(w, ']');
    jw_close(w, '}');
}

static void json_npu(jw *w, const ue_npu_report *npu, unsigned built) {
    char buf[32];
    jw_open(w, "npu", '{');
    jw_open(w, "devices", '[');
    for (int i = 0; i < npu->n; i++) {
        const ue_npu_info *n = &npu->dev[i];
        jw_open(w, NULL, '{');
        snprintf(buf, sizeof buf, "npu%d", i);
        jw_str(w, "device", buf);
        jw_str(w, "name", n->name);
        jw_str(w, "generation", n->generation);
        jw_str_or_null(w, "name_basis", n->name_basis);
        jw_str(w, "pci_address", n->pci_addr);
        jw_hex(w, "device_id", n->device_id, 4);
        if (n->revision != 0xffffffffu) jw_hex(w, "revision", n->revision, 2);
        else jw_str_or_null(w, "revision", "");
        jw_u64_or_null(w, "tops_int8", (uint64_t)n->tops);
        jw_u64_or_null(w, "tops_int8_alternative", (uint64_t)n->tops_alt);
        jw_str_or_null(w, "driver", n->driver);
        jw_bool(w, "driver_bound", n->driver_ok);
        jw_str_or_null(w, "node", n->node);
        jw_bool(w, "node_exists", n->node_exists);
        jw_bool(w, "node_accessible", n->node_access);
        jw_str_or_null(w, "firmware", n->fw_version);
        jw_str_or_null(w, "vbnv", n->vbnv);
        jw_str(w, "unicorn", ue_discovery_today(UE_DEVICE_NPU, built));
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_str(w, "xrt_status", ue_disc_status_str(npu->xrt_status));
    jw_str_or_null(w, "xrt_library", npu->xrt_library);
    jw_str_or_null(w, "xrt_error", npu->xrt_error);
    jw_close(w, '}');
}

static void json_cuda(jw *w, const ue_cuda_report *c, unsigned built) {
    char buf[64];
    jw_open(w, "cuda", '{');
    jw_str(w, "status", ue_disc_status_str(c->status));
    jw_str_or_null(w, "error", c->error);
    jw_u64_or_null(w, "driver_version", (uint64_t)(c->driver_version > 0 ? c->driver_version : 0));
    jw_open(w, "devices", '[');
    for (int i = 0; i < c->n; i++) {
        const ue_cuda_device *g = &c->dev[i];
        jw_open(w, NULL, '{');
        snprintf(buf, sizeof buf, "cuda%d", i);
        jw_str(w, "device", buf);
        jw_str(w, "name", g->name);
        jw_u64_or_null(w, "memory", g->memory);
        snprintf(buf, sizeof buf, "%d.%d", g->cc_major, g->cc_minor);
        jw_str(w, "compute_capability", buf);
        jw_u64_or_null(w, "multiprocessors", (uint64_t)(g->sm_count > 0 ? g->sm_count : 0));
        if (g->has_uuid) {
            uuid_str(g->uuid, buf, sizeof buf);
            jw_str(w, "uuid", buf);
        } else {
            jw_str_or_null(w, "uuid", "");
        }
        if (g->vk_index >= 0) {
            snprintf(buf, sizeof buf, "vulkan%d", g->vk_index);
            jw_str(w, "same_as", buf);
        } else {
            jw_str_or_null(w, "same_as", "");
        }
        jw_str(w, "unicorn", ue_discovery_today(UE_DEVICE_CUDA, built));
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_close(w, '}');
}

void devices_print_json(FILE *out, const ue_discovery *d, const ue_device_choice *choice,
                        unsigned built) {
    jw w = {.f = out};
    jw_open(&w, NULL, '{');
    jw_bool(&w, "live", d->live);
    jw_open(&w, "auto", '{');
    jw_str(&w, "device", choice->device);
    jw_str(&w, "reason", choice->reason);
    jw_close(&w, '}');
    json_cpu(&w, &d->cpu, built);
    json_vulkan(&w, &d->vk, built);
    json_npu(&w, &d->npu, built);
    json_cuda(&w, &d->cuda, built);
    jw_open(&w, "notes", '[');
    for (int i = 0; i < d->notes.n; i++) jw_str(&w, NULL, d->notes.text[i]);
    jw_close(&w, ']');
    jw_int(&w, "notes_dropped", d->notes.dropped);
    jw_close(&w, '}');
    fputc('\n', out);
}
