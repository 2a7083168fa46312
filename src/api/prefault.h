/* Reads the weight pages of a GGUF once while an engine loads (see prefault.c). */
#ifndef UE_API_PREFAULT_H
#define UE_API_PREFAULT_H

#include "core/gguf.h"

/* Touches every page of the tensor data section in order, reporting progress in [0, 1)
 * through progress (may be NULL). Skipped when the data is larger than most of the
 * physical memory: touching it all would only evict its own first pages. */
void ue_prefault_weights(const ue_gguf *gguf, void (*progress)(float fraction, void *user),
                         void *user);

#endif
