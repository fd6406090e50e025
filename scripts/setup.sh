#!/usr/bin/env bash
# One-time setup of a fresh Debian/Ubuntu machine: system packages the tests use, then npm packages.
# The toolkit itself needs only Node.js >= 20; the tests also use python3-onnx (the official ONNX
# checker), Chromium (browser end-to-end tests) and Mesa's lavapipe (WebGPU training on the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(python3-onnx chromium)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]} with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The WebGPU provider's software Vulkan device for the WebGPU tests: Mesa's lavapipe. Bookworm's Mesa
# 22.3 does not work with Dawn; bookworm-backports' Mesa 25 does.
if [ ! -f /usr/share/vulkan/icd.d/lvp_icd.json ] && grep -q 'VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing Mesa's lavapipe (Vulkan) from bookworm-backports" >&2
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $sudo tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
fi

# .npmrc sets onnxruntime-node-install=skip: the CPU and WebGPU providers are bundled in the
# package; the CUDA provider is added separately on GPU machines (README, "CUDA").
npm ci --no-audit --no-fund
