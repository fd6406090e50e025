#!/usr/bin/env bash
# Run the GPU check from the offline kit (scripts/gpu/make-kit.sh) on a Linux x64 machine with an
# NVIDIA GPU, PyTorch's CUDA 13 libraries and no Node.js. From the repository root, once
# artifacts/gpu-kit/MANIFEST and every part-NN are there:
#
#   OUT=/some/dir bash scripts/gpu/gpu-check.sh            # CUDA vs CPU, timings, PyTorch side by side
#   bash scripts/gpu/gpu-check.sh --cpu-only               # dry run without a GPU (small sizes)
#   bash scripts/gpu/gpu-check.sh --repo                   # no kit: this checkout's node_modules
#
# Steps, each failing loudly: verify the parts (sha256), reassemble and unpack the kit (skipped when
# the same archive is already unpacked), check the kit's node runs, find the CUDA 13 / cuDNN 9
# libraries in PyTorch's site-packages (nvidia/*/lib) and put them on LD_LIBRARY_PATH, check the CUDA
# provider resolves all its libraries, run gpu-check.mjs. Results: $OUT/gpu-check.json,
# $OUT/gpu-check.md and $OUT/gpu-check.log (plus gpu-check-setup.log, nvidia-smi.txt, libraries.txt,
# python-packages.txt on a GPU); a table on stdout.
#
# Options: --cpu-only   no GPU, no CUDA libraries, PyTorch on the CPU if it is there; small sizes
#          --full       with --cpu-only: the full sizes (slow on a CPU)
#          --repo       no kit: Node.js >= 20 on PATH, npm ci done, onnxruntime-node's CUDA provider
#                       installed (docs/gpu.md); runs scripts/gpu/gpu-check.ts with tsx
#          --phases P   comma-separated subset of smoke,parity,train,torch,convgrad,mc,parity-tf32
#          --kit DIR    where MANIFEST and the parts are (default artifacts/gpu-kit)
#          --work DIR   where the kit is unpacked (default <kit>/work)
#          --unpack-only  stop after unpacking and the library checks
#          --fallback-provider  use artifacts/gpu-kit/fallback-provider.xz (transferred separately)
#                       instead of the kit's pruned CUDA provider; --no-fallback-provider goes back
# Environment: OUT (default <kit>/out), GPU_CHECK_PYTHON (the python with torch; default: the first
# of python3, python, /usr/bin/python3 that imports torch), CUDA_LIB_DIRS (extra library folders,
# colon-separated), GPU_CHECK_* (sizes and step counts, see docs/gpu.md).
set -uo pipefail

die() { printf '\ngpu-check.sh: ERROR: %s\n' "$*" >&2; exit 1; }
say() { printf 'gpu-check.sh: %s\n' "$*" >&2; }
# unxz FILE: decompress an .xz file to stdout (xz, else python3's lzma).
unxz() {
  if command -v xz >/dev/null; then xz -dc -T0 "$1"
  elif command -v python3 >/dev/null; then python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer, 1 << 20)' "$1"
  else echo "neither xz nor python3 is available to decompress $1" >&2; return 1; fi
}

CPU_ONLY=0; FULL=0; PHASES=""; KIT_DIR=artifacts/gpu-kit; WORK=""; UNPACK_ONLY=0; FALLBACK=""; REPO=0
while [ $# -gt 0 ]; do
  case $1 in
    --cpu-only) CPU_ONLY=1 ;;
    --full) FULL=1 ;;
    --phases) PHASES=${2:?--phases needs a value}; shift ;;
    --kit) KIT_DIR=${2:?--kit needs a value}; shift ;;
    --work) WORK=${2:?--work needs a value}; shift ;;
    --unpack-only) UNPACK_ONLY=1 ;;
    --repo) REPO=1 ;;
    --fallback-provider) FALLBACK=1 ;;
    --no-fallback-provider) FALLBACK=0 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done
WORK=${WORK:-$KIT_DIR/work}
OUT=${OUT:-$KIT_DIR/out}
T0=$(date +%s)
mkdir -p "$OUT" 2>/dev/null && [ -w "$OUT" ] || die "the output folder OUT=$OUT cannot be created or written"
# Everything this script says also goes to $OUT/gpu-check-setup.log (the check's own log: gpu-check.log).
exec 2> >(tee "$OUT/gpu-check-setup.log" >&2)

