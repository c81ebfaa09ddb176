"""datasets/demo_report.py: held-out scores against the baselines, and the contact sheet."""

from __future__ import annotations

import importlib.util
import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "datasets" / "demo_report.py"


@pytest.fixture(scope="module")
def report():
    """The script, loaded as a module (``datasets/`` is not a package)."""
    if not SCRIPT.is_file():
        pytest.skip(f"{SCRIPT} is not in this checkout")
    if "demo_report" not in sys.modules:
        spec = importlib.util.spec_from_file_location("demo_report", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["demo_report"] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules["demo_report"]


def _pair(seed: int, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A gray A and a reddish colour B of the same random scene, uint8 ``H x W x 3``."""
    rng = np.random.default_rng(seed)
    gray = rng.integers(40, 200, (size, size), dtype=np.uint8)
    colour = np.stack([gray + 50, gray, gray - 30], axis=-1).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1), colour


def _dataset(root: Path, train: int = 3, test: int = 2) -> Path:
    """Side-by-side gray | colour PNGs under ``root/{train,test}``; returns ``root``."""
    for split, count in (("train", train), ("test", test)):
        (root / split).mkdir(parents=True)
        for i in range(count):
            a, b = _pair(100 * len(split) + i)
            Image.fromarray(np.concatenate([a, b], axis=1)).save(root / split / f"x{i}.png")
    return root


def _write_outputs(root: Path, outputs: Path, shift: tuple[int, int, int]) -> None:
    """Translations of ``root/test``: the targets plus ``shift`` (0 = perfect)."""
    outputs.mkdir()
    for path in sorted((root / "test").glob("*.png")):
        target = np.asarray(Image.open(path))[:, 16:].astype(int) + np.asarray(shift)
        Image.fromarray(np.clip(target, 0, 255).astype(np.uint8)).save(outputs / path.name)


def test_l1_and_psnr(report) -> None:
    a = np.zeros((4, 4, 3), np.float32)
    b = np.full((4, 4, 3), 0.1, np.float32)
    assert report.l1_error(a, b) == pytest.approx(0.1)
    assert report.psnr(a, b) == pytest.approx(20.0)
    assert report.psnr(a, a) == math.inf


def test_a_perfect_model_beats_both_baselines(tmp_path: Path, report, capsys) -> None:
    root = _dataset(tmp_path / "data")
    _write_outputs(root, tmp_path / "out", (0, 0, 0))
    sheet = tmp_path / "sheet" / "contact.png"
    report.main(["--data", str(root), "--outputs", str(tmp_path / "out"), "--sheet", str(sheet)])
    printed = capsys.readouterr().out
    assert "PASS: the model beats the best baseline (input + mean shift)" in printed
    assert str(sheet) in printed
    assert Image.open(sheet).size[0] > 2 * 3 * 16  # two triplets of 16 px images side by side


def test_mean_shift_is_a_strong_baseline(tmp_path: Path, report) -> None:
    root = _dataset(tmp_path / "data")
    shift = report.mean_shift(root / "train")
    assert shift == pytest.approx([50 / 255, 0.0, -30 / 255], abs=1e-4)
    _write_outputs(root, tmp_path / "out", (0, 60, 0))  # worse than the shifted gray
    examples = report.load_examples(root / "test", tmp_path / "out")
    model, baselines = report.evaluate(examples, shift)
    assert baselines[1].l1 == pytest.approx(0.0, abs=1e-6)
    assert model.l1 == pytest.approx(60 / 255 / 3, abs=1e-4)
    assert report.verdict(model, baselines).startswith("FAIL")


def test_contact_sheet_layout(report) -> None:
    a, b = (x.astype(np.float32) / 255 for x in _pair(0))
    examples = [report.Example(f"x{i}", a, b, b) for i in range(5)]
    sheet = report.contact_sheet(examples, columns=2)
    cell_w = 3 * 16 + report._GAP
    rows = 3
    assert sheet.size == (
        2 * cell_w + report._GAP,
        report._LABEL_HEIGHT + rows * (16 + report._LABEL_HEIGHT) + report._GAP,
    )
    # the first triplet's output sits right of its input, the target right of the output
    x, y = report._GAP, 2 * report._LABEL_HEIGHT
    pixels = np.asarray(sheet)
    np.testing.assert_array_equal(pixels[y : y + 16, x + 16 : x + 32], np.asarray(_pair(0)[1]))
    np.testing.assert_array_equal(pixels[y : y + 16, x : x + 16], np.asarray(_pair(0)[0]))


def test_missing_or_mismatched_outputs_are_named(tmp_path: Path, report) -> None:
    root = _dataset(tmp_path / "data")
    (tmp_path / "out").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "out" / "x0.png")
    with pytest.raises(ValueError, match=r"no translation of 1 test images: \['x1'\]"):
        report.load_examples(root / "test", tmp_path / "out")
    Image.new("RGB", (8, 8)).save(tmp_path / "out" / "x1.png")
    with pytest.raises(ValueError, match=r"x1.png: 8 x 8 pixels; expected 16 x 16"):
        report.load_examples(root / "test", tmp_path / "out")


def test_the_header_says_when_where_and_how_long(tmp_path: Path, report, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(
        '{"train": {"batch_size": 4, "n_epochs": 12, "n_epochs_decay": 12, "seed": 0}}')
    (run / "metrics.jsonl").write_text('{"step": 1000}\n{"step": 1008}\n')
    lines = report.header(1_796_000_000.0, 1, run, now=1_796_000_231.4)
    assert lines[0] == "date: 2026-11-30 00:57 UTC"
    assert lines[1].startswith("cpu:  ") and lines[1].endswith(" cores, 1 thread used")
    assert lines[2] == "training: 1008 steps of 4 images, 12 + 12 epochs, seed 0"
    assert lines[3] == "wall time: 231 s (training, translation and scoring)"
    assert report.header(None, None, None)[1].endswith(" cores")
    with pytest.raises(ValueError, match=r"--started 1796000300.0: not the epoch seconds"):
        report.header(1_796_000_300.0, 1, None, now=1_796_000_231.4)
    with pytest.raises(ValueError, match=r"not a finished training run"):
        report.header(None, None, tmp_path)

    root = _dataset(tmp_path / "data")
    _write_outputs(root, tmp_path / "out", (0, 0, 0))
    report.main(["--data", str(root), "--outputs", str(tmp_path / "out"), "--sheet",
                 str(tmp_path / "sheet.png"), "--started", str(time.time() - 5), "--threads", "2"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("date: ") and printed[1].endswith("2 threads used")
    seconds = int(printed[2].removeprefix("wall time: ").split()[0])
    assert 5 <= seconds < 60 and printed[2].endswith(" s (training, translation and scoring)")
