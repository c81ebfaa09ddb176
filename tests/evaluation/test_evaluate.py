"""``img2img evaluate``: a run on its test split, two folders, missing weights, the record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from img2img.cli import app
from img2img.data.io import read_image
from img2img.data.transforms import resize_bicubic
from img2img.evaluation.weights import inception_weights
from img2img.families.loading import load_inference_model
from img2img.infer.plan import plan_outputs
from img2img.infer.resizing import run_resizing
from img2img.infer.translate import translate_files

runner = CliRunner()


def _evaluate(*args: str):
    return runner.invoke(app, ["evaluate", *args, "--device", "cpu"])


def test_run_on_its_test_split(trained_run, metric_weights, tmp_path):
    result = _evaluate("--model", str(trained_run), "--weights-dir", str(metric_weights),
                       "--limit", "3", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record == json.loads((trained_run / "eval" / "test.json").read_text())
    assert set(record["metrics"]) == {"L1", "PSNR", "SSIM", "LPIPS", "FID", "KID", "KID_std"}
    assert record["counts"] == {"pairs": 3, "real": 3, "generated": 3}
    distribution = record["protocol"]["distribution"]
    assert distribution["library"].startswith("torchmetrics ") and "torch-fidelity" in \
        distribution["library"]
    assert distribution["weights"].endswith(inception_weights().name)
    assert "antialiasing" in distribution["resize"] and distribution["kid_subset_size"] == 3
    assert record["protocol"]["paired"]["LPIPS"]["weights"].endswith("alexnet-owt-7be5be79.pth")
    assert record["model"]["step"] == 4 and "paper" in record["model"]["test_mode"]

    # the outputs are exactly what 'translate' writes for the same files
    outputs = sorted((trained_run / "eval" / "test").glob("*.png"))
    assert [p.name for p in outputs] == ["000.png", "001.png", "002.png"]
    inputs = trained_run.parent / "reference"
    jobs = plan_outputs(_data(trained_run) / "test" / "A", inputs)[:3]
    model = load_inference_model(trained_run)  # at the run's own test size, as translate does
    translate_files(model, jobs, resizing=run_resizing(model.config))
    for output, job in zip(outputs, jobs, strict=True):
        assert np.array_equal(np.asarray(Image.open(output)), np.asarray(Image.open(job.dst)))

    # the mean of the per-image values, each as scikit-image computes it on the files (the
    # 64 px targets resized bicubic to the outputs' 128 px, as the run's training data was)
    from skimage.metrics import peak_signal_noise_ratio

    def target(name: str) -> np.ndarray:
        image = read_image(_data(trained_run) / "test" / "B" / name, channels=3)
        return resize_bicubic(image, (128, 128)).double().numpy()

    psnrs = [peak_signal_noise_ratio(target(p.name),
                                     read_image(p, channels=3).double().numpy(), data_range=1.0)
             for p in outputs]
    assert record["metrics"]["PSNR"] == pytest.approx(np.mean(psnrs), abs=1e-6)


def _data(run: Path) -> Path:
    return Path(json.loads((run / "config.json").read_text())["data"]["root"])


def test_offline_computes_what_it_can_and_names_each_missing_file_once(
        trained_run, empty_hub, offline, tmp_path):
    out = tmp_path / "eval"
    result = _evaluate("--model", str(trained_run), "--out", str(out), "--limit", "2")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for name in ("alexnet-owt-7be5be79.pth", inception_weights().name):
        assert text.count(f"{name} (") == 1, text  # named once, with the reason
    assert "LPIPS left out" in text and "FID, KID left out" in text
    assert "could not be downloaded" in text and "cannot connect" in text
    record = json.loads((out / "test.json").read_text())
    assert set(record["metrics"]) == {"L1", "PSNR", "SSIM"}
    assert set(record["skipped"]) == {"LPIPS", "FID", "KID"}
    assert len(list((out / "test").iterdir())) == 2


def test_skip_missing_downloads_nothing_and_says_so_once(trained_run, empty_hub, mirror,
                                                         tmp_path):
    out = tmp_path / "eval"
    result = _evaluate("--model", str(trained_run), "--out", str(out), "--skip-missing",
                       "--limit", "2")
    assert result.exit_code == 0, result.output
    assert mirror.requests == []  # nothing asked of the network
    text = " ".join(result.output.split())
    assert text.count("alexnet-owt-7be5be79.pth (") == 1
    assert text.count(f"{inception_weights().name} (") == 1
    assert "not downloaded: --skip-missing" in text and "pass --skip-missing" not in text
    assert "L1" in text and "SSIM" in text


def test_two_folders_paired_by_stem(tmp_path):
    real, fake = tmp_path / "real", tmp_path / "fake"
    (real / "sub").mkdir(parents=True)
    (fake / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a", "sub/b"):
        pixels = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(real / f"{name}.jpg", quality=95)
        Image.fromarray(255 - pixels).save(fake / f"{name}.png")
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(fake / "extra.png")  # no partner
    result = _evaluate(str(real), str(fake), "--metrics", "l1,psnr", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert [r["key"] for r in record["per_image"]] == ["a", "sub/b"]
    assert record["unpaired"] == {"real": 0, "generated": 1}
    expected = np.mean([np.abs(np.asarray(Image.open(real / f"{n}.jpg"), float) -
                               np.asarray(Image.open(fake / f"{n}.png"), float)).mean() / 255
                        for n in ("a", "sub/b")])
    assert record["metrics"]["L1"] == pytest.approx(expected, rel=1e-6)  # float32 decoding
    shown = _evaluate(str(real), str(fake), "--metrics", "l1,psnr").output
    assert "2 pairs scored" in shown and "sets:" not in shown  # no FID/KID: no sets


def test_bad_arguments_are_named(trained_run, tmp_path):
    for args, words in [
        ((), "either --model"),
        ((str(tmp_path),), "two: REAL_DIR FAKE_DIR"),
        (("--model", str(trained_run), "--metrics", "l1,fidd"), "'fidd' is not valid"),
        (("--model", str(tmp_path / "nope")), "nope"),
    ]:
        result = _evaluate(*args)
        assert result.exit_code == 2 and words in " ".join(result.output.split()), result.output
