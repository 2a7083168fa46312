/* The Vulkan compute backend (issue 5): every op of backend.h as GLSL compute shaders
 * (shaders/, SPIR-V embedded at build time), recorded into one command buffer that is
 * submitted at sync(). libvulkan.so.1 is loaded at run time, so a binary built with this
 * backend still runs where Vulkan is missing. Built only when the Makefile finds the
 * Vulkan headers and glslc (it then defines UE_HAVE_VULKAN_BACKEND). */
#ifndef UE_BACKEND_VULKAN_BACKEND_H
#define UE_BACKEND_VULKAN_BACKEND_H

#include "backend/backend.h"

/* Creates the backend on physical device `index` (vkEnumeratePhysicalDevices order;
 * discovery's ue_vk_device_info.index). Env UE_VK_PROFILE=1 times every dispatch with
 * timestamp queries and prints a table per op on destroy. */
ue_status ue_vk_backend_create(int index, ue_backend **out, ue_error *err);

/* Bytes of device memory the backend holds now (buffers and its own scratch). */
size_t ue_vk_backend_memory(const ue_backend *be);

#endif
