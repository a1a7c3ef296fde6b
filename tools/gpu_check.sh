#!/usr/bin/env bash
# The GPU path, run and measured (issue #41), in one command on a machine with CUDA:
#   bash tools/gpu_check.sh                       # about 5 minutes on one H200
#   bash tools/gpu_check.sh device=cpu quick=true # the dry run: every part at tiny sizes on a CPU (tests/test_gpu_check.py)
# Writes gpu_check.json, gpu_check.md and gpu_check.log to $OUT when set, else to gpu_check_<date>/ here.
# A machine without fastai, albumentations, Hydra or iterative-stratification (the device machine) gets them from .whl/:
# run `bash tools/fetch_gpu_wheels.sh` where pip can download, and bring .whl/ along. Other keys: python -m severstal_cbam.gpu_check --help
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu_check_$(date +%Y%m%d_%H%M%S)}
mkdir -p "$out"
if ! python3 -c "import fastai, albumentations, hydra, iterstrat" 2>/dev/null; then
  if ! compgen -G ".whl/*.whl" >/dev/null; then
    echo "gpu_check: this Python lacks fastai/albumentations/hydra/iterstrat and .whl/ holds no wheels: run bash tools/fetch_gpu_wheels.sh" >&2; exit 2
  fi
  site=${TMPDIR:-/tmp}/severstal_gpu_site
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl || exit 2
  export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python3 -m severstal_cbam.gpu_check out="$out" "$@" 2>&1 | tee "$out/gpu_check.log"
