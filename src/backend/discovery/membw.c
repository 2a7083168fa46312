/* `unicorn devices --probe`: a short measured memory bandwidth. Every thread streams over
 * its own slice of two buffers much larger than the caches: first a read pass (sum of
 * 64-bit words), then a copy (memcpy, counted as bytes read + bytes written). Decoding is
 * bound by exactly this read rate, so it is the figure that predicts tokens per second. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/discovery/disc_fs.h"

enum { MAX_THREADS = 256 };

typedef struct bw_shared {
    uint8_t *src, *dst;
    size_t slice;               /* bytes per thread, multiple of 64 */
    double seconds;             /* per phase */
    pthread_mutex_t lock;       /* the gate opens once every thread has started */
    pthread_cond_t open;
    int go;
    pthread_barrier_t barrier;
} bw_shared;

typedef struct bw_thread {
    bw_shared *sh;
    int ith;
    double start[2], end[2];    /* per phase: read, copy */
    uint64_t bytes[2];
    uint64_t sink;
} bw_thread;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t read_pass(const uint64_t *p, size_t n) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= n; i += 4) s0 += p[i], s1 += p[i + 1], s2 += p[i + 2], s3 += p[i + 3];
    return s0 ^ s1 ^ s2 ^ s3;
}

static void *bw_worker(void *arg) {
    bw_thread *t = arg;
    bw_shared *sh = t->sh;
    uint8_t *src = sh->src + (size_t)t->ith * sh->slice;
    uint8_t *dst = sh->dst + (size_t)t->ith * sh->slice;
    pthread_mutex_lock(&sh->lock);
    while (!sh->go) pthread_cond_wait(&sh->open, &sh->lock);
    pthread_mutex_unlock(&sh->lock);
    /* First touch from the thread that uses the memory (NUMA placement), untimed. */
    memset(src, t->ith + 1, sh->slice);
    memset(dst, 0, sh->slice);
    for (int phase = 0; phase < 2; phase++) {
        pthread_barrier_wait(&sh->barrier);
        double t0 = now(), t1 = t0;
        uint64_t bytes = 0;
        do {
            if (phase == 0) {
                t->sink += read_pass((const uint64_t *)src, sh->slice / 8);
                bytes += sh->slice;
            } else {
                memcpy(dst, src, sh->slice);
                bytes += 2 * (uint64_t)sh->slice;
            }
            t1 = now();
        } while (t1 - t0 < sh->seconds);
        t->start[phase] = t0, t->end[phase] = t1, t->bytes[phase] = bytes;
    }
    return NULL;
}

void ue_membw_probe(const ue_discovery_opts *opts, ue_cpu_info *cpu, ue_discovery_notes *notes) {
    int n = cpu->n_allowed > 0 ? cpu->n_allowed : cpu->n_logical;
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    /* Each buffer: 256 MiB, or 4x the largest cache when that is bigger, and never more
     * than an eighth of the available RAM. */
    uint64_t want = opts && opts->probe_bytes ? opts->probe_bytes : 256ull << 20;
    if (!(opts && opts->probe_bytes)) {
        for (int i = 0; i < cpu->n_caches; i++)
            if (cpu->caches[i].size * 4 > want) want = cpu->caches[i].size * 4;
        if (cpu->ram_available && want > cpu->ram_available / 8) want = cpu->ram_available / 8;
    }
    size_t slice = (size_t)(want / (uint64_t)n) & ~(size_t)63;
    if (slice < 4096) {
        ue_disc_note(notes, "cpu: not enough memory for the bandwidth probe");
        return;
    }
    double total = opts && opts->probe_seconds > 0 ? opts->probe_seconds : 0.5;
    bw_shared sh = {.slice = slice, .seconds = total * 0.4};
    sh.src = aligned_alloc(64, slice * (size_t)n);
    sh.dst = aligned_alloc(64, slice * (size_t)n);
    bw_thread *th = calloc((size_t)n, sizeof *th);
    pthread_t *ids = calloc((size_t)n, sizeof *ids);
    if (!sh.src || !sh.dst || !th || !ids) {
        ue_disc_note(notes, "cpu: out of memory for the bandwidth probe");
        goto done;
    }
    pthread_mutex_init(&sh.lock, NULL);
    pthread_cond_init(&sh.open, NULL);
    int started = 1;
    for (int i = 0; i < n; i++) th[i].sh = &sh, th[i].ith = i;
    while (started < n && pthread_create(&ids[started], NULL, bw_worker, &th[started]) == 0)
        started++;
    if (started < n)
        ue_disc_note(notes, "cpu: bandwidth probe runs %d of %d threads", started, n);
    n = started;
    pthread_barrier_init(&sh.barrier, NULL, (unsigned)n);
    pthread_mutex_lock(&sh.lock);
    sh.go = 1;
    pthread_cond_broadcast(&sh.open);
    pthread_mutex_unlock(&sh.lock);
    bw_worker(&th[0]);
    for (int i = 1; i < n; i++) pthread_join(ids[i], NULL);
    pthread_barrier_destroy(&sh.barrier);
    pthread_cond_destroy(&sh.open);
    pthread_mutex_destroy(&sh.lock);
    double gbs[2];
    for (int phase = 0; phase < 2; phase++) {
        double t0 = th[0].start[phase], t1 = th[0].end[phase];
        uint64_t bytes = 0;
        for (int i = 0; i < n; i++) {
            if (th[i].start[phase] < t0) t0 = th[i].start[phase];
            if (th[i].end[phase] > t1) t1 = th[i].end[phase];
            bytes += th[i].bytes[phase];
        }
        gbs[phase] = t1 > t0 ? (double)bytes / (t1 - t0) * 1e-9 : 0;
    }
    cpu->bw_read_gbs = gbs[0];
    cpu->bw_copy_gbs = gbs[1];
    cpu->bw_threads = n;
    cpu->bw_bytes = (uint64_t)slice * (uint64_t)n;
done:
    free(ids);
    free(th);
    free(sh.src);
    free(sh.dst);
}
