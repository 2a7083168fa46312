/* Thread pool: workers wait on a generation counter; the caller bumps it, does its own
 * share, then waits until every worker has finished. Workers spin briefly before
 * sleeping, since decode jobs arrive every few microseconds. */
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

/* One step of a spin-wait: first a pause hint (a decode job arrives within microseconds,
 * and keeping the core avoids a wake-up), later sched_yield, so that when the machine has
 * more runnable threads than cores the thread we wait for can get ours. */
enum { SPIN_PAUSES = 2000, SPIN_LIMIT = 20000 };
static inline void spin_step(int spins) {
    if (spins >= SPIN_PAUSES) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

struct ue_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done;
    atomic_uint generation;
    atomic_int pending; /* workers still running the current job */
    atomic_int stop;
    ue_pool_fn fn;
    void *ctx;
};

typedef struct worker_arg {
    ue_pool *pool;
    int ith;
} worker_arg;

static worker_arg *worker_args(ue_pool *pool) {
    return (worker_arg *)(pool->threads + pool->n_threads);
}

static void *worker_main(void *p) {
    worker_arg *arg = p;
    ue_pool *pool = arg->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
               !atomic_load(&pool->stop) && spins < SPIN_LIMIT) {
            spin_step(spins++);
        }
        if (gen == seen && !atomic_load(&pool->stop)) {
            pthread_mutex_lock(&pool->mutex);
            while ((gen = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->mutex);
            pthread_mutex_unlock(&pool->mutex);
        }
        if (atomic_load(&pool->stop)) return NULL;
        seen = gen;
        pool->fn(pool->ctx, arg->ith, pool->n_threads);
        if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->mutex);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mutex);
        }
    }
}

ue_status ue_pool_create(int n_threads, ue_pool **out, ue_error *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return ue_fail(err, UE_ERR_ARGUMENT, "thread count %d is out of range 1..1024", n_threads);
    ue_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return ue_fail(err, UE_ERR_NOMEM, "out of memory creating the thread pool");
    pool->n_threads = n_threads;
    pool->threads = calloc((size_t)n_threads, sizeof(pthread_t) + sizeof(worker_arg));
    if (!pool->threads) {
        free(pool);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory creating the thread pool");
    }
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    worker_arg *args = worker_args(pool);
    for (int i = 1; i < n_threads; i++) {
        args[i].pool = pool;
        args[i].ith = i;
        if (pthread_create(&pool->threads[i], NULL, worker_main, &args[i]) != 0) {
            pool->n_threads = i; /* destroy joins only the ones started */
            ue_pool_destroy(pool);
            return ue_fail(err, UE_ERR_NOMEM, "could not start worker thread %d of %d", i,
                           n_threads);
        }
    }
    *out = pool;
    return UE_OK;
}

void ue_pool_destroy(ue_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stop, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool);
}

int ue_pool_n_threads(const ue_pool *pool) { return pool ? pool->n_threads : 1; }

void ue_pool_run(ue_pool *pool, ue_pool_fn fn, void *ctx) {
    if (!pool || pool->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store(&pool->pending, pool->n_threads - 1);
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    fn(ctx, 0, pool->n_threads);
    int spins = 0;
    while (atomic_load_explicit(&pool->pending, memory_order_acquire) > 0 && spins < SPIN_LIMIT) {
        spin_step(spins++);
    }
    if (atomic_load(&pool->pending) > 0) {
        pthread_mutex_lock(&pool->mutex);
        while (atomic_load(&pool->pending) > 0) pthread_cond_wait(&pool->done, &pool->mutex);
        pthread_mutex_unlock(&pool->mutex);
    }
}

int ue_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    return 1;
}
