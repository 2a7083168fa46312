/* Vulkan backend: whether the device can run mul_mmc.comp (VK_KHR_cooperative_matrix with
 * 16x16x16 f16 x f16 + f32 subgroup matrices, f16 arithmetic, the Vulkan memory model,
 * subgroups of 32), and the features to switch on at device creation. The extension's
 * types are declared here: Debian 12's headers (1.3.239) predate it. UE_VK_NO_COOPMAT=1
 * turns the path off. */
#ifdef UE_HAVE_VULKAN_BACKEND
#include <stdlib.h>
#include <string.h>

#include "backend/vulkan/vk_internal.h"

/* VK_KHR_cooperative_matrix (registry extension 507) */
#define STYPE_COOPMAT_PROPERTIES ((VkStructureType)1000506001)
enum { COMPONENT_F16 = 0, COMPONENT_F32 = 1, SCOPE_SUBGROUP = 3 };
typedef struct coopmat_props {
    VkStructureType sType;
    void *pNext;
    uint32_t MSize, NSize, KSize;
    int32_t AType, BType, CType, ResultType;
    VkBool32 saturatingAccumulation;
    int32_t scope;
} coopmat_props;
typedef VkResult (*pfn_coopmat_props)(VkPhysicalDevice, uint32_t *, coopmat_props *);

int vk_coopmat_probe(vk_backend *vk) {
    if (getenv("UE_VK_NO_COOPMAT") || vk->subgroup_size != 32 ||
        !vk_has_extension(vk, "VK_KHR_cooperative_matrix"))
        return 0;
    pfn_coopmat_props get = (pfn_coopmat_props)vk->f.vkGetInstanceProcAddr(
        vk->instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
    uint32_t n = 0;
    if (!get || get(vk->pdev, &n, NULL) != VK_SUCCESS || !n) return 0;
    coopmat_props *p = calloc(n, sizeof *p);
    if (!p) return 0;
    for (uint32_t i = 0; i < n; i++) p[i].sType = STYPE_COOPMAT_PROPERTIES;
    int shape = 0;
    if (get(vk->pdev, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !shape; i++)
            shape = p[i].MSize == 16 && p[i].NSize == 16 && p[i].KSize == 16 &&
                    p[i].AType == COMPONENT_F16 && p[i].BType == COMPONENT_F16 &&
                    p[i].CType == COMPONENT_F32 && p[i].ResultType == COMPONENT_F32 &&
                    p[i].scope == SCOPE_SUBGROUP;
    free(p);
    if (!shape) return 0;
    vk_coopmat_features cmf = {.sType = VK_COOPMAT_FEATURES_STYPE};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .pNext = &cmf};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
    vk->f.vkGetPhysicalDeviceFeatures2(vk->pdev, &f2);
    return cmf.cooperativeMatrix && f12.shaderFloat16 && f12.vulkanMemoryModel;
}

#else
typedef int ue_vk_coopmat_not_built;
#endif
