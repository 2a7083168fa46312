/* unicorn random-model: writes a Gemma 3 GGUF of random weights in any published shape
 * and file type (llama.cpp's tensor type rules), with a full vocabulary copied from the
 * default model when present, for benchmarks and tests without downloading weights.
 * --dry-run prints the tensor plan and the file size without writing. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/commands.h"
#include "app/options.h"
#include "model/gemma3_random.h"

#define DEFAULT_VOCAB "models/gemma-3-270m-q4_k_m.gguf"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void show_progress(double fraction, void *user) {
    int *last = user;
    int pct = (int)(fraction * 100.0);
    if (pct == *last) return;
    *last = pct;
    fprintf(stderr, "\rwriting: %3d%%", pct);
    fflush(stderr);
}

/* Per-type tensor counts and bytes, plus the whole table with `all`. */
static void print_plan(const ue_gemma3_random_params *p, uint64_t file_size, int all) {
    uint64_t count[UE_TYPE_COUNT] = {0}, bytes[UE_TYPE_COUNT] = {0}, params = 0;
    int n = ue_gemma3_n_tensors(p->shape);
    if (all) printf("%-34s %-6s %-16s %12s\n", "tensor", "type", "shape", "bytes");
    for (int i = 0; i < n; i++) {
        ue_gemma3_tensor_spec t;
        ue_gemma3_tensor_spec_at(p->shape, p->ftype, i, &t);
        uint64_t b = (uint64_t)ue_type_row_bytes(t.type, t.ne[0]) * (uint64_t)t.ne[1];
        count[t.type]++;
        bytes[t.type] += b;
        params += (uint64_t)t.ne[0] * (uint64_t)t.ne[1];
        if (!all) continue;
        char shape[40];
        if (t.n_dims == 1)
            snprintf(shape, sizeof shape, "%" PRId64, t.ne[0]);
        else
            snprintf(shape, sizeof shape, "%" PRId64 " x %" PRId64, t.ne[0], t.ne[1]);
        printf("%-34s %-6s %-16s %12" PRIu64 "\n", t.name, ue_type_get(t.type)->name, shape, b);
    }
    printf("Gemma 3 %s %s: %d tensors, %.3f B parameters, file %" PRIu64 " bytes (%.2f GiB)\n",
           p->shape->size_label, ue_gemma3_ftype_name(p->ftype), n, (double)params / 1e9,
           file_size, (double)file_size / (1024.0 * 1024.0 * 1024.0));
    for (int t = 0; t < UE_TYPE_COUNT; t++)
        if (count[t])
            printf("  %-6s %4" PRIu64 " tensors %14" PRIu64 " bytes\n", ue_type_get((uint32_t)t)->name,
                   count[t], bytes[t]);
}

int cmd_random_model(int argc, char **argv) {
    const char *shape = NULL, *type = "q4_k_m", *out = NULL, *vocab = NULL;
    uint64_t seed = 0;
    int n_threads = 0, dry_run = 0, quiet = 0;
    const app_option options[] = {
        {NULL, "--shape", APP_OPT_STRING, &shape, 0, 0, "SHAPE", "tiny|270m|1b|4b|12b|27b"},
        {NULL, "--type", APP_OPT_STRING, &type, 0, 0, "TYPE",
         "q4_k_m|q4_0|q8_0|f16|bf16 (default q4_k_m): llama.cpp's tensor type rules"},
        {NULL, "--seed", APP_OPT_U64, &seed, 0, 0, "N", "seed of the random weights (default 0)"},
        {"-o", "--output", APP_OPT_STRING, &out, 0, 0, "FILE", "the GGUF file to write"},
        {"-t", "--threads", APP_OPT_INT, &n_threads, 0, 1024, "N",
         "threads generating and quantizing (default: all cores)"},
        {NULL, "--vocab", APP_OPT_STRING, &vocab, 0, 0, "FILE",
         "GGUF to copy the tokenizer from (default " DEFAULT_VOCAB " when present; "
         "'none': a synthetic vocabulary)"},
        {NULL, "--dry-run", APP_OPT_FLAG, &dry_run, 0, 0, NULL,
         "print the tensor table and file size, write nothing"},
        {"-q", "--quiet", APP_OPT_FLAG, &quiet, 0, 0, NULL, "no progress or summary on stderr"},
    };
    const app_command_spec spec = {
        "random-model", "unicorn random-model --shape SHAPE [--type TYPE] [--seed N] -o FILE",
        "Writes a valid Gemma 3 GGUF of random weights (normal, sd 0.02; norms near 1) with a "
        "full 262k vocabulary,\nfor benchmarks and tests.",
        options, sizeof options / sizeof options[0]};
    int rc = app_parse(&spec, argc, argv);
    if (rc != APP_PARSE_OK) return rc == APP_PARSE_HELP ? 0 : 2;

    ue_gemma3_random_params p = {.seed = seed, .n_threads = n_threads};
    if (!(p.shape = ue_gemma3_shape_find(shape))) {
        fprintf(stderr, "unicorn random-model: --shape '%s': expected one of %s\n",
                shape ? shape : "", ue_gemma3_shape_names());
        return 2;
    }
    int ft = ue_gemma3_ftype_parse(type);
    if (ft < 0) {
        fprintf(stderr, "unicorn random-model: --type '%s': expected one of %s\n", type,
                ue_gemma3_ftype_names());
        return 2;
    }
    p.ftype = (ue_gemma3_ftype)ft;
    if (!out && !dry_run) {
        fprintf(stderr, "unicorn random-model: no output file (-o FILE) given\n");
        return 2;
    }
    if (!vocab)
        p.vocab_path = access(DEFAULT_VOCAB, R_OK) == 0 ? DEFAULT_VOCAB : NULL;
    else if (strcmp(vocab, "none") != 0)
        p.vocab_path = vocab;

    ue_error err = {0};
    if (dry_run) {
        ue_gguf_writer *w;
        if (ue_gemma3_random_declare(&p, &w, &err) != UE_OK) {
            fprintf(stderr, "unicorn random-model: %s\n", err.msg);
            return 1;
        }
        print_plan(&p, ue_gguf_writer_file_size(w), 1);
        ue_gguf_writer_destroy(w);
        return 0;
    }
    int last = -1;
    if (!quiet && isatty(STDERR_FILENO)) {
        p.progress = show_progress;
        p.progress_user = &last;
    }
    double t0 = now_s();
    ue_status st = ue_gemma3_random_write(&p, out, &err);
    if (p.progress) fprintf(stderr, "\n");
    if (st != UE_OK) {
        fprintf(stderr, "unicorn random-model: %s\n", err.msg);
        return 1;
    }
    if (!quiet) {
        fprintf(stderr, "wrote %s in %.1f s (vocabulary: %s)\n", out, now_s() - t0,
                p.vocab_path ? p.vocab_path : "synthetic");
        ue_gguf_writer *w;
        if (ue_gemma3_random_declare(&p, &w, &err) == UE_OK) {
            print_plan(&p, ue_gguf_writer_file_size(w), 0);
            ue_gguf_writer_destroy(w);
        }
    }
    return 0;
}
