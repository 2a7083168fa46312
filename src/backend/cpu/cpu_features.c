/* Run-time choice of the CPU kernel level: cpuid feature bits plus the XCR0 register-state
 * bits the OS enables (Intel SDM vol. 2, CPUID leaves 1 and 7; XGETBV), and the
 * UE_CPU_ISA override used by tests and benchmarks. Non-x86 builds run the scalar set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Whether the CPU has AVX-VNNI, the VEX-encoded VPDPBUSD (CPUID.(7,1):EAX bit 4); the
 * AVX-512 level does not imply it (Ice Lake and Cascade Lake servers lack it). */
static int has_avx_vnni(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 4) & 1);
}

/* The highest of scalar, AVX2, AVX-512 and AMX this CPU and OS run (AVX-VNNI apart). */
static cpu_isa hardware_isa(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return CPU_ISA_SCALAR;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return CPU_ISA_SCALAR;
    uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return CPU_ISA_SCALAR; /* XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return CPU_ISA_SCALAR;
    int avx2 = (b >> 5) & 1;
    if (!(avx2 && fma && f16c)) return CPU_ISA_SCALAR;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    int vnni = (c >> 11) & 1;
    int zmm_state = (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    if (!(avx512f && avx512dq && avx512bw && avx512vl && vnni && zmm_state)) return CPU_ISA_AVX2;
    /* AMX-TILE, AMX-INT8, the XTILECFG / XTILEDATA state, and Linux's permission to use it */
    int amx = (d >> 24) & 1 && (d >> 25) & 1 && (xcr0 & 0x60000) == 0x60000;
    return amx && cpu_amx_request() ? CPU_ISA_AMX : CPU_ISA_AVX512;
}
#elif defined(__aarch64__)
static cpu_isa hardware_isa(void) { return CPU_ISA_NEON; }
static int has_avx_vnni(void) { return 0; }
#else
static cpu_isa hardware_isa(void) { return CPU_ISA_SCALAR; }
static int has_avx_vnni(void) { return 0; }
#endif

int cpu_isa_supported(cpu_isa isa) {
    cpu_isa hw = hardware_isa();
    if (isa == CPU_ISA_SCALAR) return 1;
    if (isa == CPU_ISA_NEON || hw == CPU_ISA_NEON) return isa == hw;
    if (isa == CPU_ISA_AVXVNNI) return hw != CPU_ISA_SCALAR && has_avx_vnni();
    return isa <= hw;
}

cpu_isa cpu_isa_detect(void) {
    cpu_isa hw = hardware_isa();
    /* AMX only when asked: its prefill measured 0.6x, 0.78x, then 0.9x the AVX-512 VNNI
     * level's on a Sapphire Rapids host (docs/PERFORMANCE.md, runs 23-26): correct, not
     * yet fast */
    cpu_isa best = hw == CPU_ISA_AMX ? CPU_ISA_AVX512 : hw;
    if (best == CPU_ISA_AVX2 && has_avx_vnni()) best = CPU_ISA_AVXVNNI;
    const char *want = getenv("UE_CPU_ISA");
    if (want && *want) {
        cpu_isa asked = best;
        if (strcmp(want, "scalar") == 0) asked = CPU_ISA_SCALAR;
        else if (strcmp(want, "avx2") == 0) asked = CPU_ISA_AVX2;
        else if (strcmp(want, "avxvnni") == 0) asked = CPU_ISA_AVXVNNI;
        else if (strcmp(want, "avx512") == 0) asked = CPU_ISA_AVX512;
        else if (strcmp(want, "amx") == 0) asked = CPU_ISA_AMX;
        else if (strcmp(want, "neon") == 0) asked = CPU_ISA_NEON;
        if (cpu_isa_supported(asked)) best = asked;
        else if (asked != best)
            /* a benchmark's override must not pass silently for a level that did not run */
            fprintf(stderr, "UE_CPU_ISA=%s: not supported by this CPU (or OS), using the best supported level\n", want);
    }
    return best;
}

const cpu_kernel_set *cpu_kernels_get(cpu_isa isa) {
    const cpu_kernel_set *set = NULL;
    if (isa == CPU_ISA_NEON) set = cpu_kernels_neon();
    if (isa == CPU_ISA_AMX) set = cpu_kernels_amx();
    if (isa == CPU_ISA_AVXVNNI) set = cpu_kernels_avxvnni();
    if (!set && (isa == CPU_ISA_AMX || isa == CPU_ISA_AVX512)) set = cpu_kernels_avx512();
    if (!set && (isa == CPU_ISA_AMX || isa == CPU_ISA_AVX512 || isa == CPU_ISA_AVXVNNI || isa == CPU_ISA_AVX2))
        set = cpu_kernels_avx2();
    if (!set) set = cpu_kernels_scalar();
    return set;
}

size_t cpu_act_row_bytes(cpu_act act, int64_t n) {
    size_t un = (size_t)n, bytes;
    switch (act) {
    case CPU_ACT_Q8_32: bytes = un + un / 32 * 4 + un / 4 * 4 + un / 32 * 4; break;
    case CPU_ACT_Q16_32: bytes = 2 * un + un / 32 * 8; break;
    case CPU_ACT_Q16_HL:
    case CPU_ACT_Q16_HLK: bytes = cpu_hl_bytes(n) + un / 32 * 8 + un / 16 * 4; break;
    default: bytes = un * 4; break;
    }
    /* 64 spare bytes: SIMD kernels may load a full vector past the last block */
    return ((bytes + 63) & ~(size_t)63) + 64;
}
