"""The bad-input matrix, through the public entry points: `read_labels`, `validate_dataset`, `severstal_train` and
`severstal_predict`. Every case gives one clear message naming the file, row or key; the commands print it without a
Python traceback and exit non-zero; `data.on_bad_images=skip` trains on the rest and lists what it left out."""
import json, shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from severstal_cbam.core import SeverstalError
from severstal_cbam.labels import read_labels, validate_dataset
from severstal_cbam.train import load_config, train
from severstal_cbam.synthetic import make_synthetic_severstal
from helpers import experiments, run

FAST = ["data.image_size=[64,400]", "model.name=convnext_atto_cbam", "data.batch_size=4", "training.num_epochs=1",
        "training.early_stopping.enabled=false"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return make_synthetic_severstal(tmp_path_factory.mktemp("clean")/"data", n_images=24, seed=3)


def _csv(d): return pd.read_csv(d/"train.csv", dtype=str, keep_default_na=False)
def _first_defect(d): return _csv(d).iloc[0]
def _set_csv(d, df): df.to_csv(d/"train.csv", index=False)

def _set_cell(col, value, row=0):
    def f(d):
        df = _csv(d); df.loc[row, col] = value; _set_csv(d, df)
    return f

def _image(d, i=0): return d/"train_images"/sorted(p.name for p in (d/"train_images").iterdir())[i]

def _png_as_jpg(d):
    p = _image(d); Image.open(p).save(p, format="PNG")

def _truncate(d):
    p = _image(d); p.write_bytes(p.read_bytes()[:500])

def _resize(d):
    p = _image(d); Image.open(p).resize((1599, 256)).save(p)

def _missing(d):
    df = _csv(d); _image(d, 0)  # noqa
    name = df.ImageId.iloc[0]; (d/"train_images"/name).unlink()

def _duplicate(d):
    df = _csv(d); _set_csv(d, pd.concat([df, df.iloc[[0]]]))

# case: (mutation, what read_labels raises or None, what validate_dataset reports (problem, text) or None, severstal_train stderr)
CASES = {
    "csv missing": (lambda d: (d/"train.csv").unlink(), "Labels file not found", None, "Labels file not found"),
    "csv empty": (lambda d: (d/"train.csv").write_text(""), "Labels file is empty", None, "Labels file is empty"),
    "wrong columns": (lambda d: (d/"train.csv").write_text("image,label\na.jpg,1\n"), "unknown labels format, columns ['image', 'label']",
                      None, "unknown labels format"),
    "unknown format (tab-separated)": (lambda d: (d/"train.csv").write_text("ImageId\tClassId\tEncodedPixels\na.jpg\t1\t1 2\n"),
                                       "unknown labels format", None, "unknown labels format"),
    "class id 0": (_set_cell("ClassId", "0"), "class id '0' on line 2", None, "class id '0' on line 2"),
    "class id 5": (_set_cell("ClassId", "5", 1), "class id '5' on line 3", None, "class id '5' on line 3"),
    "class id x": (_set_cell("ClassId", "x"), "class id 'x' on line 2", None, "class id 'x' on line 2"),
    "rle odd count": (_set_cell("EncodedPixels", "1 2 3"), None, ("bad_codes", "train.csv line 2"), "odd number of values"),
    "rle not a number": (_set_cell("EncodedPixels", "1 two"), None, ("bad_codes", "train.csv line 2"), "non-integer value 'two'"),
    "rle start 0": (_set_cell("EncodedPixels", "0 5"), None, ("bad_codes", "train.csv line 2"), "starts are counted from 1"),
    "rle length 0": (_set_cell("EncodedPixels", "1 0"), None, ("bad_codes", "train.csv line 2"), "lengths must be positive"),
    "rle unsorted": (_set_cell("EncodedPixels", "100 5 10 5"), None, ("bad_codes", "train.csv line 2"), "RLE runs are unsorted"),
    "rle overlapping": (_set_cell("EncodedPixels", "10 20 15 5"), None, ("bad_codes", "train.csv line 2"), "RLE runs overlap"),
    "rle past the image": (_set_cell("EncodedPixels", "409590 20"), None, ("bad_codes", "train.csv line 2"), "past the image's 409600 pixels"),
    "duplicate rows": (_duplicate, "duplicate (ImageId, ClassId) rows", None, "duplicate (ImageId, ClassId) rows"),
    "listed but missing": (_missing, None, ("missing_images", "listed in the CSV but not on disk"), "missing images (1)"),
    "zero-byte jpeg": (lambda d: _image(d).write_bytes(b""), None, ("unreadable_images", "cannot decode"), "unreadable images (1)"),
    "truncated jpeg": (_truncate, None, ("unreadable_images", "cannot decode"), "unreadable images (1)"),
    "png named .jpg": (_png_as_jpg, None, ("wrong_format", "a PNG file named .jpg"), "wrong format (1)"),
    "wrong size 256x1599": (_resize, None, ("wrong_size", "256x1599 (HxW), expected 256x1600"), "wrong size (1)"),
}


# One case per stage that can stop a run goes through the command itself (a process each: ~12 s of imports); the
# others call `train`, which the command runs and whose error it prints as the one line checked above.
COMMAND_CASES = {"csv missing", "rle odd count", "truncated jpeg"}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, clean, tmp_path):
    mutate, labels_err, report, train_err = CASES[case]
    d = tmp_path/"data"
    shutil.copytree(clean, d)
    mutate(d)
    if labels_err:
        with pytest.raises((ValueError, FileNotFoundError), match=None) as e: read_labels(d/"train.csv", d/"train_images")
        assert labels_err in str(e.value) and "train.csv" in str(e.value), str(e.value)
        with pytest.raises((ValueError, FileNotFoundError)) as e: validate_dataset(d)
        assert labels_err in str(e.value)
    else:
        read_labels(d/"train.csv", d/"train_images")
        rep = validate_dataset(d)
        problem, text = report
        items = getattr(rep, problem)
        assert len(items) == 1 and not rep.ok, str(rep)
        assert text in " ".join(items[0]), str(rep)
    args = [f"data.path={d}", *FAST, f"output_dir={tmp_path/'out'}"]
    if case in COMMAND_CASES:                                               # the command: one message, exit 2
        r = run(args, tmp_path, check=False)
        assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
        assert train_err in r.stderr and "Traceback" not in r.stderr, r.stderr[-3000:]
        assert r.stderr.count("\n") < 40, r.stderr                          # a message, not a dump
    else:                                                                   # the same `train` the command calls, in this process
        with pytest.raises((SeverstalError, FileNotFoundError)) as e: train(load_config(args))
        assert train_err in str(e.value), str(e.value)
    assert not (tmp_path/"out").exists() or not experiments(tmp_path/"out")   # a run that never started leaves no folder


