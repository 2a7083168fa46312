#!/usr/bin/env bash
# From a fresh Debian 12 machine to an answer: installs the dependencies, builds
# Unicorn, fetches the default model (Gemma 3 270M Q4_K_M) and answers a prompt with it.
# Extra arguments are passed to `unicorn run` (e.g. -p "your question").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
make -j"$(nproc)"
model=$(bash scripts/fetch_model.sh)
if [ $# -eq 0 ]; then
    set -- -p "Explain in two sentences why the sky is blue."
fi
exec build/unicorn run -m "$model" "$@"
