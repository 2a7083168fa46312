#!/usr/bin/env bash
# The whole test suite: installs dependencies, fetches the default model, builds and runs
# every test, then runs them again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/fetch_model.sh > /dev/null
export UE_REQUIRE_MODEL=1
jobs=$(nproc)
make -j"$jobs" tests
make test
make SAN=1 -j"$jobs" tests
UE_SANITIZER=1 make SAN=1 test
