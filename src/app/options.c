/* Option parsing for the subcommands (see options.h). Values are checked in full: a
 * number with trailing junk, out of range or missing is an error naming the flag, the
 * value given and what was expected. */
#include "app/options.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const app_option *find(const app_command_spec *spec, const char *arg) {
    for (size_t i = 0; i < spec->n_options; i++) {
        const app_option *o = &spec->options[i];
        if ((o->short_name && !strcmp(arg, o->short_name)) || !strcmp(arg, o->long_name))
            return o;
    }
    return NULL;
}

/* Whether v lies in the option's range; open kinds exclude one end. */
static int in_range(const app_option *o, double v) {
    if (o->kind == APP_OPT_FLOAT_OPEN_MIN) return v > o->min && v <= o->max;
    if (o->kind == APP_OPT_FLOAT_OPEN_MAX) return v >= o->min && v < o->max;
    return v >= o->min && v <= o->max;
}

/* Stores value into o->dst; `who` starts the error message ("unicorn run") and `source`
 * names where the value came from. */
int app_option_set(const char *who, const app_option *o, const char *value,
                   const char *source) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case APP_OPT_STRING:
        *(const char **)o->dst = value;
        return 0;
    case APP_OPT_LIST: {
        app_str_list *l = o->dst;
        if (l->n >= APP_LIST_MAX) {
            fprintf(stderr, "%s: %s given more than %d times\n", who, o->long_name,
                    APP_LIST_MAX);
            return -1;
        }
        l->items[l->n++] = value;
        return 0;
    }
    case APP_OPT_INT: {
        long v = strtol(value, &end, 10);
        if (end == value || *end || errno || v < o->min || v > o->max) {
            fprintf(stderr, "%s: %s %s '%s': expected an integer in %.0f..%.0f\n", who,
                    o->long_name, source, value, o->min, o->max);
            return -1;
        }
        *(int *)o->dst = (int)v;
        return 0;
    }
    case APP_OPT_FLOAT:
    case APP_OPT_FLOAT_OPEN_MIN:
    case APP_OPT_FLOAT_OPEN_MAX: {
        double v = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(v) || !in_range(o, v)) {
            fprintf(stderr, "%s: %s %s '%s': expected a number in %s%g, %g%s\n", who,
                    o->long_name, source, value, o->kind == APP_OPT_FLOAT_OPEN_MIN ? "(" : "[",
                    o->min, o->max, o->kind == APP_OPT_FLOAT_OPEN_MAX ? ")" : "]");
            return -1;
        }
        *(float *)o->dst = (float)v;
        return 0;
    }
    case APP_OPT_U64: {
        if (!strcmp(value, "-1")) { /* llama.cpp's "random seed" */
            *(uint64_t *)o->dst = UINT64_MAX;
            return 0;
        }
        unsigned long long v = strtoull(value, &end, 10);
        if (end == value || *end || errno || value[0] == '-') {
            fprintf(stderr,
                    "%s: %s %s '%s': expected a non-negative integer (or -1: random)\n", who,
                    o->long_name, source, value);
            return -1;
        }
        *(uint64_t *)o->dst = (uint64_t)v;
        return 0;
    }
    case APP_OPT_FLAG:
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "on")) {
            *(int *)o->dst = 1;
        } else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "off")) {
            *(int *)o->dst = 0;
        } else {
            fprintf(stderr, "%s: %s %s '%s': expected 1/0, true/false or on/off\n", who,
                    o->long_name, source, value);
            return -1;
        }
        return 0;
    }
    return -1;
}

static int set_value(const app_command_spec *spec, const app_option *o, const char *value,
                     const char *source) {
    char who[64];
    snprintf(who, sizeof who, "unicorn %s", spec->name);
    return app_option_set(who, o, value, source);
}

/* UNICORN_TOP_K for --top-k. */
static void env_name(const char *long_name, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "UNICORN_");
    for (const char *p = long_name + 2; *p && n + 1 < cap; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

int app_parse(const app_command_spec *spec, int argc, char **argv) {
    for (size_t i = 0; i < spec->n_options; i++) {
        const app_option *o = &spec->options[i];
        char name[64];
        env_name(o->long_name, name, sizeof name);
        const char *v = getenv(name);
        if (v && *v) {
            char source[80];
            snprintf(source, sizeof source, "(from %s)", name);
            if (set_value(spec, o, v, source) != 0) return APP_PARSE_ERROR;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            app_print_help(spec);
            return APP_PARSE_HELP;
        }
        const app_option *o = find(spec, arg);
        if (!o) {
            fprintf(stderr, "unicorn %s: unknown option '%s' (see 'unicorn %s --help')\n",
                    spec->name, arg, spec->name);
            return APP_PARSE_ERROR;
        }
        if (o->kind == APP_OPT_FLAG) {
            *(int *)o->dst = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "unicorn %s: %s needs a value (%s)\n", spec->name, arg,
                    o->metavar ? o->metavar : "VALUE");
            return APP_PARSE_ERROR;
        }
        if (set_value(spec, o, argv[++i], "value") != 0) return APP_PARSE_ERROR;
    }
    return APP_PARSE_OK;
}

void app_print_help(const app_command_spec *spec) {
    printf("usage: %s\n\n%s\n\noptions:\n", spec->usage, spec->summary);
    for (size_t i = 0; i < spec->n_options; i++) {
        const app_option *o = &spec->options[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s%s%s", o->short_name ? o->short_name : "",
                 o->short_name ? ", " : "", o->long_name, o->kind == APP_OPT_FLAG ? "" : " ",
                 o->kind == APP_OPT_FLAG ? "" : (o->metavar ? o->metavar : "VALUE"));
        printf("  %-28s %s\n", left, o->help);
    }
    printf("  %-28s %s\n", "-h, --help", "show this help");
    printf("\nEvery option can also be set through the environment: UNICORN_<LONG_NAME>,\n"
           "e.g. UNICORN_TOP_K=40 for --top-k; the command line wins.\n");
}
