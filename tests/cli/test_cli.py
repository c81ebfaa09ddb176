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

COMMANDS = [[], ["train"], ["train", "pix2pix"], ["translate"], ["info"]]
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


def test_unknown_choice_lists_valid_ones(gray2color, tmp_path):
    result = runner.invoke(
        app,
        [
            "train",
            "pix2pix",
            "--data",
            str(gray2color),
            "--netG",
            "unet_512",
            "--runs-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert (
        "unet_512" in result.output
        and "unet_256" in result.output
        and "resnet_9blocks" in result.output
    )
    assert not any(tmp_path.iterdir())


def test_missing_dataset_fails_early(tmp_path):
    result = runner.invoke(
        app,
        [
            "train",
            "pix2pix",
            "--data",
            str(tmp_path / "nowhere"),
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
    )
    assert result.exit_code == 2 and "nowhere" in result.output
    assert not (tmp_path / "runs").exists()


def test_dry_run_writes_nothing(gray2color, tmp_path):
    result = runner.invoke(
        app,
        [
            "train",
            "pix2pix",
            "--data",
            str(gray2color),
            *TINY,
            "--dry-run",
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "parameters" in result.output and "unet_128" in result.output
    assert not (tmp_path / "runs").exists()


def test_train_translate_info(gray2color, tmp_path):
    runs = tmp_path / "runs"
    result = runner.invoke(
        app,
        [
            "train",
            "pix2pix",
            "--data",
            str(gray2color),
            *TINY,
            "--max-steps",
            "2",
            "--runs-dir",
            str(runs),
            "--name",
            "e2e",
        ],
    )
    assert result.exit_code == 0, result.output
    run = runs / "e2e"
    assert (run / "checkpoints" / "latest.pt").is_file() and (run / "config.json").is_file()

    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "translate",
            "--model",
            str(run),
            str(gray2color / "test" / "A"),
            str(out),
            "--device",
            "cpu",
            "--batch-size",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    inputs = sorted((gray2color / "test" / "A").glob("*.png"))
    outputs = sorted(out.glob("*.png"))
    assert [p.name for p in outputs] == [p.name for p in inputs]
    with Image.open(outputs[0]) as img, Image.open(inputs[0]) as src:
        assert img.size == src.size and img.mode == "RGB"

    again = runner.invoke(
        app,
        [
            "translate",
            "--model",
            str(run),
            str(gray2color / "test" / "A"),
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert again.exit_code == 0 and "kept" in again.output  # nothing overwritten without asking

    result = runner.invoke(app, ["info", str(run), "--json"])
    assert result.exit_code == 0, result.output
    details = json.loads(result.output)
    assert details["family"] == "pix2pix" and details["step"] == 2
    assert details["config"]["model"]["netG"] == "unet_128"

    resumed = runner.invoke(
        app, ["train", "pix2pix", "--resume", str(run), "--max-steps", "3", "--num-workers", "0"]
    )
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(runner.invoke(app, ["info", str(run), "--json"]).output)["step"] == 3
