/* ue_discovery_pick: which device `--device auto` chooses and why, for reports made by
 * hand (a discrete + an integrated GPU + lavapipe, an NPU, a CUDA GPU) and for builds with
 * and without a Vulkan backend; asked-for devices that are absent, not runnable or
 * misspelled give an error that lists what the machine has. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/discovery/discovery.h"
#include "test_util.h"

static ue_discovery *machine(int with_gpus, int with_lavapipe) {
    ue_discovery *d = calloc(1, sizeof *d);
    assert_non_null(d);
    d->live = 1;
    snprintf(d->cpu.model, sizeof d->cpu.model, "AMD Ryzen AI 9 HX 370");
    d->cpu.n_logical = 24, d->cpu.n_allowed = 24;
    d->vk.status = UE_DISC_OK;
    if (with_gpus) {
        ue_vk_device_info *i = &d->vk.dev[d->vk.n];
        i->index = d->vk.n++, i->type = UE_VK_INTEGRATED;
        snprintf(i->name, sizeof i->name, "AMD Radeon 890M (RADV GFX1150)");
        ue_vk_device_info *g = &d->vk.dev[d->vk.n];
        g->index = d->vk.n++, g->type = UE_VK_DISCRETE;
        snprintf(g->name, sizeof g->name, "NVIDIA GeForce RTX 4070 Laptop GPU");
        d->cuda.status = UE_DISC_OK;
        d->cuda.n = 1;
        snprintf(d->cuda.dev[0].name, sizeof d->cuda.dev[0].name, "NVIDIA GeForce RTX 4070 Laptop GPU");
        d->npu.n = 1;
        snprintf(d->npu.dev[0].name, sizeof d->npu.dev[0].name, "Strix Point");
    }
    if (with_lavapipe) {
        ue_vk_device_info *l = &d->vk.dev[d->vk.n];
        l->index = d->vk.n++, l->type = UE_VK_CPU;
        snprintf(l->name, sizeof l->name, "llvmpipe (LLVM 15.0.6, 256 bits)");
    }
    return d;
}

static void test_auto_without_gpu_backend(void **state) {
    (void)state;
    ue_discovery *d = machine(1, 1);
    ue_device_choice c;
    ue_error err = {0};
    assert_int_equal(ue_discovery_pick(d, "auto", UE_BUILT_CPU, &c, &err), UE_OK);
    assert_string_equal(c.device, "cpu");
    assert_int_equal(c.kind, UE_DEVICE_CPU);
    printf("%s\n", c.reason);
    assert_non_null(strstr(c.reason, "AMD Ryzen AI 9 HX 370, 24 threads"));
    assert_non_null(strstr(c.reason, "NVIDIA GeForce RTX 4070 Laptop GPU (Vulkan) was found but "
                                      "the Vulkan backend is not built yet"));
    assert_non_null(strstr(c.reason, "Strix Point NPU has no execution yet"));
    /* NULL and "" mean auto too. */
    assert_int_equal(ue_discovery_pick(d, NULL, UE_BUILT_CPU, &c, &err), UE_OK);
    assert_string_equal(c.device, "cpu");
    assert_int_equal(ue_discovery_pick(d, "", UE_BUILT_CPU, &c, &err), UE_OK);
    assert_string_equal(c.device, "cpu");
    free(d);
}

static void test_auto_with_vulkan_backend(void **state) {
    (void)state;
    ue_discovery *d = machine(1, 1);
    ue_device_choice c;
    ue_error err = {0};
    unsigned built = UE_BUILT_CPU | UE_BUILT_VULKAN;
    assert_int_equal(ue_discovery_pick(d, "auto", built, &c, &err), UE_OK);
    assert_string_equal(c.device, "vulkan1"); /* the discrete GPU beats the integrated one */
    assert_int_equal(c.kind, UE_DEVICE_VULKAN);
    assert_int_equal(c.index, 1);
    assert_non_null(strstr(c.reason, "discrete GPU"));
    assert_int_equal(ue_discovery_pick(d, "vulkan0", built, &c, &err), UE_OK);
    assert_string_equal(c.device, "vulkan0");
    assert_int_equal(ue_discovery_pick(d, "gpu", built, &c, &err), UE_OK);
    assert_string_equal(c.device, "vulkan1");
    free(d);

    /* Only lavapipe: auto stays on the CPU backend, "vulkan" may still ask for it. */
    d = machine(0, 1);
    assert_int_equal(ue_discovery_pick(d, "auto", built, &c, &err), UE_OK);
    assert_string_equal(c.device, "cpu");
    assert_non_null(strstr(c.reason, "no Vulkan GPU found"));
    assert_int_equal(ue_discovery_pick(d, "vulkan", built, &c, &err), UE_OK);
    assert_string_equal(c.device, "vulkan0");
    assert_int_equal(ue_discovery_pick(d, "gpu", built, &c, &err), UE_ERR_ARGUMENT);
    assert_non_null(strstr(err.msg, "no Vulkan GPU found"));
    free(d);
}

