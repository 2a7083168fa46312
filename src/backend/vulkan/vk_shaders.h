/* The SPIR-V of every shader variant, embedded at build time: the Makefile compiles
 * shaders/<op>.comp with glslc and embed_spirv.sh writes the table (build/gen/vk_spirv.c). */
#ifndef UE_BACKEND_VULKAN_SHADERS_H
#define UE_BACKEND_VULKAN_SHADERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ue_vk_spirv {
    const char *name;       /* "mul_mv_q4_k", "rms_norm", ... */
    const uint32_t *code;
    size_t size;            /* bytes */
} ue_vk_spirv;

extern const ue_vk_spirv ue_vk_spirv_table[];
extern const size_t ue_vk_spirv_count;

#endif
