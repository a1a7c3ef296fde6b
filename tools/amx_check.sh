#!/usr/bin/env bash
# Why the quickstart did not learn on AMX CPUs (CI at stop 50, torch 2.14.1: test macro ROC AUC 0.547): one command on a
# machine whose /proc/cpuinfo has amx_bf16 settles it.
#   bash tools/amx_check.sh             # about 4 minutes on a 2-core CPU with AMX: two 4-epoch quickstarts side by side
#   bash tools/amx_check.sh seed=1      # further key=value overrides go to both runs
# Runs `severstal_train --config-name quickstart training.num_epochs=4` twice, one thread each, with
# training.keep_cpu_memory=true and =false (the depthwise kernel gradient checks itself in both; its verdicts are DEBUG
# lines of train.log), then prints per run: CPU kind, precision, status, test macro ROC AUC, validation AUC per epoch,
# the depthwise verdicts. How to read it:
#   true fails, false learns        -> the kept memory: keep `auto` off on AMX (run notebook 13b_run says why)
#   a depthwise line says disagrees -> that kernel; the self-check then used PyTorch's gradient there
#   both learn                      -> on this machine neither hurts: `auto` may turn kept memory on for AMX
#   both fail, no disagreement      -> something else: compare training.precision=fp32
# Runs go to $OUT when set, else amx_check_<date>/ here.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${OUT:-amx_check_$(date +%Y%m%d_%H%M%S)}")
mkdir -p "$out"
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
for keep in true false; do
  severstal_train --config-name quickstart training.num_epochs=4 training.keep_cpu_memory=$keep hydra.verbose=severstal_cbam \
    output_dir="$out/keep_$keep" "$@" > "$out/keep_$keep.log" 2>&1 &
done
wait
python3 - "$out" <<'EOF'
import json, sys
from pathlib import Path
from severstal_cbam.callbacks import cpu_bf16_kind
out = Path(sys.argv[1])
print(f"CPU: {cpu_bf16_kind()}")
for keep in ("true", "false"):
    recs = sorted((out/f"keep_{keep}").glob("experiment_*/results.json"))
    if not recs: print(f"keep_cpu_memory={keep}: no run record; see {out}/keep_{keep}.log"); continue
    r = json.loads(recs[-1].read_text())
    log = (recs[-1].parent/"train.log").read_text().splitlines()
    dw = [l.split(": ", 1)[-1] for l in log if "depthwise kernel gradient" in l]
    auc = r.get("test", {}).get("tuned", {}).get("macro", {}).get("roc_auc")
    print(f"keep_cpu_memory={keep}: precision {r['precision']}, status {r['status']}, test macro ROC AUC "
          f"{'n/a' if auc is None else f'{auc:.3f}'}, validation AUC by epoch {[round(h['auc_macro'], 3) for h in r['history']]}")
    for l in dw: print(f"  {l}")
EOF
