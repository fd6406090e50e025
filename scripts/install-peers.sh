#!/usr/bin/env bash
# The peers `npm run bench` compares against, at their best configuration on Debian: PyTorch from
# Debian (python3-torch, for /usr/bin/python3) with OpenBLAS. Not part of `npm run setup` or CI.
#
# Why OpenBLAS: `npm run setup` installs python3-onnx, which pulls Debian's *reference* BLAS
# (libblas3); python3-torch alone does not bring an optimized one, so the libblas.so.3 alternative
# stays on the reference implementation and PyTorch's BLAS calls run 1.2-2.3x slower (measured
# 909 vs 745 ms and 5171 vs 2278 ms per train step). libopenblas0 registers itself as the
# higher-priority alternative; this script then checks that the alternative really points at it.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
packages=(python3-torch libopenblas0)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-peers: installing ${missing[*]} with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

arch_dir="/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
blas_link="$arch_dir/libblas.so.3"
target="$(readlink -f "$blas_link" || true)"
case "$target" in
  *openblas*) ;;
  *)
    echo "install-peers: $blas_link points at ${target:-nothing}, not OpenBLAS; selecting OpenBLAS" >&2
    openblas="$(update-alternatives --list "libblas.so.3-$(basename "$arch_dir")" 2>/dev/null | grep openblas | head -n1 || true)"
    if [ -z "$openblas" ]; then echo "install-peers: no OpenBLAS alternative for libblas.so.3 found" >&2; exit 1; fi
    $sudo update-alternatives --set "libblas.so.3-$(basename "$arch_dir")" "$openblas" >/dev/null
    ;;
esac

# What the peer process actually loads (BLAS library, oneDNN, threads), as the bench records it.
/usr/bin/python3 bench/peers/torch_unet_train.py --config-only
