"""``img2img train cyclegan`` and ``translate --direction`` from the command line."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from img2img.cli import app

runner = CliRunner()

TINY = ["--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--load-size", "36",
        "--crop-size", "32", "--num-workers", "0", "--device", "cpu", "--pool-size", "2"]


def _words(text: str) -> str:
    return " ".join(text.split())


def _train(data, runs, *options: str):
    return runner.invoke(app, ["train", "cyclegan", "--data", str(data), "--runs-dir", str(runs),
                               *TINY, *options])


def test_help_shows_the_cyclegan_options_and_examples():
    result = runner.invoke(app, ["train", "cyclegan", "--help"])
    assert result.exit_code == 0
    for flag in ("--lambda-A", "--lambda-identity", "--pool-size", "--serial-batches", "Examples"):
        assert flag in result.output
    assert "--direction" in runner.invoke(app, ["translate", "--help"]).output


def test_identity_loss_with_different_channels_fails_before_any_folder(color2gray, tmp_path):
    result = _train(color2gray, tmp_path / "runs", "--input-nc", "1")
    assert result.exit_code == 2
    assert "lambda_identity: 0.5 needs as many input as output channels" in _words(result.output)
    assert not (tmp_path / "runs").exists()


def test_dry_run_lists_the_four_networks(color2gray, tmp_path):
    result = _train(color2gray, tmp_path / "runs", "--dry-run")
    assert result.exit_code == 0, result.output
    for name in ("G_A", "G_B", "D_A", "D_B"):
        assert f"{name}:" in result.output
    assert "48 samples" in result.output and not (tmp_path / "runs").exists()


def test_train_then_translate_both_directions(color2gray, tmp_path):
    runs = tmp_path / "runs"
    result = _train(color2gray, runs, "--max-steps", "2", "--name", "cg")
    assert result.exit_code == 0, result.output
    run = runs / "cg"
    info = json.loads(runner.invoke(app, ["info", str(run), "--json"]).output)
    assert info["family"] == "cyclegan" and set(info["parameters"]) == {"G_A", "G_B", "D_A", "D_B"}

    outputs = {}
    for direction, side in (("AtoB", "testA"), ("BtoA", "testB")):
        out = tmp_path / direction
        command = ["translate", "--model", str(run), str(color2gray / side), str(out),
                   "--device", "cpu"]
        if direction == "BtoA":
            command += ["--direction", direction]
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
        assert f"direction {direction}" in _words(result.output)
        written = sorted(out.glob("*.png"))
        assert [p.name for p in written] == [p.name for p in sorted((color2gray / side).glob("*"))]
        outputs[direction] = np.asarray(Image.open(written[0]))
    assert outputs["AtoB"].shape == outputs["BtoA"].shape == (32, 32, 3)

    release = tmp_path / "cg.safetensors"  # both generators travel, so both directions work
    assert runner.invoke(app, ["export", str(run), str(release)]).exit_code == 0
    result = runner.invoke(app, ["translate", "--model", str(release), "--direction", "BtoA",
                                 str(color2gray / "testB"), str(tmp_path / "released")])
    assert result.exit_code == 0, result.output
    first = sorted((tmp_path / "released").glob("*.png"))[0]
    assert np.array_equal(np.asarray(Image.open(first)), outputs["BtoA"])

    wrong = runner.invoke(app, ["translate", "--model", str(run), str(color2gray / "testA"),
                                str(tmp_path / "x"), "--direction", "AtoC"])
    assert wrong.exit_code == 2 and "expected one of: AtoB, BtoA" in _words(wrong.output)
