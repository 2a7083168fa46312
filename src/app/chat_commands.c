/* Turns and slash commands of `unicorn chat` (see chat_commands.h). Answers go to stdout;
 * the stats line, notes and errors to stderr, so a piped chat's stdout holds only the
 * answers (and what /show, /help print when asked). */
#include "app/chat_commands.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "app/chat_store.h"
#include "app/options.h"
#include "app/sampling_options.h"

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
    if (rc == UE_ERR_INTERRUPTED) {
        note(app, "interrupted before the answer started; the message was not sent");
        return;
    }
    if (rc != UE_OK && st.n_gen == 0 && !st.n_prompt) {
        report_error(app, &err);
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
          "  /clear              forget the conversation (the system prompt stays)\n"
          "  /regen              answer the last message again (with the next seed)\n"
          "  /system [TEXT]      set the system prompt; without TEXT, remove it\n"
          "  /set NAME VALUE     change a setting: temp, top-k, top-p, min-p, seed, n,\n"
          "                      repeat-penalty, repeat-last-n, presence-penalty,\n"
          "                      frequency-penalty, drop-oldest (1/0)\n"
          "  /show               model, settings and context use\n"
          "  /save FILE          write the conversation to FILE as JSON\n"
          "  /load FILE          continue a conversation written by /save\n"
          "  /image PATH         send an image (not available in chat yet)\n"
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
    fflush(stdout);
}

/* ---- conversation commands -------------------------------------------------------- */

static void cmd_system(chat_app *app, const char *text) {
    size_t n = 0;
    const ue_chat_message *msgs = chat_conv_messages(app->conv, &n);
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
    const ue_chat_message *msgs = chat_conv_messages(app->conv, &n);
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

static void cmd_load(chat_app *app, const char *path) {
    char *system = NULL;
    ue_chat_message *msgs = NULL;
    size_t n = 0;
    ue_error err = {0};
    chat_turn_stats st = {0};
    ue_status rc = chat_store_load(path, &system, &msgs, &n, &err);
    if (rc == UE_OK) rc = chat_conv_replace(app->conv, system, msgs, n, app->cancel, &st, &err);
    chat_store_free(system, msgs, n);
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
        chat_conv_clear(app->conv);
        note(app, "conversation cleared (context: 0 tokens)");
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
        fprintf(stderr, "/image: images in chat are not available yet (they need the "
                        "vision projector, --mmproj); nothing was sent. For one question "
                        "about an image: unicorn run --mmproj FILE --image PATH -p TEXT\n");
    } else {
        fprintf(stderr, "unknown command '/%s'\n", name);
        chat_app_print_help(stdout);
    }
    free(line);
    return quit;
}
