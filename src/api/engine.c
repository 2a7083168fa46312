/* ue_engine: opens the GGUF, builds the tokenizer, picks the device and loads the model
 * weights onto it (in place from the mmap on the CPU). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "api/engine_internal.h"
#include "api/prefault.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/discovery/discovery.h"
#ifdef UE_HAVE_VULKAN_BACKEND
#include "backend/vulkan/vk_backend.h"
#endif

void ue_engine_params_init(ue_engine_params *p) {
    memset(p, 0, sizeof *p);
    p->device = "auto";
}

static const char *file_type_name(uint32_t ft) {
    switch (ft) {
    case 0: return "F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K";
    case 11: return "Q3_K_S";
    case 12: return "Q3_K_M";
    case 13: return "Q3_K_L";
    case 14: return "Q4_K_S";
    case 15: return "Q4_K_M";
    case 16: return "Q5_K_S";
    case 17: return "Q5_K_M";
    case 18: return "Q6_K";
    case 25: return "IQ4_NL";
    case 32: return "BF16";
    }
    return "unknown";
}

static ue_status create_cpu(const ue_engine_params *p, ue_engine *e, ue_cpu_kernels kernels,
                            const char *reason, ue_error *err) {
    ue_status st = ue_cpu_backend_create(p->n_threads, kernels, &e->be, err);
    if (st != UE_OK) return st;
    snprintf(e->device, sizeof e->device, "%s (%s)", e->be->description, reason);
    return UE_OK;
}

/* Resolves the asked-for device through hardware discovery ("auto" picks the best one
 * this build can run) and creates its backend; every run says which and why. */
static ue_status create_backend(const ue_engine_params *p, ue_engine *e, ue_error *err) {
    const char *dev = p->device && *p->device ? p->device : "auto";
    /* The CPU needs no discovery: skip its cost (~0.2 s loading GPU drivers). */
    if (!strcmp(dev, "cpu")) return create_cpu(p, e, UE_CPU_KERNELS_FAST, "asked for", err);
    if (!strcmp(dev, "cpu-ref"))
        return create_cpu(p, e, UE_CPU_KERNELS_REFERENCE, "asked for", err);

    ue_discovery_opts opts = {0};
    /* Without a GPU backend in this build, auto need not load GPU libraries. */
    opts.skip_libraries = !strcmp(dev, "auto") && UE_BUILT_BACKENDS == UE_BUILT_CPU;
    /* The drivers load in a child process: a run on the CPU keeps none of them resident
     * (Mesa's lavapipe brings ~55 MB of LLVM); a GPU backend loads its own. */
    opts.isolate_libraries = 1;
    ue_discovery *d = NULL;
    ue_status st = ue_discovery_run(&opts, &d, err);
    if (st != UE_OK) return st;
    ue_device_choice choice;
    char name[32];
    /* "vulkan:1" is accepted as another spelling of "vulkan1". */
    if (!strncmp(dev, "vulkan:", 7) && strlen(dev) < sizeof name) {
        snprintf(name, sizeof name, "vulkan%s", dev + 7);
        dev = name;
    }
    st = ue_discovery_pick(d, dev, UE_BUILT_BACKENDS, &choice, err);
    ue_discovery_destroy(d);
    if (st != UE_OK) return st;
    switch (choice.kind) {
    case UE_DEVICE_CPU: return create_cpu(p, e, UE_CPU_KERNELS_FAST, choice.reason, err);
    case UE_DEVICE_CPU_REF: return create_cpu(p, e, UE_CPU_KERNELS_REFERENCE, choice.reason, err);
#ifdef UE_HAVE_VULKAN_BACKEND
    case UE_DEVICE_VULKAN:
        st = ue_vk_backend_create(choice.index, &e->be, err);
        if (st == UE_OK) {
            snprintf(e->device, sizeof e->device, "%s (%s)", e->be->description, choice.reason);
            return UE_OK;
        }
        if (strcmp(dev, "auto") != 0) return st;
        /* auto: a GPU that cannot run the backend leaves the CPU, and says why. */
        {
            char why[300];
            snprintf(why, sizeof why, "auto: the GPU failed: %.250s", err ? err->msg : "?");
            return create_cpu(p, e, UE_CPU_KERNELS_FAST, why, err);
        }
#endif
    default: break;
    }
    return ue_fail(err, UE_ERR_UNSUPPORTED, "device '%s' has no backend in this build",
                   choice.device);
}

