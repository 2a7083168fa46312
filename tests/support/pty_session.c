/* Pseudo-terminal sessions for end-to-end tests (see pty_session.h). */
#include "pty_session.h"

#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ue_pty_start(ue_pty *p, char *const argv[]) {
    memset(p, 0, sizeof *p);
    p->cap = 1 << 16;
    p->out = malloc(p->cap);
    assert_non_null(p->out);
    p->out[0] = '\0';
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    fflush(NULL);
    p->pid = forkpty(&p->fd, NULL, NULL, &ws);
    if (p->pid < 0) fail_msg("forkpty: %s", strerror(errno));
    if (p->pid == 0) {
        setenv("TERM", "xterm", 1);
        unsetenv("NO_COLOR");
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
}

void ue_pty_send(ue_pty *p, const char *keys) {
    size_t n = strlen(keys);
    while (n > 0) {
        ssize_t w = write(p->fd, keys, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) fail_msg("writing to the terminal: %s", strerror(errno));
        keys += w;
        n -= (size_t)w;
    }
}

/* Reads what is available within wait_s: returns 2 when something was read, 1 when
 * nothing came, 0 once the program closed the terminal. */
static int pump(ue_pty *p, double wait_s) {
    if (p->closed) return 0;
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    int r = poll(&pfd, 1, (int)(wait_s * 1000));
    if (r <= 0) return 1;
    char buf[4096];
    ssize_t got = read(p->fd, buf, sizeof buf);
    if (got <= 0) { /* EIO: the slave side is closed */
        p->closed = 1;
        return 0;
    }
    if (p->len + (size_t)got + 1 > p->cap) {
        while (p->len + (size_t)got + 1 > p->cap) p->cap *= 2;
        p->out = realloc(p->out, p->cap);
        assert_non_null(p->out);
    }
    memcpy(p->out + p->len, buf, (size_t)got);
    p->len += (size_t)got;
    p->out[p->len] = '\0';
    return 2;
}

/* The output's last part for a failure message: carriage returns dropped, ESC shown as
 * "\\e" (a terminal would hide what went wrong). */
static const char *shown(const ue_pty *p) {
    static char buf[6000];
    size_t start = p->len > 4000 ? p->len - 4000 : 0, k = 0;
    for (size_t i = start; i < p->len && k + 3 < sizeof buf; i++) {
        if (p->out[i] == '\r') continue;
        if (p->out[i] == '\033') {
            buf[k++] = '\\';
            buf[k++] = 'e';
            continue;
        }
        buf[k++] = p->out[i];
    }
    buf[k] = '\0';
    return buf;
}

size_t ue_pty_expect(ue_pty *p, size_t from, const char *want, double timeout_s) {
    double end = now() + timeout_s;
    for (;;) {
        if (from <= p->len) {
            const char *hit = strstr(p->out + from, want);
            if (hit) return (size_t)(hit - p->out);
        }
        if (p->closed || now() > end)
            fail_msg("waited for \"%s\" (%s); the output so far:\n%s", want,
                     p->closed ? "the program exited" : "timed out", shown(p));
        pump(p, 0.2);
    }
}

void ue_pty_expect_len(ue_pty *p, size_t len, double timeout_s) {
    double end = now() + timeout_s;
    while (p->len < len) {
        if (p->closed || now() > end)
            fail_msg("waited for %zu bytes of output (%s); the output so far:\n%s", len,
                     p->closed ? "the program exited" : "timed out", shown(p));
        pump(p, 0.2);
    }
}

void ue_pty_expect_raw(ue_pty *p, double timeout_s) {
    double end = now() + timeout_s;
    for (;;) {
        struct termios t;
        if (tcgetattr(p->fd, &t) == 0 && !(t.c_lflag & ICANON)) return;
        if (p->closed || now() > end)
            fail_msg("waited for the terminal to leave canonical mode (%s); the output so "
                     "far:\n%s",
                     p->closed ? "the program exited" : "timed out", shown(p));
        pump(p, 0.02);
    }
}

int ue_pty_wait(ue_pty *p, double timeout_s) {
    double end = now() + timeout_s;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) break;
        if (now() > end) fail_msg("the program did not exit; the output so far:\n%s", shown(p));
        pump(p, 0.05);
    }
    p->pid = 0;
    while (pump(p, 0.0) == 2) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void ue_pty_close(ue_pty *p) {
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    if (p->fd > 0) close(p->fd);
    free(p->out);
    memset(p, 0, sizeof *p);
}
