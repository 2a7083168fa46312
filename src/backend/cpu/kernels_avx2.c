/* AVX2 + FMA + F16C kernel set (placeholder until the kernels land). */
#include "backend/cpu/cpu_kernels.h"
const cpu_kernel_set *cpu_kernels_avx2(void) { return 0; }
