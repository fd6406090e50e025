#!/usr/bin/env bash
# One-time setup of a fresh Debian/Ubuntu machine: system packages the tests use, then npm packages.
# The toolkit itself needs only Node.js >= 20; python3-onnx is the official ONNX checker, used by
# the tests only.
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

# .npmrc sets onnxruntime-node-install=skip: the CPU and WebGPU providers are bundled in the
# package; the CUDA provider is added separately on GPU machines (README, "CUDA").
npm ci --no-audit --no-fund