# ---- 1. the kit: parts, unpacking, provider; 2. its node -------------------------------------------
prepare_kit() {
  MANIFEST=$KIT_DIR/MANIFEST
  [ -f "$MANIFEST" ] || die "$MANIFEST is missing: transfer it with the parts (carry artifacts/gpu-kit/MANIFEST), or build the kit with scripts/gpu/make-kit.sh"
  ARCHIVE_SHA=""; ARCHIVE_BYTES=""; PARTS=(); PART_SHAS=(); FALLBACK_SHA=""
  while read -r kind name sha bytes; do
    case $kind in
      archive) ARCHIVE_SHA=$sha; ARCHIVE_BYTES=$bytes ;;
      part) PARTS+=("$name"); PART_SHAS+=("$sha") ;;
      fallback) FALLBACK_SHA=$sha ;;
    esac
  done < <(grep -v '^#' "$MANIFEST")
  [ -n "$ARCHIVE_SHA" ] && [ ${#PARTS[@]} -gt 0 ] || die "$MANIFEST has no archive or part lines: rebuild it with scripts/gpu/make-kit.sh"

  mkdir -p "$WORK" || die "cannot create the work folder $WORK"
  STAMP=$WORK/kit/.archive-sha256
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$ARCHIVE_SHA" ] && [ -x "$WORK/kit/bin/node" ]; then
    say "kit ${ARCHIVE_SHA:0:12} already unpacked in $WORK/kit"
  else
    missing=()
    for p in "${PARTS[@]}"; do [ -f "$KIT_DIR/$p" ] || missing+=("$KIT_DIR/$p"); done
    [ ${#missing[@]} -eq 0 ] || die "missing part(s): ${missing[*]} (of ${#PARTS[@]}: ${PARTS[*]}); transfer them (carry artifacts/gpu-kit/<part>) and run again"
    for i in "${!PARTS[@]}"; do
      got=$(sha256sum "$KIT_DIR/${PARTS[$i]}" | cut -d' ' -f1)
      [ "$got" = "${PART_SHAS[$i]}" ] || die "${PARTS[$i]}: sha256 $got, MANIFEST says ${PART_SHAS[$i]} (a part from another build or a broken transfer: transfer it again)"
    done
    say "parts verified (${#PARTS[@]}); reassembling and unpacking into $WORK/kit"
    rm -rf "$WORK/kit" "$WORK/unpack" "$WORK/kit.tar.xz"
    mkdir -p "$WORK/unpack"
    for p in "${PARTS[@]}"; do cat "$KIT_DIR/$p"; done >"$WORK/kit.tar.xz" || die "cannot write $WORK/kit.tar.xz (disk full?)"
    got=$(sha256sum "$WORK/kit.tar.xz" | cut -d' ' -f1)
    [ "$got" = "$ARCHIVE_SHA" ] || die "the reassembled archive has sha256 $got, MANIFEST says $ARCHIVE_SHA"
    unxz "$WORK/kit.tar.xz" | tar -xf - -C "$WORK/unpack" || die "unpacking $WORK/kit.tar.xz failed (xz and tar)"
    [ -x "$WORK/unpack/kit/bin/node" ] || die "the archive has no kit/bin/node"
    mv "$WORK/unpack/kit" "$WORK/kit" && rmdir "$WORK/unpack"
    rm -f "$WORK/kit.tar.xz"
    echo "$ARCHIVE_SHA" >"$STAMP"
    say "unpacked ($(du -sh "$WORK/kit" | cut -f1))"
  fi
  KIT=$WORK/kit
  NODE=$KIT/bin/node
  BIN=$KIT/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
  PROVIDER=$BIN/libonnxruntime_providers_cuda.so

  # The CUDA provider: the kit's (pruned to sm_90 without LLM kernels) or, with --fallback-provider,
  # fallback-provider.xz (every sm_90 kernel). The choice sticks until the other flag is given.
  if [ "$FALLBACK" = 1 ]; then
    [ -n "$FALLBACK_SHA" ] || die "--fallback-provider: $MANIFEST has no fallback line (build with KIT_FALLBACK=1)"
    [ -f "$KIT_DIR/fallback-provider.xz" ] || die "--fallback-provider: $KIT_DIR/fallback-provider.xz is missing (carry artifacts/gpu-kit/fallback-provider.xz)"
    if [ "$(cat "$KIT/.provider" 2>/dev/null)" != "$FALLBACK_SHA" ]; then
      got=$(sha256sum "$KIT_DIR/fallback-provider.xz" | cut -d' ' -f1)
      [ "$got" = "$FALLBACK_SHA" ] || die "fallback-provider.xz: sha256 $got, MANIFEST says $FALLBACK_SHA"
      [ -f "$PROVIDER.kit" ] || cp "$PROVIDER" "$PROVIDER.kit"
      unxz "$KIT_DIR/fallback-provider.xz" >"$PROVIDER.tmp" && mv "$PROVIDER.tmp" "$PROVIDER" || die "unpacking fallback-provider.xz failed"
      echo "$FALLBACK_SHA" >"$KIT/.provider"
    fi
  elif [ "$FALLBACK" = 0 ] && [ -f "$PROVIDER.kit" ]; then
    mv "$PROVIDER.kit" "$PROVIDER" && rm -f "$KIT/.provider"
  fi
  if [ -f "$KIT/.provider" ]; then say "CUDA provider: the fallback (all sm_90 kernels)"; else say "CUDA provider: the kit's ($(grep -o '"prune": "[^"]*"' "$KIT/KIT.json" | cut -d'"' -f4) pruning)"; fi

  # node
  NODE_VERSION=$("$NODE" --version 2>&1) || die "the kit's node does not run here: $NODE_VERSION (it needs Linux x64 with glibc >= 2.28: ldd --version)"
  say "node $NODE_VERSION, kit $(grep -o '"commit": "[^"]*"' "$KIT/KIT.json" | cut -d'"' -f4)"
  RUN=("$NODE" "$KIT/gpu-check.mjs")
  NEEDED=(libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9)
  WHAT="the kit's CUDA provider (onnxruntime 1.29, CUDA 13, cuDNN 9)"
}

if [ "$REPO" = 0 ]; then
  prepare_kit
else
  # --repo: this checkout's node_modules.
  command -v node >/dev/null || die "--repo needs Node.js >= 20 on PATH (or use the offline kit: docs/gpu.md)"
  [ -x node_modules/.bin/tsx ] || die "--repo: node_modules/.bin/tsx is missing: run npm ci first"
  PROVIDER=node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so
  if [ "$CPU_ONLY" = 0 ] && [ ! -f "$PROVIDER" ]; then
    die "--repo: $PROVIDER is missing: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js (docs/gpu.md)"
  fi
  say "node $(node --version), onnxruntime-node $(node -p 'require("onnxruntime-node/package.json").version') from node_modules"
  RUN=(node_modules/.bin/tsx scripts/gpu/gpu-check.ts)
  NEEDED=(libcudnn.so.9) # the rest: whatever ldd says the provider needs
  WHAT="onnxruntime-node's CUDA provider"
fi

# ---- 3. python with torch -----------------------------------------------------------------------
PY=""
for cand in ${GPU_CHECK_PYTHON:-} python3 python /usr/bin/python3; do
  command -v "$cand" >/dev/null 2>&1 || continue
  if "$cand" -c 'import torch' >/dev/null 2>&1; then PY=$cand; break; fi
done
if [ -n "$PY" ]; then
  say "PyTorch: $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null) ($PY)"
  export GPU_CHECK_PYTHON=$PY
else
  say "no python with torch found (set GPU_CHECK_PYTHON): the PyTorch comparison is skipped"
  export GPU_CHECK_TORCH=0
fi

# ---- 4. CUDA libraries --------------------------------------------------------------------------
if [ "$CPU_ONLY" = 0 ]; then
  command -v nvidia-smi >/dev/null || die "nvidia-smi not found: no NVIDIA driver on this machine (use --cpu-only for a dry run)"
  GPU=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1) || die "nvidia-smi failed: $GPU"
  say "GPU: $GPU"
  nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
  [ -n "$PY" ] && "$PY" -m pip list 2>/dev/null | grep -i -E '^(nvidia|torch)' >"$OUT/python-packages.txt"
  DIRS=()
  if [ -n "$PY" ] || command -v python3 >/dev/null; then
    # site-packages of that python (and torch's own folder): every nvidia/*/lib folder with libraries.
    while IFS= read -r d; do [ -n "$d" ] && DIRS+=("$d"); done < <("${PY:-python3}" - <<'EOF'
import glob, os, site, sys
roots = []
try:
    roots += site.getsitepackages()
except Exception:
    pass
try:
    roots.append(site.getusersitepackages())
except Exception:
    pass
roots += [p for p in sys.path if p.endswith(('site-packages', 'dist-packages'))]
torch_lib = None
try:
    import torch
    roots.append(os.path.dirname(os.path.dirname(torch.__file__)))
    torch_lib = os.path.join(os.path.dirname(torch.__file__), 'lib')
except Exception:
    pass
seen = []
for r in dict.fromkeys(os.path.realpath(x) for x in roots):
    for pattern in ('nvidia/*/lib', 'nvidia/*/lib64', 'nvidia/*/*/lib'):
        for d in sorted(glob.glob(os.path.join(r, pattern))):
            if d not in seen and glob.glob(os.path.join(d, '*.so*')):
                seen.append(d)
if torch_lib and os.path.isdir(torch_lib):
    seen.append(torch_lib)  # last: only for what the nvidia packages do not have
print('\n'.join(seen))
EOF
)
  fi
  if [ -n "${CUDA_LIB_DIRS:-}" ]; then IFS=: read -ra extra <<<"$CUDA_LIB_DIRS"; DIRS=("${extra[@]}" "${DIRS[@]}"); fi
  [ ${#DIRS[@]} -gt 0 ] || die "no nvidia/*/lib folders found in the site-packages of ${PY:-python3}: is PyTorch with CUDA installed (pip install torch)? Or set CUDA_LIB_DIRS"
  LIBPATH=$(IFS=:; echo "${DIRS[*]}")
  export LD_LIBRARY_PATH="$LIBPATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  say "library folders (${#DIRS[@]}): ${DIRS[*]}"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >"$OUT/libraries.txt"
  problems=()
  for lib in "${NEEDED[@]}"; do
    found=""
    for d in "${DIRS[@]}"; do [ -e "$d/$lib" ] && { found=$d; break; }; done
    [ -z "$found" ] && ldconfig -p 2>/dev/null | grep -q " $lib " && found="(system)"
    if [ -z "$found" ]; then
      others=$(for d in "${DIRS[@]}"; do ls "$d" 2>/dev/null | grep -E "^${lib%%.so*}\.so\.[0-9]+$"; done | sort -u | tr '\n' ' ')
      problems+=("$lib not found${others:+ (found: $others)}")
    fi
  done
  if [ ${#problems[@]} -gt 0 ]; then
    die "$WHAT needs libraries that are not here:
  $(IFS=";"; echo "${problems[*]}" | sed "s/;/; /g")
A PyTorch built for CUDA 12 has libcudart.so.12 and cannot serve it; point CUDA_LIB_DIRS at CUDA 13 libraries."
  fi
  if command -v ldd >/dev/null; then
    unresolved=$(ldd "$PROVIDER" 2>&1 | grep 'not found')
    [ -z "$unresolved" ] || die "libonnxruntime_providers_cuda.so does not resolve: $unresolved"
  fi
  ldd "$PROVIDER" >>"$OUT/libraries.txt" 2>&1
  say "CUDA provider resolves: $(ldd "$PROVIDER" 2>/dev/null | awk '/=> \// && /libcud|libcublas|libcurand/ {print $3}' | tr '\n' ' ')"
  export CUDA_MODULE_LOADING=${CUDA_MODULE_LOADING:-LAZY}
fi
[ "$UNPACK_ONLY" = 1 ] && { say "unpack-only: done in $(($(date +%s) - T0)) s"; exit 0; }

# ---- 5. run -------------------------------------------------------------------------------------
ARGS=(--out "$OUT")
if [ "$CPU_ONLY" = 1 ]; then ARGS+=(--ep cpu); [ "$FULL" = 1 ] || ARGS+=(--quick); else ARGS+=(--ep cuda); fi
[ -n "$PHASES" ] && ARGS+=(--phases "$PHASES")
say "running: ${RUN[*]} ${ARGS[*]}"
"${RUN[@]}" "${ARGS[@]}" 2> >(tee "$OUT/gpu-check.log" >&2)
rc=$?
sleep 0.2 # let tee finish
say "finished in $(($(date +%s) - T0)) s (exit $rc); results in $OUT/gpu-check.json, gpu-check.md, gpu-check.log"
[ $rc -eq 0 ] || die "the check reported problems (exit $rc): see above and $OUT/gpu-check.log"
