#!/usr/bin/env bash
# Create (or reuse) the project virtual environment at .venv and install the
# OpenMMLab stack that mtlnas_mm runs on.
#
# Why a script: on Python 3.11 with torch 2.14 there is no mmcv 2.1.0 wheel, so
# mmcv must be compiled from its sdist with a one-line patch (-std=c++17 ->
# -std=c++20, torch 2.14 headers need C++20).  The compiled wheel is cached
# outside the repository, keyed by the torch version, so the ~17 minute build
# happens once per machine.
#
# Environment knobs (all optional):
#   VENV            venv path                      (default: <repo>/.venv)
#   MTLNAS_CACHE    wheel cache root                (default: ~/.cache/mtlnas_mm)
#   PYTHON          interpreter used to make venv   (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
CACHE_ROOT="${MTLNAS_CACHE:-$HOME/.cache/mtlnas_mm}"
WHEEL_DIR="$CACHE_ROOT/wheels/torch-$TORCH_VERSION"
STAMP="$VENV/.mtlnas_setup_done"

step() { printf '\n[setup_env] %s\n' "$*"; }
die() { printf '\n[setup_env] ERROR: %s\n' "$*" >&2; exit 1; }
trap 'die "step failed at line $LINENO (see the output above)"' ERR

# Fast path: everything is installed and the package sources did not change.
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$ROOT/setup.py" ] \
    && "$VENV/bin/python" -c 'import mmcv.ops, mmseg, mmpretrain, mtlnas_mm' 2>/dev/null; then
  step "environment at $VENV is ready (delete $STAMP to force a re-install)"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  step "creating virtual environment at $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

step "installing build tools (setuptools<81 still ships pkg_resources, which mmcv's setup.py needs)"
"${PIP[@]}" install -q 'pip>=23' 'setuptools>=77.0.3,<81' wheel ninja

if ! "$VENV/bin/python" -c "import torch, torchvision, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  step "installing torch $TORCH_VERSION and torchvision $TORCHVISION_VERSION (large download, a few minutes)"
  "${PIP[@]}" install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

if ! "$VENV/bin/python" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
  mkdir -p "$WHEEL_DIR"
  WHEEL=$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -n "$WHEEL" ]; then
    step "reusing cached mmcv wheel $WHEEL (built against torch $TORCH_VERSION)"
  else
    step "building mmcv $MMCV_VERSION with ops from source (about 17 minutes on 2 cores; done once per machine)"
    BUILD_DIR="$(mktemp -d)"
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation \
      "mmcv==$MMCV_VERSION" -d "$BUILD_DIR"
    tar -xzf "$BUILD_DIR"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD_DIR"
    SRC="$BUILD_DIR/mmcv-$MMCV_VERSION"
    grep -q -- '-std=c++17' "$SRC/setup.py" || die "mmcv setup.py has no -std=c++17 flag to patch"
    sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" FORCE_CUDA=0 \
      "${PIP[@]}" wheel --no-build-isolation --no-deps --no-cache-dir "$SRC" -w "$BUILD_DIR/dist"
    cp "$BUILD_DIR"/dist/mmcv-*.whl "$WHEEL_DIR/"
    rm -rf "$BUILD_DIR"
    WHEEL=$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)
    step "cached mmcv wheel at $WHEEL"
  fi
  "${PIP[@]}" install --no-deps --force-reinstall "$WHEEL"
fi

step "installing mmengine, mmsegmentation, mmpretrain and mtlnas_mm (editable, with test extras)"
"${PIP[@]}" install -q --no-build-isolation -e "$ROOT[tests]"

step "checking imports"
"$VENV/bin/python" - <<'PY'
import torch, torchvision, mmcv, mmcv.ops, mmengine, mmseg, mmpretrain, mtlnas_mm
print(f'torch {torch.__version__}, torchvision {torchvision.__version__}, mmcv {mmcv.__version__}, '
      f'mmengine {mmengine.__version__}, mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}, '
      f'mtlnas_mm {mtlnas_mm.__version__}')
PY
touch "$STAMP"
step "environment ready at $VENV"
