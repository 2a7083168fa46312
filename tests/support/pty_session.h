/* Runs a program under a pseudo-terminal (forkpty) and talks to it as a user would:
 * send keys, wait for text to appear, collect everything it printed. For end-to-end
 * tests of interactive commands (unicorn chat). Waits take a generous timeout only so
 * that a hung program fails the test instead of hanging it; nothing is timed. */
#ifndef UE_TEST_PTY_SESSION_H
#define UE_TEST_PTY_SESSION_H

#include <stddef.h>
#include <sys/types.h>

typedef struct ue_pty {
    pid_t pid;
    int fd;       /* master side */
    char *out;    /* everything read so far, NUL-terminated */
    size_t len, cap;
    int closed;   /* the program closed the terminal (exited) */
} ue_pty;

/* Starts argv[0] (a path) with TERM=xterm and an 80x24 window; fails the test on error. */
void ue_pty_start(ue_pty *p, char *const argv[]);
/* Writes bytes as typed keys ("\r" is Enter, "\x03" Ctrl+C, "\x04" Ctrl+D). */
void ue_pty_send(ue_pty *p, const char *keys);
/* Reads until `want` occurs at or after offset `from`; returns its offset, or fails the
 * test (printing the output) when the program exits or timeout_s passes first. */
size_t ue_pty_expect(ue_pty *p, size_t from, const char *want, double timeout_s);
/* Reads until the output is at least len bytes long (fails like ue_pty_expect). */
void ue_pty_expect_len(ue_pty *p, size_t len, double timeout_s);
/* Waits until the program has put the terminal in non-canonical mode (a line editor
 * reading keys): keys typed before that are echoed by the terminal and a Ctrl+D there
 * is not an end of input. */
void ue_pty_expect_raw(ue_pty *p, double timeout_s);
/* Waits for the program to exit; returns its exit status (128 + signal if killed). */
int ue_pty_wait(ue_pty *p, double timeout_s);
/* Kills the program if still running and frees everything. */
void ue_pty_close(ue_pty *p);

#endif
