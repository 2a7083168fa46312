/* Helpers shared by the C tests: cmocka, the model path, fixture files, skipping. */
#ifndef UE_TEST_UTIL_H
#define UE_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Exit code the runner reads as "skipped". */
#define UE_TEST_SKIP_CODE 77

/* Path of the real 270M model ($UE_MODEL); exits with SKIP when the file is missing,
 * unless $UE_REQUIRE_MODEL is set (CI), where a missing model fails. */
const char *ue_test_model_path(void);
/* Reads a whole file (fixture) into a malloc'd buffer; fails the test when unreadable. */
void *ue_test_read_file(const char *path, size_t *size);
/* Path of the unicorn binary ($UE_UNICORN, default build/unicorn). */
const char *ue_test_unicorn_path(void);

#endif
