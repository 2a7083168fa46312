/* unicorn chat: an interactive conversation with a Gemma 3 model. Reads messages (line
 * editing and history on a terminal, plain lines from a pipe), streams each answer to
 * stdout and prints one stats line per answer to stderr. Ctrl+C stops an answer; at an
 * empty prompt it leaves, as Ctrl+D does. With --mmproj, images (--image, /image) go
 * before the text of the next message. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/chat_commands.h"
#include "app/chat_image.h"
#include "app/chat_session.h"
#include "app/commands.h"
#include "app/image_prompt.h"
#include "app/line_input.h"
#include "app/options.h"
#include "app/progress.h"
#include "app/sampling_options.h"
#include "unicorn.h"

#define DEFAULT_MODEL "models/gemma-3-270m-q4_k_m.gguf"

/* The one piece of global state: a signal handler can only reach a static. It is the
 * cancel flag of ue_eval_options / app_generate (an int, as sig_atomic_t is here). */
static volatile int g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

typedef struct chat_args {
    const char *model, *system, *device, *mmproj;
    app_str_list images;
    int n_predict, n_ctx, n_threads, drop_oldest, no_color;
    ue_sampler_params sp;
} chat_args;

enum { N_CHAT_OPTIONS = 10 };

static int is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return 0;
    return 1;
}

/* Reads and answers messages until the end of input, /exit or Ctrl+C at the prompt. */
static void chat_loop(chat_app *app, line_input *li) {
    for (;;) {
        char *msg = NULL;
        int had_text = 0;
        line_status ls = line_input_read(li, &msg, &had_text);
        if (ls == LINE_EOF) break;
        if (ls == LINE_INTERRUPT) {
            if (had_text) continue; /* Ctrl+C drops the typed line, as a shell does */
            break;
        }
        int quit = 0;
        if (msg[0] == '/' && msg[1] != '/') quit = chat_app_command(app, msg);
        else if (!is_blank(msg)) chat_app_turn(app, msg[0] == '/' ? msg + 1 : msg);
        free(msg);
        if (quit) break;
    }
}

