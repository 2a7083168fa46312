/* unicorn run: answer one prompt. The prompt goes through Gemma 3's chat template (unless
 * --raw), the answer streams to stdout, and prompt / generation speed go to stderr. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/commands.h"
#include "app/generate.h"
#include "app/image_prompt.h"
#include "app/options.h"
#include "app/progress.h"
#include "app/sampling_options.h"
#include "core/error.h"
#include "unicorn.h"

#define DEFAULT_MODEL "models/gemma-3-270m-q4_k_m.gguf"

typedef struct run_args {
    const char *model, *prompt, *prompt_file, *system, *device;
    int n_predict, n_ctx, n_threads, raw, show_special;
    ue_sampler_params sp;
    const char *mmproj; /* vision: projector file, images, pan-and-scan */
    app_str_list images;
    int pan_scan;
} run_args;

static int emit_stdout(void *user, const char *text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

/* Reads a prompt file whole (malloc'd, NUL-terminated). */
static char *read_text_file(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
        if (cap - len - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

/* Renders the prompt (chat template or raw) and tokenizes it into a malloc'd array. */
static ue_status build_prompt(const ue_engine *e, const run_args *a, const char *prompt,
                              int32_t **tokens_out, size_t *n_out, ue_error *err) {
    char *text = NULL;
    ue_status st;
    if (a->raw) {
        text = strdup(prompt);
        if (!text) return UE_ERR_NOMEM;
    } else {
        ue_chat_message msgs[2];
        size_t n = 0;
        if (a->system) msgs[n++] = (ue_chat_message){"system", a->system};
        msgs[n++] = (ue_chat_message){"user", prompt};
        if ((st = ue_chat_render(msgs, n, 1, &text, err)) != UE_OK) return st;
    }
    size_t len = strlen(text), need = 0;
    /* The raw prompt gets <bos> prepended; the template already starts with it. */
    st = ue_tokenize(e, text, len, a->raw, 1, NULL, 0, &need, err);
    int32_t *tokens = st == UE_OK ? malloc((need ? need : 1) * sizeof *tokens) : NULL;
    if (st == UE_OK && !tokens) st = ue_fail(err, UE_ERR_NOMEM, "out of memory tokenizing");
    if (st == UE_OK) st = ue_tokenize(e, text, len, a->raw, 1, tokens, need, &need, err);
    free(text);
    if (st != UE_OK) {
        free(tokens);
        return st;
    }
    *tokens_out = tokens;
    *n_out = need;
    return UE_OK;
}

/* The prompt with one <start_of_image> marker per --image in front of the text (in the
 * user turn, or as given with --raw when the text has its own markers). */
static ue_status render_with_images(const run_args *a, const char *prompt, char **out,
                                    ue_error *err) {
    const char *marker = "<start_of_image>";
    int own = a->raw && strstr(prompt, marker);
    size_t len = (own ? 0 : strlen(marker) * (size_t)a->images.n) + strlen(prompt) + 1;
    char *content = malloc(len);
    if (!content) return ue_fail(err, UE_ERR_NOMEM, "out of memory building the prompt");
    content[0] = '\0';
    for (int i = 0; !own && i < a->images.n; i++) strcat(content, marker);
    strcat(content, prompt);
    if (a->raw) {
        *out = content;
        return UE_OK;
    }
    ue_chat_message msgs[2];
    size_t n = 0;
    if (a->system) msgs[n++] = (ue_chat_message){"system", a->system};
    msgs[n++] = (ue_chat_message){"user", content};
    ue_status st = ue_chat_render(msgs, n, 1, out, err);
    free(content);
    return st;
}

int cmd_run(int argc, char **argv) {
    run_args a = {.model = DEFAULT_MODEL, .device = "auto", .n_predict = -1};
    ue_sampler_params_init(&a.sp);
    a.sp.seed = UINT64_MAX;
    enum { N_RUN_OPTIONS = 12 }; /* the entries before the shared sampling options */
    app_option options[N_RUN_OPTIONS + APP_SAMPLING_N_OPTIONS] = {
        {"-m", "--model", APP_OPT_STRING, &a.model, 0, 0, "FILE", "GGUF model (default " DEFAULT_MODEL ")"},
        {"-p", "--prompt", APP_OPT_STRING, &a.prompt, 0, 0, "TEXT", "the prompt"},
        {"-f", "--file", APP_OPT_STRING, &a.prompt_file, 0, 0, "FILE", "read the prompt from a file"},
        {"-sys", "--system", APP_OPT_STRING, &a.system, 0, 0, "TEXT", "system prompt (folded into the first user turn)"},
        {"-n", "--n-predict", APP_OPT_INT, &a.n_predict, -1, 1 << 30, "N", "tokens to generate (-1: until the end or a full context; default -1)"},
        {"-c", "--ctx-size", APP_OPT_INT, &a.n_ctx, 0, 1 << 24, "N", "context size in tokens (0: min(4096, model's); default 0)"},
        {"-t", "--threads", APP_OPT_INT, &a.n_threads, 0, 1024, "N", "CPU threads (0: one per core; default 0)"},
        {NULL, "--device", APP_OPT_STRING, &a.device, 0, 0, "DEV", "auto, cpu or cpu-ref (default auto)"},
        {NULL, "--raw", APP_OPT_FLAG, &a.raw, 0, 0, NULL, "no chat template: the prompt is the model's input as it is"},
        {NULL, "--mmproj", APP_OPT_STRING, &a.mmproj, 0, 0, "FILE", "vision projector (mmproj GGUF) for --image"},
        {NULL, "--image", APP_OPT_LIST, &a.images, 0, 0, "FILE", "an image before the prompt (repeatable; PNG, JPEG, GIF, WebP, BMP)"},
        {NULL, "--pan-scan", APP_OPT_FLAG, &a.pan_scan, 0, 0, NULL, "also show wide or tall images as up to 4 crops (pan-and-scan)"},
    };
    app_sampling_options(&a.sp, options + N_RUN_OPTIONS);
    const app_command_spec spec = {
        "run", "unicorn run [-m MODEL] -p PROMPT [options]",
        "Answers one prompt with a Gemma 3 model, streaming the answer to stdout.\n"
        "Prompt and generation speed are printed to stderr.",
        options, sizeof options / sizeof options[0]};
    int pr = app_parse(&spec, argc, argv);
    if (pr != APP_PARSE_OK) return pr == APP_PARSE_HELP ? 0 : 2;

    char *file_prompt = NULL;
    const char *prompt = a.prompt;
    if (a.prompt_file) {
        size_t len = 0;
        file_prompt = read_text_file(a.prompt_file, &len);
        if (!file_prompt) {
            fprintf(stderr, "unicorn run: cannot read prompt file %s\n", a.prompt_file);
            return 1;
        }
        if (strlen(file_prompt) != len) {
            fprintf(stderr, "unicorn run: prompt file %s contains a NUL byte\n", a.prompt_file);
            free(file_prompt);
            return 1;
        }
        prompt = file_prompt;
    }
    if (!prompt) {
        fprintf(stderr, "unicorn run: no prompt: give -p TEXT or -f FILE (see --help)\n");
        return 2;
    }
    if (a.sp.seed == UINT64_MAX) a.sp.seed = app_random_seed();

    int rc = 1;
    ue_error err = {0};
    ue_engine *e = NULL;
    ue_session *s = NULL;
    ue_sampler *smp = NULL;
    int32_t *tokens = NULL;
    size_t n_tokens = 0;
    ue_image *images[APP_LIST_MAX] = {0};
    char *text = NULL;
    app_gen_stats stats = {0};
    if (a.images.n && app_load_images(a.images.items, a.images.n, images, &err) != UE_OK) goto fail;
    ue_engine_params ep;
    ue_engine_params_init(&ep);
    ep.model_path = a.model;
    ep.n_threads = a.n_threads;
    ep.device = a.device;
    ep.mmproj_path = a.mmproj;
    app_progress bar;
    app_progress_init(&bar, a.model);
    ep.progress = app_progress_update;
    ep.progress_user = &bar;
    ue_status est = ue_engine_create(&ep, &e, &err);
    app_progress_finish(&bar);
    if (est != UE_OK) goto fail;
    const ue_model_info *info = ue_engine_model_info(e);
    fprintf(stderr, "unicorn: %s (%s, %.0fM params) on %s\n", info->name, info->file_type,
            (double)info->n_params / 1e6, ue_engine_device_name(e));
    ue_session_params sp;
    ue_session_params_init(&sp);
    sp.n_ctx = a.n_ctx;
    if (ue_session_create(e, &sp, &s, &err) != UE_OK) goto fail;
    if (ue_sampler_create(&a.sp, info->n_vocab, &smp, &err) != UE_OK) goto fail;
    if (a.images.n) {
        if (app_need_vision(e, a.model, &err) != UE_OK ||
            render_with_images(&a, prompt, &text, &err) != UE_OK ||
            app_eval_image_prompt(s, text, a.raw, images, a.images.n, a.pan_scan, smp, NULL,
                                  &stats, &err) != UE_OK)
            goto fail;
    } else if (build_prompt(e, &a, prompt, &tokens, &n_tokens, &err) != UE_OK) {
        goto fail;
    }
    if (!a.images.n && n_tokens >= ue_session_n_ctx(s)) {
        ue_fail(&err, UE_ERR_CONTEXT_FULL,
                "the prompt has %zu tokens but the context holds %zu (raise -c)", n_tokens,
                ue_session_n_ctx(s));
        goto fail;
    }
    if (!a.images.n && app_eval_prompt(s, tokens, n_tokens, smp, NULL, &stats, &err) != UE_OK)
        goto fail;
    if (app_generate(e, s, smp, a.n_predict, emit_stdout, NULL, NULL, &stats, &err) != UE_OK)
        goto fail;
    printf("\n");
    fflush(stdout);
    fprintf(stderr, "\nprompt: %zu tokens, %.2f t/s | generation: %zu tokens, %.2f t/s%s\n",
            stats.n_prompt, stats.prompt_seconds > 0 ? stats.n_prompt / stats.prompt_seconds : 0.0,
            stats.n_gen, stats.gen_seconds > 0 ? stats.n_gen / stats.gen_seconds : 0.0,
            stats.stop_context_full ? " (stopped: context full)" : "");
    rc = 0;
fail:
    if (rc) fprintf(stderr, "unicorn run: %s\n", err.msg[0] ? err.msg : ue_status_str(err.code));
    free(tokens);
    free(text);
    for (int i = 0; i < a.images.n; i++) ue_image_destroy(images[i]);
    free(file_prompt);
    ue_sampler_destroy(smp);
    ue_session_destroy(s);
    ue_engine_destroy(e);
    return rc;
}
