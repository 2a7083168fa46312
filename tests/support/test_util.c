/* Shared test helpers: see test_util.h. */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *ue_test_model_path(void) {
    const char *path = getenv("UE_MODEL");
    if (!path || !*path) path = "models/gemma-3-270m-q4_k_m.gguf";
    if (access(path, R_OK) != 0) {
        if (getenv("UE_REQUIRE_MODEL")) {
            fprintf(stderr, "model %s is missing and UE_REQUIRE_MODEL is set\n", path);
            exit(1);
        }
        printf("no model at %s (run scripts/fetch_model.sh)\n", path);
        exit(UE_TEST_SKIP_CODE);
    }
    return path;
}

void *ue_test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || (unsigned long)n > (1ul << 40)) fail_msg("cannot size %s", path);
    void *buf = malloc((size_t)n + 1);
    if (!buf) fail_msg("out of memory reading %s", path);
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) fail_msg("short read on %s", path);
    ((char *)buf)[n] = '\0';
    fclose(f);
    *size = (size_t)n;
    return buf;
}

const char *ue_test_unicorn_path(void) {
    const char *path = getenv("UE_UNICORN");
    return (path && *path) ? path : "build/unicorn";
}
