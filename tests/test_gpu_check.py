"""The GPU check's one command (`bash tools/gpu_check.sh`, issue #41) as a dry run on the CPU: every part runs at tiny sizes
and writes its three files, so that the check cannot rot between the sessions that have a GPU. Its figures mean nothing here
and no goal is judged; on a machine with CUDA, `bash tools/gpu_check.sh` is the real check."""
import json, os, subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_dry_run_writes_its_record(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path/"out"), "SEVERSTAL_CBAM_CACHE": str(tmp_path/"cache"), "TMPDIR": str(tmp_path)}
    r = subprocess.run(["bash", str(ROOT/"tools"/"gpu_check.sh"), "device=cpu", "quick=true", "compile=false"],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((tmp_path/"out"/"gpu_check.json").read_text())
    assert [k for k, v in res.items() if isinstance(v, dict) and "error" in v] == [], res
    assert res["tests"]["ran"] and res["tests"]["skipped"] == res["tests"]["tests"] >= 2, res["tests"]   # test_gpu.py ran, and skips without CUDA
    assert {g["met"] for g in res["goals"].values()} == {None}                                          # a dry run judges nothing
    assert res["parity"][0]["max_abs_diff"] == 0.0 and res["quickstart"]["status"] == "completed"
    md = (tmp_path/"out"/"gpu_check.md").read_text()
    assert "DRY RUN" in md and "| train_img_s |" in md, md
    assert "the quickstart recipe:" in (tmp_path/"out"/"gpu_check.log").read_text()   # the log has every part's time


def test_gpu_check_refuses_cuda_without_a_gpu(tmp_path):
    import torch
    if torch.cuda.is_available(): pytest.skip("this machine has CUDA")
    r = subprocess.run(["bash", str(ROOT/"tools"/"gpu_check.sh")], capture_output=True, text=True, env={**os.environ, "OUT": str(tmp_path)}, timeout=300)
    assert r.returncode == 2 and "no CUDA device here" in r.stdout + r.stderr, r.stdout + r.stderr
