/* Turns and slash commands of `unicorn chat` (see chat_commands.h). Answers go to stdout;
 * the stats line, notes and errors to stderr, so a piped chat's stdout holds only the
 * answers (and what /show, /help print when asked). */
#include "app/chat_commands.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "app/chat_store.h"
#include "app/image_prompt.h"
#include "app/options.h"
#include "app/sampling_options.h"
#include "core/error.h"

#define DIM "\033[2m"
#define RED "\033[31m"
#define OFF "\033[0m"

static int emit_stdout(void *user, const char *text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

/* One line on stderr, dimmed on a terminal. */
static void note(const chat_app *app, const char *fmt_text) {
    fprintf(stderr, "%s%s%s\n", app->color_err ? DIM : "", fmt_text, app->color_err ? OFF : "");
}

static void report_error(const chat_app *app, const ue_error *err) {
    fprintf(stderr, "%s%s%s\n", app->color_err ? RED : "",
            err->msg[0] ? err->msg : ue_status_str(err->code), app->color_err ? OFF : "");
}

static double rate(size_t n, double seconds) { return seconds > 0 ? (double)n / seconds : 0.0; }

static void print_stats(const chat_app *app, const chat_turn_stats *st) {
    char line[384];
    int n = snprintf(line, sizeof line,
                     "prompt: %zu tokens, %.1f t/s | generation: %zu tokens, %.1f t/s | "
                     "context: %zu/%zu",
                     st->n_prompt, rate(st->n_prompt, st->prompt_seconds), st->n_gen,
                     rate(st->n_gen, st->gen_seconds), ue_session_n_past(app->session),
                     ue_session_n_ctx(app->session));
    if (n > 0 && (size_t)n < sizeof line && st->n_dropped)
        n += snprintf(line + n, sizeof line - (size_t)n, " | dropped the %zu oldest messages",
                      st->n_dropped);
    if (n > 0 && (size_t)n < sizeof line && st->interrupted)
        snprintf(line + n, sizeof line - (size_t)n, " | interrupted");
    note(app, line);
    if (st->context_full)
        fprintf(stderr, "%scontext full: the answer was cut at %zu tokens; %s%s\n",
                app->color_err ? RED : "", ue_session_n_ctx(app->session),
                chat_conv_settings(app->conv)->drop_oldest
                    ? "no older turn is left to drop (raise -c for longer answers)"
                    : "/clear starts over, or run with --drop-oldest to drop the oldest turns "
                      "automatically",
                app->color_err ? OFF : "");
}

void chat_app_turn(chat_app *app, const char *text) {
    chat_turn_stats st = {0};
    ue_error err = {0};
    ue_status rc = text ? chat_conv_say(app->conv, text, emit_stdout, NULL, app->cancel, &st, &err)
                        : chat_conv_regen(app->conv, emit_stdout, NULL, app->cancel, &st, &err);
    size_t n_pending = 0;
    chat_conv_pending(app->conv, &n_pending);
    if (rc == UE_ERR_INTERRUPTED) {
        note(app, n_pending ? "interrupted before the answer started; the message was not sent "
                              "(its images stay attached to the next message)"
                            : "interrupted before the answer started; the message was not sent");
        return;
    }
    if (rc != UE_OK && st.n_gen == 0 && !st.n_prompt) {
        report_error(app, &err);
        if (n_pending) {
            char line[160];
            snprintf(line, sizeof line, "the message was not sent; its %zu image%s stay%s "
                     "attached to the next message (/clear drops them)",
                     n_pending, n_pending == 1 ? "" : "s", n_pending == 1 ? "s" : "");
            note(app, line);
        }
        return;
    }
    fputc('\n', stdout);
    fflush(stdout);
    if (rc != UE_OK) report_error(app, &err);
    print_stats(app, &st);
}

void chat_app_print_help(FILE *out) {
    fputs("commands:\n"
          "  /help               this help\n"
          "  /clear              forget the conversation and the images waiting (the\n"
          "                      system prompt stays)\n"
          "  /regen              answer the last message again (with the next seed)\n"
          "  /system [TEXT]      set the system prompt; without TEXT, remove it\n"
          "  /set NAME VALUE     change a setting: temp, top-k, top-p, min-p, seed, n,\n"
          "                      repeat-penalty, repeat-last-n, presence-penalty,\n"
          "                      frequency-penalty, drop-oldest (1/0)\n"
          "  /show               model, settings and context use\n"
          "  /save FILE          write the conversation to FILE as JSON\n"
          "  /load FILE          continue a conversation written by /save\n"
          "  /image PATH         attach an image to your next message (again for more;\n"
          "                      needs --mmproj; /show lists the images waiting)\n"
          "  /exit               leave (also /quit, /bye, Ctrl+D)\n"
          "input:\n"
          "  \"\"\"                 a line of three double quotes starts and ends a\n"
          "                      multi-line message\n"
          "  //TEXT              a message that starts with '/'\n"
          "  Ctrl+C              stop the answer (it stays in the conversation);\n"
          "                      at an empty prompt, leave\n",
          out);
    fflush(out);
}

/* ---- /set and /show --------------------------------------------------------------- */

enum { SET_N_OPTIONS = APP_SAMPLING_N_OPTIONS + 2 };

/* The settable options over copies of the current values. */
static void settable(ue_sampler_params *sp, int *n_predict, int *drop, app_option *opts) {
    app_sampling_options(sp, opts);
    opts[APP_SAMPLING_N_OPTIONS] = (app_option){"-n", "--n-predict", APP_OPT_INT, n_predict,
                                                -1, 1 << 30, "N", NULL};
    opts[APP_SAMPLING_N_OPTIONS + 1] = (app_option){NULL, "--drop-oldest", APP_OPT_FLAG, drop,
                                                    0, 0, NULL, NULL};
}

static const app_option *find_setting(const app_option *opts, const char *name) {
    for (int i = 0; i < SET_N_OPTIONS; i++) {
        const app_option *o = &opts[i];
        if (!strcmp(name, o->long_name + 2) || !strcmp(name, o->long_name) ||
            (o->short_name && (!strcmp(name, o->short_name + 1) || !strcmp(name, o->short_name))))
            return o;
    }
    return NULL;
}

static void format_seed(uint64_t seed, char *out, size_t cap) {
    snprintf(out, cap, "%llu", (unsigned long long)seed);
}

static void cmd_set(chat_app *app, char *args) {
    chat_settings *set = chat_conv_settings(app->conv);
    ue_sampler_params sp = set->sp;
    int n_predict = set->n_predict, drop = set->drop_oldest;
    app_option opts[SET_N_OPTIONS];
    settable(&sp, &n_predict, &drop, opts);
    char *name = strtok(args, " \t"), *value = strtok(NULL, " \t"), *extra = strtok(NULL, " \t");
    const app_option *o = name ? find_setting(opts, name) : NULL;
    if (!o || !value || extra) {
        if (name && !o) fprintf(stderr, "/set: unknown setting '%s'\n", name);
        else fprintf(stderr, "/set: expected NAME VALUE\n");
        fprintf(stderr, "settings: temp, top-k, top-p, min-p, seed, n, repeat-penalty, "
                        "repeat-last-n, presence-penalty, frequency-penalty, drop-oldest\n");
        return;
    }
    uint64_t old_seed = sp.seed;
    if (app_option_set("/set", o, value, "value") != 0) return;
    if (sp.seed != old_seed || o->dst == &sp.seed) {
        if (sp.seed == UINT64_MAX) sp.seed = app_random_seed();
        chat_conv_set_seed(app->conv, sp.seed);
    }
    set->sp = sp;
    set->n_predict = n_predict;
    set->drop_oldest = drop;
    char seed[32];
    format_seed(sp.seed, seed, sizeof seed);
    fprintf(stderr, "%s = %s\n", name, o->dst == &sp.seed ? seed : value);
}

/* /show's image lines: the projector, the images in the conversation and those waiting. */
static void show_images(chat_app *app) {
    if (!ue_engine_has_vision(app->engine)) {
        printf("vision:   none (images need --mmproj FILE)\n");
        return;
    }
    printf("vision:   %s, %d positions per image\n",
           app->mmproj_path && *app->mmproj_path ? app->mmproj_path : "from the model file",
           ue_engine_image_tokens(app->engine));
    size_t n_msgs = 0, in_conv = 0, n_pending = 0;
    const chat_message *msgs = chat_conv_messages(app->conv, &n_msgs);
    for (size_t i = 0; i < n_msgs; i++) in_conv += msgs[i].n_images;
    chat_image *const *pending = chat_conv_pending(app->conv, &n_pending);
    printf("images:   %zu in the conversation, %zu for the next message%s\n", in_conv, n_pending,
           n_pending ? ":" : "");
    for (size_t i = 0; i < n_pending; i++) printf("          %s\n", chat_image_path(pending[i]));
}

static void cmd_show(chat_app *app) {
    const ue_model_info *info = ue_engine_model_info(app->engine);
    const chat_settings *set = chat_conv_settings(app->conv);
    size_t n_msgs = 0, inc = 0, full = 0;
    chat_conv_messages(app->conv, &n_msgs);
    chat_conv_prefill_counts(app->conv, &inc, &full);
    char seed[32];
    format_seed(set->sp.seed, seed, sizeof seed);
    const char *sys = chat_conv_system(app->conv);
    printf("model:    %s (%s, %.0fM params) from %s\n"
           "device:   %s\n"
           "settings: temp %g, top-k %d, top-p %g, min-p %g, repeat-penalty %g, "
           "repeat-last-n %d,\n"
           "          presence-penalty %g, frequency-penalty %g, seed %s, n %d, drop-oldest %s\n"
           "context:  %zu/%zu tokens, %zu messages (prompts read incrementally: %zu, "
           "in full: %zu)\n"
           "system:   %s\n",
           info->name, info->file_type, (double)info->n_params / 1e6, app->model_path,
           ue_engine_device_name(app->engine), (double)set->sp.temperature, set->sp.top_k,
           (double)set->sp.top_p, (double)set->sp.min_p, (double)set->sp.repeat_penalty,
           set->sp.repeat_last_n, (double)set->sp.presence_penalty,
           (double)set->sp.frequency_penalty, seed, set->n_predict,
           set->drop_oldest ? "on" : "off", ue_session_n_past(app->session),
           ue_session_n_ctx(app->session), n_msgs, inc, full, sys ? sys : "(none)");
    show_images(app);
    fflush(stdout);
}

/* ---- conversation commands -------------------------------------------------------- */

/* Frees what open_stored made: the arrays and image references, not the texts. */
static void free_opened(chat_message *msgs, size_t n) {
    for (size_t i = 0; msgs && i < n; i++) {
        for (size_t j = 0; j < msgs[i].n_images; j++) chat_image_unref(msgs[i].images[j]);
        free((void *)msgs[i].images);
    }
    free(msgs);
}

static void cmd_system(chat_app *app, const char *text) {
    size_t n = 0;
    const chat_message *msgs = chat_conv_messages(app->conv, &n);
    chat_turn_stats st = {0};
    ue_error err = {0};
    ue_status rc = chat_conv_replace(app->conv, *text ? text : NULL, msgs, n, app->cancel, &st, &err);
    if (rc == UE_ERR_INTERRUPTED) {
        note(app, "interrupted: the conversation is re-read before the next answer");
    } else if (rc != UE_OK) {
        report_error(app, &err);
        return;
    }
    char line[160];
    snprintf(line, sizeof line, "%s (context: %zu/%zu, %zu tokens re-read)",
             *text ? "system prompt set" : "system prompt removed",
             ue_session_n_past(app->session), ue_session_n_ctx(app->session), st.n_prompt);
    note(app, line);
}

static void cmd_save(chat_app *app, const char *path) {
    size_t n = 0;
    const chat_message *msgs = chat_conv_messages(app->conv, &n);
    ue_error err = {0};
    if (chat_store_save(path, ue_engine_model_info(app->engine)->name,
                        chat_conv_system(app->conv), msgs, n, &err) != UE_OK) {
        report_error(app, &err);
        return;
    }
    char line[600];
    snprintf(line, sizeof line, "saved %zu messages to %s", n, path);
    note(app, line);
}

/* The messages of a loaded file with their images read again (all or none). */
static ue_status open_stored(chat_app *app, const char *path, const chat_store_msg *stored,
                             size_t n, chat_message **out, ue_error *err) {
    size_t n_images = 0;
    for (size_t i = 0; i < n; i++) n_images += stored[i].n_images;
    if (n_images && app_need_vision(app->engine, app->model_path, err) != UE_OK) {
        ue_error_prefix(err, "%s has images", path);
        return err->code;
    }
    chat_message *msgs = calloc(n ? n : 1, sizeof *msgs);
    if (!msgs) return ue_fail(err, UE_ERR_NOMEM, "out of memory loading %s", path);
    ue_status st = UE_OK;
    for (size_t i = 0; i < n && st == UE_OK; i++) {
        msgs[i] = (chat_message){stored[i].role, stored[i].content, NULL, 0};
        if (!stored[i].n_images) continue;
        chat_image **imgs = calloc(stored[i].n_images, sizeof *imgs);
        if (!imgs) {
            st = ue_fail(err, UE_ERR_NOMEM, "out of memory loading %s", path);
            break;
        }
        msgs[i].images = imgs;
        for (size_t j = 0; j < stored[i].n_images && st == UE_OK; j++) {
            st = chat_image_open(stored[i].images[j], &imgs[j], err);
            if (st == UE_OK) msgs[i].n_images++;
            else ue_error_prefix(err, "%s, message %zu, image %zu", path, i + 1, j + 1);
        }
    }
    if (st != UE_OK) {
        free_opened(msgs, n);
        return st;
    }
    *out = msgs;
    return UE_OK;
}

static void cmd_load(chat_app *app, const char *path) {
    char *system = NULL;
    chat_store_msg *stored = NULL;
    chat_message *msgs = NULL;
    size_t n = 0;
    ue_error err = {0};
    chat_turn_stats st = {0};
    ue_status rc = chat_store_load(path, &system, &stored, &n, &err);
    if (rc == UE_OK) rc = open_stored(app, path, stored, n, &msgs, &err);
    if (rc == UE_OK) rc = chat_conv_replace(app->conv, system, msgs, n, app->cancel, &st, &err);
    free_opened(msgs, n);
    chat_store_free(system, stored, n);
    if (rc == UE_ERR_INTERRUPTED) {
        note(app, "interrupted: the conversation is re-read before the next answer");
    } else if (rc != UE_OK) {
        report_error(app, &err);
        return;
    }
    size_t kept = 0;
    chat_conv_messages(app->conv, &kept);
    char line[700];
    snprintf(line, sizeof line, "loaded %zu messages from %s (context: %zu/%zu)%s", kept, path,
             ue_session_n_past(app->session), ue_session_n_ctx(app->session),
             kept < n ? ", the oldest dropped to fit" : "");
    note(app, line);
}

/* /image PATH: the file is read now, so a missing or bad one is reported at once; the
 * image waits for the next message. One pair of quotes around PATH is removed (terminals
 * quote dropped file names). */
static void cmd_image(chat_app *app, char *path) {
    size_t len = strlen(path);
    if (len >= 2 && (path[0] == '\'' || path[0] == '"') && path[len - 1] == path[0]) {
        path[len - 1] = '\0';
        path++;
    }
    ue_error err = {0};
    chat_image *img = NULL;
    if (!*path) {
        fprintf(stderr, "/image: expected a file name (PNG, JPEG, GIF, WebP or BMP)\n");
        return;
    }
    if (app_need_vision(app->engine, app->model_path, &err) != UE_OK ||
        chat_image_open(path, &img, &err) != UE_OK || chat_conv_attach(app->conv, img, &err)) {
        ue_error_prefix(&err, "/image");
        report_error(app, &err);
        note(app, "no image was attached");
        return;
    }
    size_t n_pending = 0;
    chat_conv_pending(app->conv, &n_pending);
    char line[700];
    snprintf(line, sizeof line, "image %s attached to your next message (%zu waiting)",
             chat_image_path(img), n_pending);
    note(app, line);
}

/* Splits "/name rest" into the name and the argument text (leading blanks skipped,
 * trailing blanks removed). */
static char *split_command(char *line, char **args) {
    char *p = line + 1;
    while (*p && !isspace((unsigned char)*p)) p++;
    if (*p) *p++ = '\0';
    while (isspace((unsigned char)*p)) p++;
    char *end = p + strlen(p);
    while (end > p && isspace((unsigned char)end[-1])) *--end = '\0';
    *args = p;
    return line + 1;
}

int chat_app_command(chat_app *app, const char *text) {
    char *line = strdup(text);
    if (!line) return 0;
    char *args;
    const char *name = split_command(line, &args);
    int quit = 0;
    if (!strcmp(name, "exit") || !strcmp(name, "quit") || !strcmp(name, "bye")) {
        quit = 1;
    } else if (!strcmp(name, "help") || !strcmp(name, "?")) {
        chat_app_print_help(stdout);
    } else if (!strcmp(name, "clear")) {
        size_t n_pending = 0;
        chat_conv_pending(app->conv, &n_pending);
        chat_conv_clear(app->conv);
        char line[120];
        snprintf(line, sizeof line, "conversation cleared (context: 0 tokens)%s",
                 n_pending ? "; the images waiting were dropped" : "");
        note(app, line);
    } else if (!strcmp(name, "regen")) {
        chat_app_turn(app, NULL);
    } else if (!strcmp(name, "system")) {
        cmd_system(app, args);
    } else if (!strcmp(name, "set")) {
        cmd_set(app, args);
    } else if (!strcmp(name, "show")) {
        cmd_show(app);
    } else if (!strcmp(name, "save") || !strcmp(name, "load")) {
        if (!*args) fprintf(stderr, "/%s: expected a file name\n", name);
        else if (name[0] == 's') cmd_save(app, args);
        else cmd_load(app, args);
    } else if (!strcmp(name, "image")) {
        cmd_image(app, args);
    } else {
        fprintf(stderr, "unknown command '/%s'\n", name);
        chat_app_print_help(stdout);
    }
    free(line);
    return quit;
}
