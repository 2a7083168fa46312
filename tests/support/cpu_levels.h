/* CPU backends at a chosen instruction-set level for the kernel tests (UE_CPU_ISA and
 * UE_CPU_MATMUL are set only while the backend is created). */
#ifndef UE_TEST_CPU_LEVELS_H
#define UE_TEST_CPU_LEVELS_H

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"

/* The UE_CPU_ISA value of a level ("avx512"). */
const char *cpu_isa_env(cpu_isa isa);
/* A fast-kernel backend of `threads` threads at level isa (int8: UE_CPU_MATMUL=int8);
 * fails the test unless its description names that level's kernel set. */
ue_backend *cpu_backend_at(cpu_isa isa, int threads, int int8);

#endif
