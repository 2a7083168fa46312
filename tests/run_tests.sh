#!/usr/bin/env bash
# Runs every test binary in $BUILD/tests (default build/) and reports each; a test that
# cannot run here (no model, no Vulkan device) says SKIP through exit code 77.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export UE_MODEL=${UE_MODEL:-models/gemma-3-270m-q4_k_m.gguf}
export UE_UNICORN=${UE_UNICORN:-$BUILD/unicorn}
pass=0; fail=0; skip=0; failed=()
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    start=$(date +%s)
    "$t" > "$BUILD/tests/$name.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); printf 'PASS  %-32s %4ss\n' "$name" "$secs"
    elif [ $rc -eq 77 ]; then
        skip=$((skip + 1)); printf 'SKIP  %-32s %s\n' "$name" "$(tail -n 1 "$BUILD/tests/$name.log")"
    else
        fail=$((fail + 1)); failed+=("$name"); printf 'FAIL  %-32s (log: %s)\n' "$name" "$BUILD/tests/$name.log"
        tail -n 30 "$BUILD/tests/$name.log" | sed 's/^/    /'
    fi
done
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
