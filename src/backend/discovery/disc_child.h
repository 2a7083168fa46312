/* Running a probe in a short-lived child process: the child fills a plain-data report
 * and sends its bytes back through a pipe, then exits. What the probe maps (driver
 * libraries, their threads and heaps) goes away with the child, and a probe that crashes
 * or hangs costs the report, not the caller. */
#ifndef UE_BACKEND_DISC_CHILD_H
#define UE_BACKEND_DISC_CHILD_H

#include <stddef.h>

enum {
    DISC_CHILD_OK = 0,      /* out holds the child's report */
    DISC_CHILD_NO_FORK = 1, /* no pipe or no process: nothing ran, the caller may run fn */
    DISC_CHILD_FAILED = 2   /* fn ran in a child that died, hung or answered short; why says */
};

/* Runs fn(arg, out) in a child process and copies the `size` bytes it leaves in its out
 * back into `out` (which must hold no pointers). The child gets timeout_ms to answer
 * before it is killed. On DISC_CHILD_FAILED, why (cap bytes) says what happened and out
 * is left as it was. */
int disc_run_in_child(void (*fn)(void *arg, void *out), void *arg, void *out, size_t size,
                      int timeout_ms, char *why, size_t cap);

#endif
