"""The GPU path, where there is one (skipped, saying why, on a machine without CUDA): a tiny full-resolution run
with `precision=auto` (bf16 or fp16 autocast + channels-last on CUDA), its resume, `severstal_predict` on it, and
`severstal_bench quick=true deploy=null` on the GPU (the deployment table is onnxruntime on the CPU: the CPU bench measures it). On a GPU machine: `pytest tests/test_gpu.py -s` prints the bench table."""
import json, subprocess, sys

import pytest
import torch

from helpers import check_predict_reproduces
from helpers import check_run, experiments, run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the GPU path is tested where there is one")
ARGS = ["data.synthetic_images=20", "model.name=convnext_atto_cbam", "data.batch_size=4", "training.precision=auto",
        "training.device=cuda", "training.early_stopping.enabled=false"]


def test_gpu_run_resume_predict(tmp_path):
    out = tmp_path/"runs"
    run([*ARGS, "training.num_epochs=1", f"output_dir={out}"], tmp_path)
    (exp,) = experiments(out)
    rec = json.loads((exp/"results.json").read_text())
    assert rec["device"].startswith("cuda") and rec["precision"] in ("bf16", "fp16") and rec["channels_last"], rec
    assert rec["config"]["data"]["image_size"] is None                      # full 256x1600
    run([*ARGS, "training.num_epochs=2", f"training.resume={exp}", f"output_dir={out}"], tmp_path)
    rec = check_run(exp, 2)
    assert rec["resumed"][0]["at_epoch"] == 1
    run([f"experiment={exp}", "split=test", f"out={tmp_path/'pred.csv'}"], tmp_path, cmd=("severstal_predict",))
    check_predict_reproduces(exp, tmp_path/"pred.csv", "severstal_predict on the GPU")


def test_gpu_bench_quick(tmp_path):
    r = subprocess.run([sys.executable, "-m", "severstal_cbam.bench", "quick=true", "device=cuda", "deploy=null", f"json={tmp_path/'bench.json'}"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    print(r.stdout)
    res = json.loads((tmp_path/"bench.json").read_text())
    assert res["device"].startswith("cuda"), res.get("device")
