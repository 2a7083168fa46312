/* unicorn: the command-line front end. Dispatches to one subcommand per file. */
#include <stdio.h>
#include <string.h>

#include "app/commands.h"
#include "unicorn.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cmd_run, "answer one prompt (streams the answer to stdout)"},
    {"chat", cmd_chat, "chat with a model (line editing, history, /help for commands)"},
    {"info", cmd_info, "print a GGUF file's metadata and tensor table"},
    {"devices", cmd_devices, "list the CPU, GPUs and NPU, and what Unicorn does with each"},
    {"bench", cmd_bench, "prompt and generation speed, llama-bench style (ppN / tgN t/s)"},
    {"random-model", cmd_random_model, "write a Gemma 3 GGUF of random weights (any shape)"},
};

static void usage(FILE *out) {
    fprintf(out, "unicorn %s - Gemma 3 inference engine\n\nusage: unicorn COMMAND [options]\n\n",
            UE_VERSION_STRING);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'unicorn COMMAND --help' describes each command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version")) {
        printf("unicorn %s\n", UE_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "unicorn: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}
