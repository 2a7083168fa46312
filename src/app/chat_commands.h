/* The interactive side of `unicorn chat`: running a turn with its printed answer and
 * stats line, and the slash commands (/help, /clear, /regen, /system, /set, /show,
 * /save, /load, /image, /exit). */
#ifndef UE_APP_CHAT_COMMANDS_H
#define UE_APP_CHAT_COMMANDS_H

#include <stdio.h>

#include "app/chat_session.h"
#include "unicorn.h"

typedef struct chat_app {
    ue_engine *engine;   /* borrowed */
    ue_session *session; /* borrowed */
    chat_conv *conv;     /* borrowed */
    const char *model_path;
    const char *mmproj_path; /* NULL: none given */
    int color_err;         /* dim stats and red errors on stderr */
    volatile int *cancel;  /* set by Ctrl+C */
} chat_app;

/* Answers a user message (text), or the last message again (NULL), streaming the answer
 * to stdout; then one stats line on stderr. */
void chat_app_turn(chat_app *app, const char *text);
/* Runs a line that starts with '/'. Returns 1 when the chat should end. */
int chat_app_command(chat_app *app, const char *line);
void chat_app_print_help(FILE *out);

#endif
