/* The unicorn subcommands. Each takes the arguments after its name (argv[0] is the
 * command name) and returns the process exit code. */
#ifndef UE_APP_COMMANDS_H
#define UE_APP_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_random_model(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