static void test_cpu_always_available(void **state) {
    (void)state;
    ue_discovery *d = machine(0, 0);
    ue_device_choice c;
    ue_error err = {0};
    assert_int_equal(ue_discovery_pick(d, "cpu", UE_BUILT_CPU, &c, &err), UE_OK);
    assert_string_equal(c.device, "cpu");
    assert_non_null(strstr(c.reason, "asked for"));
    assert_int_equal(ue_discovery_pick(d, "cpu-ref", UE_BUILT_CPU, &c, &err), UE_OK);
    assert_string_equal(c.device, "cpu-ref");
    assert_int_equal(c.kind, UE_DEVICE_CPU_REF);
    free(d);
}

static void test_absent_or_unusable_device(void **state) {
    (void)state;
    ue_discovery *d = machine(1, 1);
    ue_device_choice c;
    ue_error err = {0};
    assert_int_equal(ue_discovery_pick(d, "vulkan7", UE_BUILT_CPU, &c, &err), UE_ERR_ARGUMENT);
    printf("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "device 'vulkan7' does not exist (3 Vulkan devices found)"));
    assert_non_null(strstr(err.msg, "cpu (AMD Ryzen AI 9 HX 370), cpu-ref, vulkan0 (AMD Radeon "
                                    "890M (RADV GFX1150)) [no backend yet]"));
    assert_non_null(strstr(err.msg, "npu0 (AMD Strix Point NPU) [discovery only]"));
    assert_non_null(strstr(err.msg, "cuda0 (NVIDIA GeForce RTX 4070 Laptop GPU) [no backend]"));

    assert_int_equal(ue_discovery_pick(d, "npu", UE_BUILT_CPU, &c, &err), UE_ERR_UNSUPPORTED);
    printf("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "'npu' (Strix Point) is here but Unicorn cannot run on it: "
                                    "detected; no NPU execution yet (discovery only)"));
    assert_int_equal(ue_discovery_pick(d, "cuda0", UE_BUILT_CPU, &c, &err), UE_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "detected; no CUDA backend"));
    assert_int_equal(ue_discovery_pick(d, "vulkan1", UE_BUILT_CPU, &c, &err), UE_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "the Vulkan backend is not built yet"));

    static const char *bad[] = {"tpu", "vulkanx", "npu-1", "cuda12345", "gpu0", "CPU"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ue_discovery_pick(d, bad[i], UE_BUILT_CPU, &c, &err), UE_ERR_ARGUMENT);
        assert_non_null(strstr(err.msg, "is not a device name; this machine has: cpu ("));
    }
    free(d);

    d = machine(0, 0);
    assert_int_equal(ue_discovery_pick(d, "npu", UE_BUILT_CPU | UE_BUILT_NPU, &c, &err),
                     UE_ERR_ARGUMENT);
    assert_non_null(strstr(err.msg, "device 'npu' does not exist (0 NPU devices found); "
                                    "this machine has: cpu (AMD Ryzen AI 9 HX 370), cpu-ref"));
    free(d);
}

static void test_today_lines(void **state) {
    (void)state;
    assert_string_equal(ue_discovery_today(UE_DEVICE_CPU, UE_BUILT_CPU), "runs the model");
    assert_string_equal(ue_discovery_today(UE_DEVICE_VULKAN, UE_BUILT_CPU),
                        "detected; the Vulkan backend is not built yet");
    assert_string_equal(ue_discovery_today(UE_DEVICE_NPU, UE_BUILT_CPU),
                        "detected; no NPU execution yet (discovery only)");
    assert_string_equal(ue_discovery_today(UE_DEVICE_CUDA, UE_BUILT_CPU), "detected; no CUDA backend");
    assert_string_equal(ue_discovery_today(UE_DEVICE_VULKAN, UE_BUILT_VULKAN), "runs the model");
#ifdef UE_HAVE_VULKAN_BACKEND
    assert_int_equal(UE_BUILT_BACKENDS, UE_BUILT_CPU | UE_BUILT_VULKAN);
#else
    assert_int_equal(UE_BUILT_BACKENDS, UE_BUILT_CPU);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_without_gpu_backend),
        cmocka_unit_test(test_auto_with_vulkan_backend),
        cmocka_unit_test(test_cpu_always_available),
        cmocka_unit_test(test_absent_or_unusable_device),
        cmocka_unit_test(test_today_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
