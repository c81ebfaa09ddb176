"""The command line: help, version, validation and an end-to-end train -> translate -> info."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from img2img import __version__
from img2img.cli import app

runner = CliRunner()

COMMANDS = [[], ["train"], ["train", "pix2pix"], ["translate"], ["info"], ["boundary"],
            ["evaluate"], ["report"], ["export"], ["features"], ["serve"], ["completion"]]
TINY = [
    "--netG",
    "unet_128",
    "--ngf",
    "4",
    "--ndf",
    "4",
    "--input-nc",
    "1",
    "--load-size",
    "142",
    "--crop-size",
    "128",
    "--batch-size",
    "2",
    "--num-workers",
    "0",
    "--device",
    "cpu",
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "img2img")
def test_help(command):
    for flag in ("--help", "-h"):
        result = runner.invoke(app, [*command, flag])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output
    if command and command != ["train"]:
        assert "Examples" in runner.invoke(app, [*command, "--help"]).output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"img2img {__version__}"


def test_help_does_not_import_torch():
    code = "import sys; from img2img.cli import app; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_python_dash_m():
    result = subprocess.run(
        [sys.executable, "-m", "img2img", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == f"img2img {__version__}"


def _train(data, runs, *options: str):
    """``img2img train pix2pix --data DATA --runs-dir RUNS OPTIONS``."""
    command = ["train", "pix2pix", "--data", str(data), "--runs-dir", str(runs), *options]
    return runner.invoke(app, command)


def test_unknown_choice_lists_valid_ones(gray2color, tmp_path):
    result = _train(gray2color, tmp_path, "--netG", "unet_512")
    assert result.exit_code == 2
    for name in ("unet_512", "unet_256", "resnet_9blocks"):
        assert name in result.output
    assert not any(tmp_path.iterdir())


def test_missing_dataset_fails_early(tmp_path):
    result = _train(tmp_path / "nowhere", tmp_path / "runs")
    assert result.exit_code == 2 and "nowhere" in result.output
    assert not (tmp_path / "runs").exists()


def test_dry_run_writes_nothing(gray2color, tmp_path):
    result = _train(gray2color, tmp_path / "runs", *TINY, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "parameters" in result.output and "unet_128" in result.output
    assert not (tmp_path / "runs").exists()


def test_train_translate_info(gray2color, tmp_path):
    runs = tmp_path / "runs"
    result = _train(gray2color, runs, *TINY, "--max-steps", "2", "--name", "e2e")
    assert result.exit_code == 0, result.output
    run = runs / "e2e"
    assert (run / "checkpoints" / "latest.pt").is_file() and (run / "config.json").is_file()
    # the last step writes a grid whatever the interval, and the report shows it
    assert "(1 grid)" in " ".join(result.output.split())
    assert [p.name for p in (run / "samples").glob("*.png")] == ["step_00000002.png"]
    assert "report:" in result.output and (run / "report.html").is_file()
    page = (run / "report.html").read_text("utf-8")
    assert "no sample grids yet" not in page and "step_00000002.png" in page

    out = tmp_path / "out"
    src = gray2color / "test" / "A"
    translate = ["translate", "--model", str(run), str(src), str(out), "--device", "cpu",
                 "--restore-size"]  # translated at the run's crop size, then back
    result = runner.invoke(app, [*translate, "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    inputs = sorted(src.glob("*.png"))
    outputs = sorted(out.glob("*.png"))
    assert [p.name for p in outputs] == [p.name for p in inputs]
    with Image.open(outputs[0]) as img, Image.open(inputs[0]) as src_image:
        assert img.size == src_image.size and img.mode == "RGB"

    again = runner.invoke(app, translate)
    assert again.exit_code == 0 and "kept" in again.output  # nothing overwritten without asking

    result = runner.invoke(app, ["info", str(run), "--json"])
    assert result.exit_code == 0, result.output
    details = json.loads(result.output)
    assert details["family"] == "pix2pix" and details["step"] == 2
    assert details["config"]["model"]["netG"] == "unet_128"

    resumed = runner.invoke(app, ["train", "pix2pix", "--resume", str(run), "--max-steps", "3",
                                  "--sample-every", "3", "--num-workers", "0"])
    assert resumed.exit_code == 0, resumed.output
    assert "(2 grids)" in " ".join(resumed.output.split())
    assert len(list((run / "samples").glob("*.png"))) == 2
    assert json.loads(runner.invoke(app, ["info", str(run), "--json"]).output)["step"] == 3


def test_translate_reports_failures_and_reads_ab_halves(gray2color, tmp_path):
    assert (
        _train(gray2color, tmp_path / "runs", *TINY, "--max-steps", "1", "--name", "m").exit_code
        == 0
    )
    folder = tmp_path / "ab"
    folder.mkdir()
    Image.new("L", (80, 40), 128).save(folder / "pair.png")  # A and B side by side, 40x40 each
    (folder / "broken.png").write_bytes(b"not an image")
    result = runner.invoke(
        app,
        [
            "translate",
            "--model",
            str(tmp_path / "runs" / "m"),
            "--side",
            "A",
            str(folder),
            str(tmp_path / "out"),
            "--device",
            "cpu",
            "--preprocess",
            "none",
        ],
    )
    assert result.exit_code == 1  # something failed
    assert "broken.png" in result.output and "1 written" in result.output.replace("\n", " ")
    with Image.open(tmp_path / "out" / "pair.png") as img:
        assert img.size == (40, 40)

    info = runner.invoke(app, ["info", str(tmp_path / "runs" / "m" / "checkpoints" / "latest.pt")])
    assert info.exit_code == 0 and "pix2pix" in info.output and "unet_128" in info.output
