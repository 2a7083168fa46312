/* Reading the user's messages: one line, or a block between two `"""` lines. On a
 * terminal with libedit: line editing and history; otherwise (no libedit, or piped stdin)
 * plain reads, with a prompt only on a terminal. */
#ifndef UE_APP_LINE_INPUT_H
#define UE_APP_LINE_INPUT_H

typedef struct line_input line_input;

typedef enum line_status {
    LINE_OK,        /* *out holds a message */
    LINE_EOF,       /* end of input (Ctrl+D at an empty prompt) */
    LINE_INTERRUPT  /* a signal (Ctrl+C) interrupted the read */
} line_status;

/* interactive: stdin is a terminal (prompts, editing); color: prompts in colour;
 * interrupted: the flag a SIGINT handler sets (cleared before each line is read). */
line_input *line_input_create(int interactive, int color, volatile int *interrupted);
void line_input_destroy(line_input *li); /* NULL is a no-op */

/* Reads one message into *out (malloc'd, caller frees; no trailing newline). On
 * LINE_INTERRUPT, *had_text says whether anything had been typed (the message is dropped). */
line_status line_input_read(line_input *li, char **out, int *had_text);

#endif
