/* Whole-model checks shared by the model tests: run a fixture's prompt through an
 * engine and compare logits and greedy continuations with an independent reference. */
#ifndef UE_TEST_MODEL_CHECK_H
#define UE_TEST_MODEL_CHECK_H

#include "uelg.h"
#include "unicorn.h"

typedef struct model_check_stats {
    double max_abs_diff;   /* over every stored (position, id) logit */
    int n_compared;        /* logits compared */
    int argmax_checked;    /* positions whose reference margin exceeded the threshold */
    int argmax_mismatch;   /* of those, positions where our argmax differed */
    int near_tie_swaps;    /* positions under the threshold where the top-1 differed */
} model_check_stats;

/* Margin under which a reference top-1 vs top-2 is a near-tie, where a swap is allowed. */
#define MODEL_CHECK_MARGIN 0.05

/* Evaluates the prompt in one call (all logits) and compares with the fixture. */
void model_check_prompt(ue_engine *engine, const uelg *f, int n_ctx, model_check_stats *st);

/* Evaluates the prompt wanting only the last position's logits (the path of generation:
 * the last layer runs past its keys and values for that row alone, and for no row in
 * the batches before) and returns their largest |difference| from the fixture's. */
double model_check_last_logits(ue_engine *engine, const uelg *f, int n_ctx);

/* Generates n_gen greedy tokens after the prompt; identical to the fixture except where
 * the sequences part at a reference near-tie (then the rest is not compared). Returns
 * the number of tokens that matched. */
int model_check_greedy(ue_engine *engine, const uelg *f, int n_ctx);
/* The same for the first n_gen tokens only (slow devices). */
int model_check_greedy_n(ue_engine *engine, const uelg *f, int n_ctx, int n_gen);

/* Evaluates the prompt one token at a time (the decode path) and returns the largest
 * |logit difference| against the fixture's full-vocabulary positions. */
double model_check_decode_path(ue_engine *engine, const uelg *f, int n_ctx);

ue_engine *model_check_engine(const char *path, const char *device);

#endif
