/* The CPU backend: host memory, a thread pool, and kernels chosen at creation: the
 * scalar reference kernels (the oracle every other kernel is tested against) or the
 * fast kernels. */
#ifndef UE_BACKEND_CPU_BACKEND_H
#define UE_BACKEND_CPU_BACKEND_H

#include "backend/backend.h"

typedef enum ue_cpu_kernels {
    UE_CPU_KERNELS_FAST = 0,      /* best kernels for this CPU */
    UE_CPU_KERNELS_REFERENCE = 1  /* plain scalar reference code */
} ue_cpu_kernels;

/* n_threads 0: one per available core. */
ue_status ue_cpu_backend_create(int n_threads, ue_cpu_kernels kernels, ue_backend **out,
                                ue_error *err);

#endif
