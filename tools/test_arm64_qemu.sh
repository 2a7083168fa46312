#!/usr/bin/env bash
# Runs tests/test_cpu_kernels.c built for arm64 under qemu-user, so the NEON kernel set is
# checked against the scalar oracle on an x86-64 machine. Needs the Debian packages
# gcc-aarch64-linux-gnu and qemu-user (exit 77 = skipped when they are missing). cmocka is
# not cross-installed: the build uses a minimal stand-in header written to a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    echo "skip: needs aarch64-linux-gnu-gcc and qemu-aarch64 (apt-get install gcc-aarch64-linux-gnu qemu-user)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/cmocka.h" <<'EOF'
/* The few cmocka entry points tests/test_cpu_kernels.c uses; failures exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct CMUnitTest { const char *name; void (*fn)(void **); };
#define cmocka_unit_test(f) { #f, f }
#define fail() do { fprintf(stderr, "FAIL %s:%d\n", __FILE__, __LINE__); exit(1); } while (0)
#define assert_true(c) do { if (!(c)) { fprintf(stderr, "FAIL %s at %s:%d\n", #c, __FILE__, __LINE__); exit(1); } } while (0)
#define assert_int_equal(a, b) assert_true((long long)(a) == (long long)(b))
#define assert_non_null(p) assert_true((p) != NULL)
#define assert_memory_equal(a, b, n) assert_true(memcmp((a), (b), (n)) == 0)
static inline int run_all(const struct CMUnitTest *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        printf("[ RUN  ] %s\n", t[i].name);
        fflush(stdout);
        t[i].fn(NULL);
        printf("[  OK  ] %s\n", t[i].name);
    }
    return 0;
}
#define cmocka_run_group_tests(t, a, b) run_all(t, sizeof(t) / sizeof((t)[0]))
EOF
aarch64-linux-gnu-gcc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -O2 -static \
    -Iinclude -Isrc -Itests/support -I"$tmp" \
    src/backend/cpu/*.c $(ls src/backend/*.c 2>/dev/null) src/core/threadpool.c src/core/types.c src/core/quant_k.c \
    src/core/quant_legacy.c src/core/error.c tests/test_cpu_kernels.c \
    -o "$tmp/test_cpu_kernels" -lm -lpthread
qemu-aarch64 "$tmp/test_cpu_kernels"
echo "arm64 (qemu): test_cpu_kernels passed"
