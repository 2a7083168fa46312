/* Running a probe in a child process (disc_child.h). The child leaves with _exit, so the
 * caller's stdio buffers and exit handlers run once, in the caller. fork in a process
 * with other threads gives the child only the calling thread: a lock another thread held
 * at that moment stays taken there, which the timeout turns into a failed probe rather
 * than a hang. */
#include "backend/discovery/disc_child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void child_main(int fd, void (*fn)(void *, void *), void *arg, void *out, size_t size) {
    memset(out, 0, size); /* the child's own copy: the caller's stays as it was */
    fn(arg, out);
    const char *p = out;
    while (size) {
        ssize_t w = write(fd, p, size);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(3);
        p += w;
        size -= (size_t)w;
    }
    _exit(0);
}

/* Reads up to size bytes until EOF or the deadline; returns the count, -1 on timeout. */
static long long read_until(int fd, char *buf, size_t size, long long deadline) {
    size_t got = 0;
    while (got < size) {
        long long left = deadline - now_ms();
        if (left <= 0) return -1;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        if (r == 0) continue; /* the deadline check above decides */
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* EOF: the child is gone */
        got += (size_t)n;
    }
    return (long long)got;
}

int disc_run_in_child(void (*fn)(void *arg, void *out), void *arg, void *out, size_t size,
                      int timeout_ms, char *why, size_t cap) {
    if (cap) why[0] = '\0';
    char *buf = malloc(size ? size : 1);
    int fds[2];
    if (!buf) return DISC_CHILD_NO_FORK;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        free(buf);
        return DISC_CHILD_NO_FORK;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        free(buf);
        return DISC_CHILD_NO_FORK;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], fn, arg, out, size);
    }
    close(fds[1]);
    long long got = read_until(fds[0], buf, size, now_ms() + timeout_ms);
    close(fds[0]);
    if (got < 0) kill(pid, SIGKILL);
    int status = 0;
    pid_t w;
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    int rc = DISC_CHILD_OK;
    if (got == (long long)size) {
        memcpy(out, buf, size);
    } else {
        rc = DISC_CHILD_FAILED;
        if (got < 0)
            snprintf(why, cap, "gave no answer in %d ms and was stopped", timeout_ms);
        else if (w == pid && WIFSIGNALED(status))
            snprintf(why, cap, "died of signal %d (%s)", WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
        else if (w == pid && WIFEXITED(status) && WEXITSTATUS(status) != 0)
            snprintf(why, cap, "exited with status %d", WEXITSTATUS(status));
        else
            snprintf(why, cap, "sent %lld of %zu bytes", got, size);
    }
    free(buf);
    return rc;
}
