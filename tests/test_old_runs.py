"""Runs made by an old version keep working: resume, translate (to the same pixels), export, info.

``tests/fixtures/old_runs/`` holds one tiny run folder per family, the datasets they were
trained on and what translate made of their test inputs, all made by the code of an earlier
version (``tests/fixtures/old_runs/make.py`` says which and how). Only the ``img2img`` command
line is used here, never internal modules: the package may be rearranged at will, but these
runs must keep loading, and their generators must keep computing what they computed.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from img2img.cli import app

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "old_runs"
runner = CliRunner()

#: per family: translate inputs inside its dataset, and the options expected/ was made with
TRANSLATE = {
    "pix2pix": ("test/A", ["--no-dropout"]),
    "cyclegan": ("testA", []),
    "pix2pixhd": ("test_label", ["--instances", "{data}/test_inst"]),
}
#: at each input's own size, as the expected outputs were made (before test-time resizing)
TRANSLATE_OPTIONS = ["--batch-size", "1", "--device", "cpu", "--preprocess", "none"]
#: largest pixel difference (of 255) from expected/ allowed: rounding of another CPU or
#: library version; the untrained weights' outputs differ by 121 to 163
TOLERANCE = 2

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))


def _invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, f"img2img {' '.join(map(str, args))}:\n{result.output}"
    return result


def _info(run: Path) -> dict:
    return json.loads(_invoke("info", run, "--json").output)


def _images(folder: Path) -> dict[str, np.ndarray]:
    return {p.relative_to(folder).as_posix(): np.asarray(Image.open(p), np.int16)
            for p in sorted(folder.rglob("*.png"))}


def _assert_expected(out: Path, inputs: Path, family: str) -> None:
    """``out`` holds one output per input, of its size, with the pixels of expected/."""
    got, expected = _images(out), _images(FIXTURE / "expected" / family)
    assert sorted(got) == sorted(expected) == sorted(_images(inputs))
    for name, image in got.items():
        with Image.open(inputs / name) as source:
            assert image.shape == (source.height, source.width, 3), name
        difference = int(np.abs(image - expected[name]).max())
        assert difference <= TOLERANCE, f"{family} {name}: off by {difference}/255"


@pytest.fixture(params=sorted(TRANSLATE))
def old_run(request, tmp_path: Path):
    """(family, a copy of its run folder, a copy of its dataset): the fixture stays as it is."""
    family = request.param
    run = shutil.copytree(FIXTURE / "runs" / family, tmp_path / "runs" / family)
    data = shutil.copytree(FIXTURE / "data" / family, tmp_path / "data" / family)
    return family, run, data


def test_old_run_translates_exports_and_resumes(old_run, tmp_path: Path):
    family, run, data = old_run
    info = _info(run)
    assert (info["family"], info["step"]) == (family, 2)

    inputs, options = TRANSLATE[family]
    options = [o.format(data=data) for o in options]
    _invoke("translate", "--model", run, data / inputs, tmp_path / "out", *TRANSLATE_OPTIONS,
            *options)
    _assert_expected(tmp_path / "out", data / inputs, family)

    # a TorchScript export, and (where the onnx extra is installed) an ONNX one of pix2pixHD,
    # whose label maps and instance boundaries are encoded outside the network; the other
    # families' ONNX exports would add 4 to 10 s each for the same export code
    exported = tmp_path / "g.ts"
    _invoke("export", run, exported)
    shown = _info(exported)
    assert shown["kind"].startswith("TorchScript export") and shown["family"] == family
    if HAS_ONNX and family == "pix2pixhd":
        exported = tmp_path / "g.onnx"
        _invoke("export", run, exported)
        assert _info(exported)["kind"].startswith("ONNX export")
        _invoke("translate", "--model", exported, data / inputs, tmp_path / "onnx_out",
                *TRANSLATE_OPTIONS, *options)  # computes what the run computes
        _assert_expected(tmp_path / "onnx_out", data / inputs, family)

    # one more step from the old checkpoint, on the dataset where it is now
    latest = run / "checkpoints" / "latest.pt"
    before = latest.read_bytes()
    _invoke("train", "--resume", run, "--max-steps", "3", "--data", data,
            "--num-workers", "0")
    assert _info(run)["step"] == 3 and latest.read_bytes() != before
