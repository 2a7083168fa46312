/* Reader of UELG logit fixtures (tests/fixtures/logits/FORMAT.md), written by the
 * independent references (numpy over the GGUF, transformers for the tiny models). */
#ifndef UE_TEST_UELG_H
#define UE_TEST_UELG_H

#include <stddef.h>
#include <stdint.h>

typedef struct uelg {
    void *blob;
    uint32_t n_prompt, top_k, n_full_pos, n_full_ids, n_gen, n_vocab;
    const int32_t *prompt_ids;  /* [n_prompt] */
    const int32_t *top_ids;     /* [n_prompt][top_k] */
    const float *top_logits;    /* [n_prompt][top_k] */
    const float *margin;        /* [n_prompt] */
    const int32_t *full_pos;    /* [n_full_pos] */
    const int32_t *full_ids;    /* [n_full_ids] */
    const float *full_logits;   /* [n_full_pos][n_full_ids] */
    const int32_t *gen_ids;     /* [n_gen] */
    const float *gen_top1;      /* [n_gen] */
    const float *gen_margin;    /* [n_gen] */
} uelg;

/* Loads and checks a fixture (fails the test on a malformed file). */
void uelg_load(const char *path, uelg *out);
void uelg_free(uelg *f);

#endif
