#!/usr/bin/env bash
# Fetch the wheels of tools/gpu_wheels.txt for the device machine (CPython 3.12, x86-64 Linux) into .whl/ (ignored by git):
#   bash tools/fetch_gpu_wheels.sh [python-version]      # default 3.12; then carry .whl to the machine and run tools/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYV=${1:-3.12}
mkdir -p .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
PLATFORMS=""
for n in 39 35 34 31 28 27 24 17; do PLATFORMS="$PLATFORMS --platform manylinux_2_${n}_x86_64"; done
grep -v '^#' tools/gpu_wheels.txt | grep -v '^$' | while read -r req; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp $PLATFORMS \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl "$req" \
    2>/dev/null && continue
  # no wheel published (antlr4-python3-runtime 4.9.3 is an sdist): build one here, which must be pure Python to travel
  python3 -m pip wheel -q --no-deps -w .whl "$req" 2>/dev/null \
    && ls .whl | grep -qi "^$(echo "${req%%==*}" | tr '-' '_').*-py[23].*-none-any.whl$" \
    || { echo "fetch_gpu_wheels: no wheel of $req for CPython $PYV on x86-64 Linux, and none pure-Python built from source" >&2; exit 1; }
done
ls .whl | wc -l | xargs echo "fetch_gpu_wheels: wheels in .whl/:"
du -sh .whl
