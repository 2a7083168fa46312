/* unicorn bench: prompt-processing (ppN) and generation (tgN) speed with llama-bench's
 * method, so the two can be run side by side: ppN evaluates N tokens (<bos> then random
 * ids) as one eval in an empty context; tgN evaluates N tokens one at a time from an empty
 * context; each test runs once to warm up, then -r times; t/s is mean +- sd over the
 * repeats. Also reports peak resident memory (VmHWM) against weights + KV cache. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/commands.h"
#include "app/options.h"
#include "core/gguf.h"
#include "unicorn.h"

#define DEFAULT_MODEL "models/gemma-3-270m-q4_k_m.gguf"
enum { MAX_LIST = 16, MAX_REPS = 1000 };

typedef struct int_list {
    int v[MAX_LIST];
    int n;
} int_list;

/* "128,512" -> {128, 512}; each within [lo, hi]. */
static int parse_list(const char *flag, const char *s, int lo, int hi, int_list *out) {
    out->n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || v < lo || v > hi || out->n == MAX_LIST) {
            fprintf(stderr, "unicorn bench: %s '%s': expected up to %d comma-separated integers "
                    "in %d..%d\n", flag, s, MAX_LIST, lo, hi);
            return -1;
        }
        out->v[out->n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (out->n == 0) {
        fprintf(stderr, "unicorn bench: %s is empty\n", flag);
        return -1;
    }
    return 0;
}

/* What the file says about itself: llama-bench's "size" is the tensor data, "params" the
 * elements of every tensor. */
typedef struct model_facts {
    uint64_t weight_bytes, n_params;
    int n_vocab_tok;
    char desc[128]; /* "gemma3 270M Q4_K_M" */
} model_facts;

static int read_facts(const char *path, model_facts *mf) {
    ue_gguf *g;
    ue_error err;
    if (ue_gguf_open(path, &g, &err) != UE_OK) {
        fprintf(stderr, "unicorn bench: %s: %s\n", path, err.msg);
        return -1;
    }
    memset(mf, 0, sizeof *mf);
    for (uint64_t i = 0; i < ue_gguf_n_tensors(g); i++) {
        const ue_gguf_tensor *t = ue_gguf_tensor_at(g, i);
        mf->weight_bytes += t->n_bytes;
        mf->n_params += t->n_elements;
    }
    int64_t k = ue_gguf_find_key(g, "tokenizer.ggml.tokens");
    mf->n_vocab_tok = k >= 0 ? (int)ue_gguf_arr_len(g, (uint64_t)k) : 0;
    char label[32] = "";
    ue_gguf_get_str(g, "general.size_label", 0, label, sizeof label, NULL);
    if (!label[0]) {
        double p = (double)mf->n_params;
        snprintf(label, sizeof label, p >= 1e9 ? "%.1fB" : "%.0fM", p >= 1e9 ? p / 1e9 : p / 1e6);
    }
    ue_gguf_close(g);
    snprintf(mf->desc, sizeof mf->desc, "gemma3 %s", label);
    return 0;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Peak resident set of this process in bytes (VmHWM), 0 when unknown. */
static uint64_t peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %" SCNu64 " kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024;
}