int cmd_chat(int argc, char **argv) {
    chat_args a = {.model = DEFAULT_MODEL, .device = "auto", .n_predict = -1};
    ue_sampler_params_init(&a.sp);
    a.sp.seed = UINT64_MAX;
    app_option options[N_CHAT_OPTIONS + APP_SAMPLING_N_OPTIONS] = {
        {"-m", "--model", APP_OPT_STRING, &a.model, 0, 0, "FILE", "GGUF model (default " DEFAULT_MODEL ")"},
        {"-sys", "--system", APP_OPT_STRING, &a.system, 0, 0, "TEXT", "system prompt (folded into the first user turn; /system changes it)"},
        {"-n", "--n-predict", APP_OPT_INT, &a.n_predict, -1, 1 << 30, "N", "most tokens per answer (-1: until the model ends its turn; default -1)"},
        {"-c", "--ctx-size", APP_OPT_INT, &a.n_ctx, 0, 1 << 24, "N", "context size in tokens for the whole conversation (0: min(4096, model's); default 0)"},
        {"-t", "--threads", APP_OPT_INT, &a.n_threads, 0, 1024, "N", "CPU threads (0: one per core; default 0)"},
        {NULL, "--device", APP_OPT_STRING, &a.device, 0, 0, "DEV", "auto, cpu or cpu-ref (default auto)"},
        {NULL, "--mmproj", APP_OPT_STRING, &a.mmproj, 0, 0, "FILE", "vision projector (mmproj GGUF) for images (--image, /image)"},
        {NULL, "--image", APP_OPT_LIST, &a.images, 0, 0, "FILE", "an image for the first message (repeatable; PNG, JPEG, GIF, WebP, BMP)"},
        {NULL, "--drop-oldest", APP_OPT_FLAG, &a.drop_oldest, 0, 0, NULL, "when the context is full, drop the oldest turns and re-read the rest (default: say so and stop)"},
        {NULL, "--no-color", APP_OPT_FLAG, &a.no_color, 0, 0, NULL, "no colours on the terminal (also when NO_COLOR is set)"},
    };
    app_sampling_options(&a.sp, options + N_CHAT_OPTIONS);
    const app_command_spec spec = {
        "chat", "unicorn chat [-m MODEL] [-sys TEXT] [--mmproj FILE [--image FILE ...]] [options]",
        "Chats with a Gemma 3 model: type a message, the answer streams back. The\n"
        "conversation stays in the context, so each turn only reads its new tokens.\n"
        "In the chat, /help lists the commands (/clear, /regen, /system, /set, /show,\n"
        "/save, /load, /image, /exit); a line of \"\"\" starts and ends a multi-line\n"
        "message.\n"
        "Ctrl+C stops an answer; at an empty prompt, Ctrl+C or Ctrl+D leaves.\n"
        "With stdin not a terminal (a pipe or a file), each line or \"\"\" block is one\n"
        "message and each answer goes to stdout ended by a newline, with no prompts,\n"
        "colours or progress bar. After each answer one stats line goes to stderr.\n"
        "Answer k of a chat samples with seed + k: the same -s replays a chat exactly.\n"
        "Images need the model's vision projector (--mmproj FILE). Each --image, and\n"
        "each /image PATH in the chat, goes before the text of the next message, laid\n"
        "out as `unicorn run --image` does: \"\\n\\n<start_of_image>\", the image's soft\n"
        "tokens (256 for Gemma 3), \"<end_of_image>\\n\\n\" (about 260 context positions\n"
        "an image). Limits: an image is encoded once when its message is sent (Ctrl+C\n"
        "stops only after an encode in progress); no pan-and-scan crops in chat;\n"
        "/save stores image paths, not pixels, so /load reads the files again and fails\n"
        "with a clear error if one is gone; with --mmproj, the text <start_of_image>\n"
        "typed in a message stays text (\"<start_of_image >\") and is no image.",
        options, sizeof options / sizeof options[0]};
    int pr = app_parse(&spec, argc, argv);
    if (pr != APP_PARSE_OK) return pr == APP_PARSE_HELP ? 0 : 2;
    if (a.sp.seed == UINT64_MAX) a.sp.seed = app_random_seed();

    int interactive = isatty(STDIN_FILENO);
    int color = interactive && !a.no_color && !getenv("NO_COLOR");
    int rc = 1;
    ue_error err = {0};
    ue_engine *e = NULL;
    ue_session *s = NULL;
    chat_conv *conv = NULL;
    line_input *li = NULL;

    ue_engine_params ep;
    ue_engine_params_init(&ep);
    ep.model_path = a.model;
    ep.n_threads = a.n_threads;
    ep.device = a.device;
    ep.mmproj_path = a.mmproj;
    app_progress bar;
    app_progress_init(&bar, a.model);
    bar.enabled = bar.enabled && interactive; /* piped chats stay quiet */
    ep.progress = app_progress_update;
    ep.progress_user = &bar;
    ue_status st = ue_engine_create(&ep, &e, &err);
    app_progress_finish(&bar);
    if (st != UE_OK) goto fail;
    const ue_model_info *info = ue_engine_model_info(e);
    fprintf(stderr, "unicorn: %s (%s, %.0fM params) on %s\n", info->name, info->file_type,
            (double)info->n_params / 1e6, ue_engine_device_name(e));
    ue_session_params sp;
    ue_session_params_init(&sp);
    sp.n_ctx = a.n_ctx;
    if (ue_session_create(e, &sp, &s, &err) != UE_OK) goto fail;
    chat_settings cs = {.sp = a.sp, .n_predict = a.n_predict, .drop_oldest = a.drop_oldest};
    if (chat_conv_create(e, s, &cs, &conv, &err) != UE_OK) goto fail;
    if (a.system && *a.system) {
        chat_turn_stats ignored = {0};
        if (chat_conv_replace(conv, a.system, NULL, 0, NULL, &ignored, &err) != UE_OK) goto fail;
    }
    if (a.images.n && app_need_vision(e, a.model, &err) != UE_OK) goto fail;
    for (int i = 0; i < a.images.n; i++) {
        chat_image *img = NULL;
        if (chat_image_open(a.images.items[i], &img, &err) != UE_OK ||
            chat_conv_attach(conv, img, &err) != UE_OK)
            goto fail;
    }
    li = line_input_create(interactive, color, &g_interrupted);
    if (!li) {
        snprintf(err.msg, sizeof err.msg, "cannot set up line input");
        goto fail;
    }

    /* No SA_RESTART: Ctrl+C must interrupt a blocking read of the prompt. */
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);
    if (interactive)
        fprintf(stderr, "Chatting with %s, context %zu tokens. /help for commands, Ctrl+D or "
                        "/exit to leave.\n",
                info->name, ue_session_n_ctx(s));
    if (interactive && a.images.n)
        fprintf(stderr, "%d image%s attached to your first message.\n", a.images.n,
                a.images.n == 1 ? "" : "s");
    chat_app app = {.engine = e, .session = s, .conv = conv, .model_path = a.model,
                    .mmproj_path = a.mmproj,
                    .color_err = color && isatty(STDERR_FILENO),
                    .cancel = &g_interrupted};
    chat_loop(&app, li);
    sigaction(SIGINT, &old_sa, NULL);
    rc = 0;
fail:
    if (rc) fprintf(stderr, "unicorn chat: %s\n", err.msg[0] ? err.msg : ue_status_str(err.code));
    line_input_destroy(li);
    chat_conv_destroy(conv);
    ue_session_destroy(s);
    ue_engine_destroy(e);
    return rc;
}
