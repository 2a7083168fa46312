/* UELG fixture reader: see uelg.h. */
#include "uelg.h"

#include <stdlib.h>
#include <string.h>

#include "test_util.h"

void uelg_load(const char *path, uelg *f) {
    size_t size = 0;
    memset(f, 0, sizeof *f);
    char *b = ue_test_read_file(path, &size);
    if (size < 32 || memcmp(b, "UELG", 4) != 0) fail_msg("%s: not a UELG file", path);
    uint32_t h[7];
    memcpy(h, b + 4, sizeof h);
    if (h[0] != 1) fail_msg("%s: UELG version %u, expected 1", path, h[0]);
    f->n_prompt = h[1];
    f->top_k = h[2];
    f->n_full_pos = h[3];
    f->n_full_ids = h[4];
    f->n_gen = h[5];
    f->n_vocab = h[6];
    uint64_t P = f->n_prompt, K = f->top_k, F = f->n_full_pos, V = f->n_full_ids, G = f->n_gen;
    uint64_t want = 32 + 4 * (P + 2 * P * K + P + F + V + F * V + 3 * G);
    if (want != size) fail_msg("%s: %zu bytes, expected %llu", path, size, (unsigned long long)want);
    const char *p = b + 32;
#define TAKE(field, type, count) \
    do { f->field = (const type *)(const void *)p; p += 4 * (count); } while (0)
    TAKE(prompt_ids, int32_t, P);
    TAKE(top_ids, int32_t, P * K);
    TAKE(top_logits, float, P * K);
    TAKE(margin, float, P);
    TAKE(full_pos, int32_t, F);
    TAKE(full_ids, int32_t, V);
    TAKE(full_logits, float, F * V);
    TAKE(gen_ids, int32_t, G);
    TAKE(gen_top1, float, G);
    TAKE(gen_margin, float, G);
#undef TAKE
    f->blob = b;
}

void uelg_free(uelg *f) {
    free(f->blob);
    memset(f, 0, sizeof *f);
}