static uint32_t rng_next(uint32_t *s) { /* xorshift32: ids need no quality */
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

typedef struct bench_test {
    int n_prompt, n_gen, n_threads;
    double ts_mean, ts_sd;
    double samples_ns[MAX_REPS];
    int n_samples;
    uint64_t kv_bytes, peak_rss;
} bench_test;

/* One repetition (or the warm-up): fresh context, then the prompt as one eval or the
 * generation token by token. Returns the nanoseconds it took, < 0 on error. */
static double run_once(ue_session *s, const bench_test *t, int n_gen, int n_vocab,
                       uint32_t *rng, int32_t *buf, ue_error *err) {
    if (ue_session_rewind(s, 0, err) != UE_OK) return -1;
    double t0 = now_ns();
    if (t->n_prompt) {
        buf[0] = UE_TOKEN_BOS;
        for (int i = 1; i < t->n_prompt; i++) buf[i] = (int32_t)(rng_next(rng) % (uint32_t)n_vocab);
        if (ue_session_eval(s, buf, (size_t)t->n_prompt, NULL, err) != UE_OK) return -1;
    }
    int32_t tok = UE_TOKEN_BOS;
    for (int i = 0; i < n_gen; i++) {
        if (ue_session_eval(s, &tok, 1, NULL, err) != UE_OK) return -1;
        tok = (int32_t)(rng_next(rng) % (uint32_t)n_vocab);
    }
    return now_ns() - t0;
}

static int run_test(ue_engine *e, const model_facts *mf, bench_test *t, int reps, int warmup,
                    ue_error *err) {
    const ue_model_info *info = ue_engine_model_info(e);
    int n_ctx = t->n_prompt + t->n_gen;
    ue_session_params sp;
    ue_session_params_init(&sp);
    sp.n_ctx = n_ctx;
    ue_session *s;
    if (ue_session_create(e, &sp, &s, err) != UE_OK) return -1;
    int32_t *buf = malloc((size_t)(t->n_prompt > 0 ? t->n_prompt : 1) * sizeof *buf);
    int n_vocab = mf->n_vocab_tok > 0 && mf->n_vocab_tok < info->n_vocab ? mf->n_vocab_tok
                                                                         : info->n_vocab;
    uint32_t rng = 0x2545f491u;
    int rc = buf ? 0 : -1;
    /* llama-bench warms a generation test up with a single token */
    if (!rc && warmup && run_once(s, t, t->n_gen ? 1 : 0, n_vocab, &rng, buf, err) < 0) rc = -1;
    for (int r = 0; !rc && r < reps; r++) {
        double ns = run_once(s, t, t->n_gen, n_vocab, &rng, buf, err);
        if (ns < 0) rc = -1;
        else t->samples_ns[t->n_samples++] = ns;
    }
    free(buf);
    ue_session_destroy(s);
    if (rc) return rc;
    double sum = 0, sq = 0, n_tok = t->n_prompt + t->n_gen;
    for (int i = 0; i < t->n_samples; i++) sum += n_tok * 1e9 / t->samples_ns[i];
    t->ts_mean = sum / t->n_samples;
    for (int i = 0; i < t->n_samples; i++) {
        double d = n_tok * 1e9 / t->samples_ns[i] - t->ts_mean;
        sq += d * d;
    }
    t->ts_sd = t->n_samples > 1 ? sqrt(sq / (t->n_samples - 1)) : 0.0;
    /* KV cache as the session keeps it: f32 K and V rows for every layer and position */
    t->kv_bytes = (uint64_t)info->n_layer * 2 * (uint64_t)n_ctx * (uint64_t)info->n_head_kv *
                  (uint64_t)info->head_dim * sizeof(float);
    t->peak_rss = peak_rss();
    return 0;
}

static void fmt_size(uint64_t bytes, char *out, size_t cap) {
    double gib = (double)bytes / (1024.0 * 1024.0 * 1024.0);
    if (gib >= 1.0) snprintf(out, cap, "%.2f GiB", gib);
    else snprintf(out, cap, "%.2f MiB", (double)bytes / (1024.0 * 1024.0));
}

static void fmt_params(uint64_t n, char *out, size_t cap) {
    if (n >= 1000000000ull) snprintf(out, cap, "%.2f B", (double)n / 1e9);
    else snprintf(out, cap, "%.2f M", (double)n / 1e6);
}

static void test_name(const bench_test *t, char *out, size_t cap) {
    if (t->n_prompt && t->n_gen) snprintf(out, cap, "pp%d+tg%d", t->n_prompt, t->n_gen);
    else if (t->n_prompt) snprintf(out, cap, "pp%d", t->n_prompt);
    else snprintf(out, cap, "tg%d", t->n_gen);
}

static void md_header(void) {
    printf("| %-30s | %10s | %10s | %-10s | %7s | %13s | %20s |\n", "model", "size", "params",
           "backend", "threads", "test", "t/s");
    printf("| ------------------------------ | ---------: | ---------: | ---------- | ------: | "
           "------------: | -------------------: |\n");
}

static void md_row(const model_facts *mf, const char *ftype, const char *backend,
                   const bench_test *t) {
    char model[160], size[32], params[32], name[32], ts[48];
    snprintf(model, sizeof model, "%s %s", mf->desc, ftype);
    fmt_size(mf->weight_bytes, size, sizeof size);
    fmt_params(mf->n_params, params, sizeof params);
    test_name(t, name, sizeof name);
    snprintf(ts, sizeof ts, "%.2f ± %.2f", t->ts_mean, t->ts_sd);
    printf("| %-30s | %10s | %10s | %-10s | %7d | %13s | %20s |\n", model, size, params, backend,
           t->n_threads, name, ts);
    fflush(stdout);
}

/* A JSON string literal of s (the strings here are file names and model labels). */
static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void json_row(const char *path, const model_facts *mf, const char *ftype,
                     const char *device, const bench_test *t, int first) {
    char name[32];
    test_name(t, name, sizeof name);
    printf("%s  {\"model_filename\": ", first ? "" : ",\n");
    json_str(path);
    printf(", \"model_type\": ");
    char model[160];
    snprintf(model, sizeof model, "%s %s", mf->desc, ftype);
    json_str(model);
    printf(", \"model_size\": %" PRIu64 ", \"model_n_params\": %" PRIu64 ", \"backend\": ",
           mf->weight_bytes, mf->n_params);
    json_str(device);
    printf(", \"n_threads\": %d, \"test\": \"%s\", \"n_prompt\": %d, \"n_gen\": %d, "
           "\"avg_ts\": %.6f, \"stddev_ts\": %.6f, \"samples_ns\": [",
           t->n_threads, name, t->n_prompt, t->n_gen, t->ts_mean, t->ts_sd);
    for (int i = 0; i < t->n_samples; i++) printf("%s%.0f", i ? ", " : "", t->samples_ns[i]);
    printf("], \"kv_bytes\": %" PRIu64 ", \"peak_rss_bytes\": %" PRIu64 "}", t->kv_bytes,
           t->peak_rss);
}

int cmd_bench(int argc, char **argv) {
    const char *model = DEFAULT_MODEL, *p_arg = "512", *n_arg = "128", *t_arg = NULL;
    const char *output = "md", *device = "auto";
    int reps = 5, no_warmup = 0;
    const app_option options[] = {
        {"-m", "--model", APP_OPT_STRING, &model, 0, 0, "FILE", "GGUF model (default " DEFAULT_MODEL ")"},
        {"-p", "--n-prompt", APP_OPT_STRING, &p_arg, 0, 0, "N[,N..]", "prompt tokens per pp test, 0: none (default 512)"},
        {"-n", "--n-gen", APP_OPT_STRING, &n_arg, 0, 0, "N[,N..]", "tokens per tg test, 0: none (default 128)"},
        {"-r", "--repetitions", APP_OPT_INT, &reps, 1, MAX_REPS, "N", "repeats of each test (default 5)"},
        {"-t", "--threads", APP_OPT_STRING, &t_arg, 0, 0, "N[,N..]", "CPU threads (default: one per core)"},
        {"-o", "--output", APP_OPT_STRING, &output, 0, 0, "md|json", "output format (default md)"},
        {NULL, "--device", APP_OPT_STRING, &device, 0, 0, "DEV", "auto, cpu or cpu-ref (default auto)"},
        {NULL, "--no-warmup", APP_OPT_FLAG, &no_warmup, 0, 0, NULL, "skip the warm-up run of each test"},
    };
    const app_command_spec spec = {
        "bench", "unicorn bench [-m MODEL] [-p 512] [-n 128] [-r 5] [-t THREADS] [-o md|json]",
        "Measures prompt processing (ppN: N tokens as one batch) and generation (tgN: N tokens\n"
        "one at a time) from an empty context, as llama-bench does; t/s is mean ± sd over -r "
        "repeats.",
        options, sizeof options / sizeof options[0]};
    int pr = app_parse(&spec, argc, argv);
    if (pr != APP_PARSE_OK) return pr == APP_PARSE_HELP ? 0 : 2;
    int json = !strcmp(output, "json");
    if (!json && strcmp(output, "md")) {
        fprintf(stderr, "unicorn bench: -o '%s': expected md or json\n", output);
        return 2;
    }
    int_list pl, nl, tl = {.v = {0}, .n = 1};
    if (parse_list("-p", p_arg, 0, 1 << 20, &pl) || parse_list("-n", n_arg, 0, 1 << 20, &nl) ||
        (t_arg && parse_list("-t", t_arg, 0, 1024, &tl)))
        return 2;
    model_facts mf;
    if (read_facts(model, &mf)) return 1;

    bench_test *tests = calloc((size_t)(pl.n + nl.n), sizeof *tests);
    if (!tests) return 1;
    int rc = 0, first = 1;
    uint64_t max_kv = 0;
    if (json) printf("[\n");
    else md_header();
    for (int ti = 0; !rc && ti < tl.n; ti++) {
        ue_engine_params ep;
        ue_engine_params_init(&ep);
        ep.model_path = model;
        ep.n_threads = tl.v[ti];
        ep.device = device;
        ue_engine *e;
        ue_error err = {0};
        if (ue_engine_create(&ep, &e, &err) != UE_OK) {
            fprintf(stderr, "unicorn bench: %s\n", err.msg);
            rc = 1;
            break;
        }
        const char *dev = ue_engine_device_name(e);
        char backend[16];
        snprintf(backend, sizeof backend, "%.*s", (int)strcspn(dev, ", ("), dev);
        int n_threads = tl.v[ti] ? tl.v[ti] : -1;
        const char *threads_at = strstr(dev, " thread");
        if (n_threads < 0 && threads_at) { /* the engine chose: read it back */
            const char *q = threads_at;
            while (q > dev && q[-1] >= '0' && q[-1] <= '9') q--;
            n_threads = atoi(q);
        }
        int n_tests = 0;
        for (int i = 0; i < pl.n; i++)
            if (pl.v[i]) tests[n_tests++] = (bench_test){.n_prompt = pl.v[i]};
        for (int i = 0; i < nl.n; i++)
            if (nl.v[i]) tests[n_tests++] = (bench_test){.n_gen = nl.v[i]};
        for (int i = 0; i < n_tests; i++) {
            bench_test *t = &tests[i];
            t->n_threads = n_threads;
            if (run_test(e, &mf, t, reps, !no_warmup, &err)) {
                fprintf(stderr, "unicorn bench: %s\n", err.msg);
                rc = 1;
                break;
            }
            if (t->kv_bytes > max_kv) max_kv = t->kv_bytes;
            if (json) json_row(model, &mf, ue_engine_model_info(e)->file_type, dev, t, first);
            else md_row(&mf, ue_engine_model_info(e)->file_type, backend, t);
            first = 0;
        }
        ue_engine_destroy(e);
    }
    free(tests);
    if (json) {
        printf("\n]\n");
    } else if (!rc) {
        uint64_t peak = peak_rss(), budget = mf.weight_bytes + max_kv;
        char a[32], b[32], c[32];
        fmt_size(peak, a, sizeof a);
        fmt_size(mf.weight_bytes, b, sizeof b);
        fmt_size(max_kv, c, sizeof c);
        printf("\npeak resident memory (VmHWM) %s = %.3f x (weights %s + KV cache %s of the "
               "largest test)\n", a, budget ? (double)peak / (double)budget : 0.0, b, c);
    }
    return rc;
}
