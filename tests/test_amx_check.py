"""The AMX check's one command (`bash tools/amx_check.sh`: why the quickstart did not learn on AMX CPUs) as a dry run on
any CPU, shrunk to 40 images at 64x400: both runs finish, and the summary names the CPU kind, each run's precision, status
and curve, and the depthwise check's verdicts. Its figures mean nothing at this size; on an AMX CPU, the command without
overrides is the real check (13b_run says how to read it). What the runs find -- a diverged run, a depthwise shape that
disagrees -- is not judged here: on an AMX CPU it is the answer the check exists for."""
import os, subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_amx_check_dry_run_summarises_both_runs(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path/"out"), "SEVERSTAL_CBAM_CACHE": str(tmp_path/"cache")}
    r = subprocess.run(["bash", str(ROOT/"tools"/"amx_check.sh"), "data.synthetic_images=40", "data.image_size=[64,400]", "data.batch_size=4"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    from severstal_cbam.callbacks import cpu_bf16_kind
    lines = r.stdout.splitlines()
    assert lines[0] == f"CPU: {cpu_bf16_kind()}", lines
    for keep in ("true", "false"):
        (line,) = [l for l in lines if l.startswith(f"keep_cpu_memory={keep}:")]
        assert "precision " in line and " status " in line and "validation AUC by epoch [" in line, line   # the outcome is a finding, not judged
    assert sum("depthwise kernel gradient checked for" in l for l in lines) >= 8, lines   # four stages, in both runs
