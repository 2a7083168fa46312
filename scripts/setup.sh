#!/usr/bin/env bash
# From a fresh Debian 12 machine to a conversation: installs the dependencies, builds
# Unicorn, fetches the default model (Gemma 3 270M Q4_K_M), then starts `unicorn chat`
# when stdin is a terminal, or answers one prompt with `unicorn run` when it is not
# (CI, pipes). Arguments go to `unicorn run` (e.g. -p "your question").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
make -j"$(nproc)"
model=$(bash scripts/fetch_model.sh)
if [ $# -gt 0 ]; then
    exec build/unicorn run -m "$model" "$@"
fi
if [ -t 0 ]; then
    exec build/unicorn chat -m "$model"
fi
exec build/unicorn run -m "$model" -p "Explain in two sentences why the sky is blue."
