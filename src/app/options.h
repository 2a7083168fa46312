/* Table-driven command-line options shared by the subcommands: parsing with range
 * checks and clear errors, environment defaults (UNICORN_<LONG_NAME>, the command line
 * wins) and generated --help text. */
#ifndef UE_APP_OPTIONS_H
#define UE_APP_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

typedef enum app_opt_kind {
    APP_OPT_STRING, /* const char ** */
    APP_OPT_INT,    /* int *, within [min, max] */
    APP_OPT_FLOAT,  /* float *, within [min, max] */
    APP_OPT_FLOAT_OPEN_MIN, /* float *, within (min, max] */
    APP_OPT_FLOAT_OPEN_MAX, /* float *, within [min, max) */
    APP_OPT_U64,    /* uint64_t * (seeds) */
    APP_OPT_FLAG,   /* int *, set to 1 */
    APP_OPT_LIST    /* app_str_list *, repeatable */
} app_opt_kind;

enum { APP_LIST_MAX = 16 };
typedef struct app_str_list {
    const char *items[APP_LIST_MAX];
    int n;
} app_str_list;

typedef struct app_option {
    const char *short_name; /* "-m" or NULL */
    const char *long_name;  /* "--model" */
    app_opt_kind kind;
    void *dst;
    double min, max;        /* APP_OPT_INT / APP_OPT_FLOAT */
    const char *metavar;    /* "FILE" */
    const char *help;
} app_option;

typedef struct app_command_spec {
    const char *name;       /* "run" */
    const char *usage;      /* "unicorn run -m MODEL -p PROMPT [options]" */
    const char *summary;
    const app_option *options;
    size_t n_options;
} app_command_spec;

enum { APP_PARSE_OK = 0, APP_PARSE_HELP = 1, APP_PARSE_ERROR = 2 };

/* Applies environment defaults then argv (argv[0] is the command name). Prints errors
 * and --help itself; returns APP_PARSE_*. Positional arguments are not accepted. */
int app_parse(const app_command_spec *spec, int argc, char **argv);
void app_print_help(const app_command_spec *spec);
/* Checks and stores one value (as the parser does), for settings changed later (chat's
 * /set). Errors go to stderr as "WHO: --flag SOURCE 'value': expected ..."; returns 0 or -1. */
int app_option_set(const char *who, const app_option *o, const char *value,
                   const char *source);

#endif
