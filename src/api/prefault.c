/* Warms the page cache with the model's weights while loading, so that loading shows real
 * progress and the first answer does not stall on page faults of the mmap'd file. Each
 * chunk is announced with madvise(MADV_WILLNEED) (the kernel reads it ahead) and then read
 * one byte per page; a memory-backed GGUF (tests, fuzzing) is simply read. */
#include "api/prefault.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

enum { CHUNK_BYTES = 16 << 20 };

void ue_prefault_weights(const ue_gguf *g, void (*progress)(float, void *), void *user) {
    if (ue_gguf_n_tensors(g) == 0) return;
    const ue_gguf_tensor *t0 = ue_gguf_tensor_at(g, 0);
    uint64_t data_offset = ue_gguf_data_offset(g), file_size = ue_gguf_file_size(g);
    if (!t0 || data_offset >= file_size) return;
    const unsigned char *base = (const unsigned char *)t0->data - t0->offset;
    uint64_t size = file_size - data_offset;
    long page = sysconf(_SC_PAGESIZE), phys = sysconf(_SC_PHYS_PAGES);
    if (page <= 0) page = 4096;
    if (phys > 0 && size / (uint64_t)page > (uint64_t)phys / 10 * 8) return;

    volatile unsigned char sink = 0;
    uintptr_t mask = (uintptr_t)page - 1;
    for (uint64_t done = 0; done < size;) {
        uint64_t n = size - done < CHUNK_BYTES ? size - done : CHUNK_BYTES;
        const unsigned char *p = base + done;
        uintptr_t start = (uintptr_t)p & ~mask;
        /* Advice only: failure (memory that is not a mapping) changes nothing. */
        madvise((void *)start, (size_t)((uintptr_t)p + n - start), MADV_WILLNEED);
        for (uint64_t off = 0; off < n; off += (uint64_t)page) sink ^= p[off];
        sink ^= p[n - 1];
        done += n;
        if (progress) progress(0.99f * (float)((double)done / (double)size), user);
    }
    (void)sink;
}
