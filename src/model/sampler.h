/* Internal view of the token sampler (public API in unicorn.h, "sampling"): the final
 * candidate distribution after penalties, top-k, temperature, top-p and min-p, so tests
 * can check the exact support and probabilities instead of only empirical draws. */
#ifndef UE_MODEL_SAMPLER_H
#define UE_MODEL_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "unicorn.h"

/* Runs every filter of ue_sampler_sample on logits [n_vocab] without drawing, writes the
 * surviving ids and their normalised probabilities (any order; each array n_vocab long)
 * and returns how many survive. Greedy samplers (temperature <= 0) report the argmax with
 * probability 1. Does not touch the random state. */
size_t ue_sampler_support(ue_sampler *sampler, const float *logits, int32_t *ids,
                          float *probs);

#endif
