/* CPU backends at a chosen instruction-set level (cpu_levels.h). */
#include <stdlib.h>
#include <string.h>

#include "cpu_levels.h"
#include "test_util.h"

const char *cpu_isa_env(cpu_isa isa) {
    return isa == CPU_ISA_AMX ? "amx" : isa == CPU_ISA_AVX512 ? "avx512" : isa == CPU_ISA_AVXVNNI ? "avxvnni"
           : isa == CPU_ISA_AVX2 ? "avx2"
           : isa == CPU_ISA_NEON ? "neon" : "scalar";
}

ue_backend *cpu_backend_at(cpu_isa isa, int threads, int int8) {
    setenv("UE_CPU_ISA", cpu_isa_env(isa), 1);
    if (int8) setenv("UE_CPU_MATMUL", "int8", 1);
    ue_backend *be = NULL;
    ue_error err;
    assert_int_equal(ue_cpu_backend_create(threads, UE_CPU_KERNELS_FAST, &be, &err), UE_OK);
    unsetenv("UE_CPU_ISA");
    unsetenv("UE_CPU_MATMUL");
    assert_non_null(strstr(be->description, cpu_kernels_get(isa)->name));
    assert_int_equal(strstr(be->description, "int8") != NULL, int8);
    return be;
}