ue_status ue_engine_create(const ue_engine_params *p, ue_engine **out, ue_error *err) {
    *out = NULL;
    if (!p || !p->model_path || !*p->model_path)
        return ue_fail(err, UE_ERR_ARGUMENT, "no model file given");
    if (p->n_threads < 0 || p->n_threads > 1024)
        return ue_fail(err, UE_ERR_ARGUMENT, "thread count %d is out of range 0..1024",
                       p->n_threads);
    ue_engine *e = calloc(1, sizeof *e);
    if (!e) return ue_fail(err, UE_ERR_NOMEM, "out of memory creating the engine");
    ue_status st;
    if ((st = ue_gguf_open(p->model_path, &e->gguf, err)) != UE_OK) goto fail;
    if ((st = ue_tokenizer_create(e->gguf, &e->tok, err)) != UE_OK) goto fail;
    if ((st = create_backend(p, e, err)) != UE_OK) goto fail;
    ue_prefault_weights(e->gguf, p->progress, p->progress_user);
    if ((st = ue_gemma3_load(e->gguf, e->be, ue_tokenizer_n_vocab(e->tok), &e->model, err)))
        goto fail;
    if ((st = ue_engine_vision_init(e, p, err)) != UE_OK) { /* the error names the file */
        ue_engine_destroy(e);
        return st;
    }
    if (p->progress) p->progress(1.0f, p->progress_user);

    const char *base = strrchr(p->model_path, '/');
    snprintf(e->name, sizeof e->name, "%s", base ? base + 1 : p->model_path);
    ue_gguf_get_str(e->gguf, "general.name", 0, e->name, sizeof e->name, NULL);
    uint32_t ft = 0xffffffffu;
    ue_gguf_get_u32(e->gguf, "general.file_type", 0, &ft, NULL);
    snprintf(e->file_type, sizeof e->file_type, "%s", file_type_name(ft));

    const ue_gemma3_hparams *hp = &e->model->hp;
    ue_model_info *info = &e->info;
    info->name = e->name;
    info->architecture = "gemma3";
    info->file_type = e->file_type;
    info->n_params = e->model->n_params;
    info->file_bytes = ue_gguf_file_size(e->gguf);
    info->n_layer = hp->n_layer;
    info->n_embd = hp->n_embd;
    info->n_head = hp->n_head;
    info->n_head_kv = hp->n_head_kv;
    info->head_dim = hp->head_dim;
    info->n_ff = hp->n_ff;
    info->n_vocab = hp->n_vocab;
    info->n_ctx_train = hp->n_ctx_train;
    info->sliding_window = hp->sliding_window;
    /* Everything read from the metadata is copied by now: its pages (~6 MB of vocabulary
     * for Gemma 3) need not stay resident next to the weights. */
    ue_gguf_release_metadata(e->gguf);
#ifdef __GLIBC__
    /* Loading freed its temporaries (discovery reports, tokenizer build tables); glibc keeps
     * freed heap pages resident until told otherwise. */
    malloc_trim(0);
#endif
    *out = e;
    return UE_OK;
fail:
    ue_error_prefix(err, "%s", p->model_path);
    ue_engine_destroy(e);
    return st;
}

void ue_engine_destroy(ue_engine *e) {
    if (!e) return;
    ue_engine_vision_free(e);
    ue_gemma3_destroy(e->model);
    if (e->be) e->be->ops->destroy(e->be);
    ue_tokenizer_destroy(e->tok);
    ue_gguf_close(e->gguf);
    free(e);
}

const ue_model_info *ue_engine_model_info(const ue_engine *e) { return &e->info; }
const char *ue_engine_device_name(const ue_engine *e) { return e->device; }

ue_status ue_tokenize(const ue_engine *e, const char *text, size_t len, int add_bos,
                      int parse_special, int32_t *tokens, size_t cap, size_t *n_tokens,
                      ue_error *err) {
    return ue_tokenizer_encode(e->tok, text, len, add_bos, parse_special, tokens, cap, n_tokens,
                               err);
}

const char *ue_token_piece(const ue_engine *e, int32_t token, int show_special, size_t *len) {
    return ue_tokenizer_piece(e->tok, token, show_special, len);
}

int ue_token_is_end_of_generation(const ue_engine *e, int32_t token) {
    return ue_tokenizer_is_eog(e->tok, token);
}

int32_t ue_token_lookup(const ue_engine *e, const char *piece) {
    return ue_tokenizer_find(e->tok, piece, strlen(piece));
}

ue_detok *ue_detok_create(const ue_engine *e, int show_special) {
    return ue_detok_create_tok(e->tok, show_special);
}