def test_data_path_that_does_not_exist(tmp_path):
    r = run([f"data.path={tmp_path/'nowhere'}", *FAST, f"output_dir={tmp_path/'out'}"], tmp_path, check=False)
    assert r.returncode == 2 and "data.path: folder not found" in r.stderr and str(tmp_path/"nowhere") in r.stderr
    assert "Traceback" not in r.stderr


def test_usable_oddities_train_and_bad_images_are_skipped(clean, tmp_path):
    """Grayscale JPEGs and non-ASCII file names are fine; with data.on_bad_images=skip, missing, unreadable and
    wrong-sized images are left out and listed, and the rest trains. severstal_predict then reports such files by name."""
    d = tmp_path/"data"
    shutil.copytree(clean, d)
    df = _csv(d)
    names = sorted(p.name for p in (d/"train_images").iterdir())
    Image.open(d/"train_images"/names[1]).convert("L").save(d/"train_images"/names[1])           # grayscale
    new = "Stahl_Übergang_β.jpg"                                                                  # non-ASCII name
    (d/"train_images"/names[2]).rename(d/"train_images"/new)
    df.loc[df.ImageId == names[2], "ImageId"] = new
    _set_csv(d, df)
    (d/"train_images"/names[3]).write_bytes(b"")                                                   # zero-byte
    Image.open(d/"train_images"/names[4]).resize((1599, 256)).save(d/"train_images"/names[4])    # wrong size
    r = run([f"data.path={d}", *FAST, "data.on_bad_images=skip", f"output_dir={tmp_path/'out'}"], tmp_path, check=False)
    assert r.returncode == 2 and "would leave out 2 of 24 images, more than data.max_skipped=0.05" in r.stderr, r.stderr  # 8% of a tiny set
    r = run([f"data.path={d}", *FAST, "data.on_bad_images=skip", "data.max_skipped=0.1", f"output_dir={tmp_path/'out'}"], tmp_path)
    assert "2 image(s) left out" in r.stderr
    (exp,) = experiments(tmp_path/"out")
    res = json.loads((exp/"results.json").read_text())
    assert res["status"] == "completed"
    assert sorted(s["image"] for s in res["data"]["skipped_images"]) == sorted([names[3], names[4]])
    assert res["data"]["images"] == 24 - 2
    assert new in set(pd.read_csv(exp/"split.csv").ImageId)

    # severstal_predict on the same folder: the two bad files reported, the others (grayscale, non-ASCII) predicted
    r = run([f"experiment={exp}", f"images={d/'train_images'}", f"out={tmp_path/'p.csv'}"], tmp_path, cmd=("severstal_predict",))
    got = pd.read_csv(tmp_path/"p.csv", keep_default_na=False)
    assert sorted(got[got.error != ""].ImageId) == sorted([names[3], names[4]])
    assert f"{names[3]}: cannot decode" in r.stderr and f"{names[4]}: 256x1599" in r.stderr
    assert got.set_index("ImageId").loc[new, "error"] == "" and got.set_index("ImageId").loc[names[1], "error"] == ""
    r = run([f"experiment={exp}", f"images={tmp_path/'nope'}"], tmp_path, cmd=("severstal_predict",), check=False)
    assert r.returncode == 2 and "no such file or folder" in r.stderr and "Traceback" not in r.stderr
