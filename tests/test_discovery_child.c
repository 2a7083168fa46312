/* Discovery probes in a child process (disc_child.c, opts->isolate_libraries): an answer
 * comes back whole; a child that exits early, is killed or hangs leaves the caller's
 * report untouched and says why; and on this machine the isolated discovery reports what
 * the in-process one does while mapping no Vulkan library into this process. */
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/discovery/disc_child.h"
#include "backend/discovery/discovery.h"
#include "test_util.h"

typedef struct answer {
    int n;
    char text[100000]; /* more than a pipe holds at once */
} answer;

static void fill(void *arg, void *out) {
    answer *a = out;
    a->n = *(const int *)arg;
    for (size_t i = 0; i < sizeof a->text; i++) a->text[i] = (char)('a' + i % 26);
}

static void quit_early(void *arg, void *out) {
    (void)arg, (void)out;
    _exit(7);
}

static void killed(void *arg, void *out) {
    (void)arg, (void)out;
    raise(SIGKILL);
}

static void hang(void *arg, void *out) {
    (void)arg, (void)out;
    for (;;) pause();
}

static void test_answer(void **state) {
    (void)state;
    answer *a = calloc(1, sizeof *a);
    assert_non_null(a);
    int n = 42;
    char why[128] = "x";
    assert_int_equal(disc_run_in_child(fill, &n, a, sizeof *a, 10000, why, sizeof why),
                     DISC_CHILD_OK);
    assert_int_equal(a->n, 42);
    assert_int_equal(a->text[0], 'a');
    assert_int_equal(a->text[sizeof a->text - 1], 'a' + (sizeof a->text - 1) % 26);
    assert_string_equal(why, "");
    free(a);
}

static void expect_failure(void (*fn)(void *, void *), int timeout_ms, const char *needle) {
    answer *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->n = -5;
    char why[128];
    assert_int_equal(disc_run_in_child(fn, NULL, a, sizeof *a, timeout_ms, why, sizeof why),
                     DISC_CHILD_FAILED);
    printf("child: %s\n", why);
    assert_non_null(strstr(why, needle));
    assert_int_equal(a->n, -5); /* untouched */
    assert_int_equal(a->text[0], 0);
    free(a);
}

static void test_exit_early(void **state) {
    (void)state;
    expect_failure(quit_early, 10000, "status 7");
}

static void test_killed(void **state) {
    (void)state;
    expect_failure(killed, 10000, "signal 9");
}

static void test_hang(void **state) {
    (void)state;
    expect_failure(hang, 300, "no answer");
}

static int visit(struct dl_phdr_info *info, size_t size, void *user) {
    (void)size;
    if (info->dlpi_name && strstr(info->dlpi_name, "libvulkan")) *(int *)user = 1;
    return 0;
}

static int vulkan_mapped(void) {
    int found = 0;
    dl_iterate_phdr(visit, &found);
    return found;
}

/* Runs first: nothing in this process has loaded Vulkan yet. */
static void test_isolated_matches_in_process(void **state) {
    (void)state;
    assert_false(vulkan_mapped());
    ue_discovery_opts iso = {.isolate_libraries = 1}, here = {0};
    ue_discovery *a = NULL, *b = NULL;
    ue_error err = {0};
    assert_int_equal(ue_discovery_run(&iso, &a, &err), UE_OK);
    assert_false(vulkan_mapped());
    assert_int_equal(ue_discovery_run(&here, &b, &err), UE_OK);
    printf("vulkan: %s, %d devices; cuda: %s; notes %d\n", ue_disc_status_str(a->vk.status),
           a->vk.n, ue_disc_status_str(a->cuda.status), a->notes.n);
    assert_memory_equal(&a->vk, &b->vk, sizeof a->vk);
    assert_memory_equal(&a->cuda, &b->cuda, sizeof a->cuda);
    assert_memory_equal(&a->npu, &b->npu, sizeof a->npu);
    assert_int_equal(a->notes.n, b->notes.n);
    assert_int_equal(a->notes.dropped, b->notes.dropped);
    for (int i = 0; i < a->notes.n; i++) assert_string_equal(a->notes.text[i], b->notes.text[i]);
    ue_discovery_destroy(a);
    ue_discovery_destroy(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isolated_matches_in_process),
        cmocka_unit_test(test_answer),
        cmocka_unit_test(test_exit_early),
        cmocka_unit_test(test_killed),
        cmocka_unit_test(test_hang),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
