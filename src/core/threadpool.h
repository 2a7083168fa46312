/* A fixed pool of worker threads for data-parallel loops. The pool is passed explicitly
 * (never global); running a job allocates nothing, so the decode loop stays
 * allocation-free. */
#ifndef UE_CORE_THREADPOOL_H
#define UE_CORE_THREADPOOL_H

#include "core/error.h"

typedef struct ue_pool ue_pool;

/* fn(ctx, ith, nth): the job for thread ith of nth; every thread runs it exactly once. */
typedef void (*ue_pool_fn)(void *ctx, int ith, int nth);

/* n_threads counts the calling thread: n_threads - 1 workers are started. */
ue_status ue_pool_create(int n_threads, ue_pool **out, ue_error *err);
void ue_pool_destroy(ue_pool *pool);
int ue_pool_n_threads(const ue_pool *pool);
/* Runs fn on every thread (the caller is thread 0) and returns when all are done. */
void ue_pool_run(ue_pool *pool, ue_pool_fn fn, void *ctx);

/* Splits [0, n) into nth near-equal parts; sets the bounds of part ith. */
static inline void ue_pool_split(long n, int ith, int nth, long *begin, long *end) {
    long per = n / nth, extra = n % nth;
    *begin = ith * per + (ith < extra ? ith : extra);
    *end = *begin + per + (ith < extra ? 1 : 0);
}

/* Cores this process may run on (sched affinity), at least 1. */
int ue_cpu_count(void);

#endif
