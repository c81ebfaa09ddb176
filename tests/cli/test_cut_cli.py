"""``img2img train cut`` and CUT models through translate, info, export, evaluate and by name."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from img2img.cli import app
from img2img.data.io import read_image
from img2img.families.cut.config import CUTConfig
from img2img.families.cut.networks import build_generator
from img2img.hub.weights import get_published
from tests.archives import make_tar

runner = CliRunner()

TINY = ["--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--num-patches", "16",
        "--load-size", "36", "--crop-size", "32", "--num-workers", "0", "--device", "cpu"]


def _words(text: str) -> str:
    return " ".join(text.split())


def _train(data, runs, *options: str):
    return runner.invoke(app, ["train", "cut", "--data", str(data), "--runs-dir", str(runs),
                               *TINY, *options])


def test_help_shows_the_cut_options_with_the_reference_names_and_examples():
    result = runner.invoke(app, ["train", "cut", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in ("--cut-mode", "--lambda-gan", "--lambda-nce", "--nce-idt", "--nce-layers",
                 "--num-patches", "--nce-t", "--flip-equivariance", "--netF", "--netF-nc",
                 "--no-antialias", "--no-antialias-up", "--normG", "--normD", "Examples"):
        assert flag in result.output, flag
    assert "cut" in runner.invoke(app, ["train", "--help"]).output


@pytest.mark.parametrize(("options", "epochs"), [
    ((), "200 + 200"), (("--cut-mode", "fastcut"), "150 + 50"),
    (("--cut-mode", "fastcut", "--n-epochs", "7"), "7 + 50")])
def test_the_mode_sets_the_epochs_unless_they_are_given(color2gray, tmp_path, options, epochs):
    result = _train(color2gray, tmp_path / "runs", "--dry-run", *options)
    assert result.exit_code == 0, result.output
    text = _words(result.output)
    n_epochs, decay = epochs.split(" + ")
    assert f"train n_epochs {n_epochs} " in text and f"train n_epochs_decay {decay} " in text
    assert "G: 31,939 parameters" in text and "D: 11,517 parameters" in text
    assert "F (the projection head) is made from the first batch: 5 MLPs of 256 units, " \
           "345,344 parameters" in text


def test_bad_nce_layers_fail_naming_the_option_before_any_folder(color2gray, tmp_path):
    result = _train(color2gray, tmp_path / "runs", "--nce-layers", "0,4,99")
    assert result.exit_code == 2
    assert "--nce-layers 0,4,99" in _words(result.output) and "99" in result.output
    assert not (tmp_path / "runs").exists()


def test_train_translate_info_export_and_evaluate(color2gray, metric_weights, tmp_path):
    runs = tmp_path / "runs"
    result = _train(color2gray, runs, "--max-steps", "2", "--name", "c", "--input-nc", "1")
    assert result.exit_code == 0, result.output
    run = runs / "c"
    info = json.loads(runner.invoke(app, ["info", str(run), "--json"]).output)
    assert info["family"] == "cut" and set(info["parameters"]) == {"G", "D", "F"}
    assert info["parameters"]["F"] > 0  # made from the first batch, saved with the run

    out = tmp_path / "out"
    result = runner.invoke(app, ["translate", "--model", str(run), str(color2gray / "testA"),
                                 str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    written = sorted(out.glob("*.png"))
    assert [p.name for p in written] == sorted(p.name for p in (color2gray / "testA").glob("*"))
    first = np.asarray(Image.open(written[0]))
    assert first.shape == (32, 32, 3)

    release = tmp_path / "c.safetensors"
    assert runner.invoke(app, ["export", str(run), str(release)]).exit_code == 0
    result = runner.invoke(app, ["translate", "--model", str(release),
                                 str(color2gray / "testA"), str(tmp_path / "released")])
    assert result.exit_code == 0, result.output
    again = np.asarray(Image.open(sorted((tmp_path / "released").glob("*.png"))[0]))
    assert np.array_equal(again, first)

    result = runner.invoke(app, ["evaluate", "--model", str(run), "--weights-dir",
                                 str(metric_weights), "--metrics", "fid,kid", "--json",
                                 "--kid-subset-size", "4", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)  # unpaired: the outputs against the test B images
    assert record["counts"] == {"pairs": 0, "real": 8, "generated": 8}
    assert np.isfinite(record["metrics"]["FID"]) and np.isfinite(record["metrics"]["KID"])


def test_a_published_cut_model_translates_by_name(mirror, color2gray, tmp_path):
    """horse2zebra_cut comes out of the published archive, is recognised as CUT's antialiased
    ResNet and translates; the archive's other generators are kept for later."""
    torch.manual_seed(0)
    generator = build_generator(CUTConfig(), init=True)
    buffer = io.BytesIO()
    torch.save(generator.state_dict(), buffer)
    members = [("checkpoints/horse2zebra_cut_pretrained/latest_net_G.pth", buffer.getvalue()),
               ("checkpoints/horse2zebra_fastcut_pretrained/latest_net_G.pth",
                buffer.getvalue())]
    mirror.publish(get_published("horse2zebra_cut"),
                   make_tar(io.BytesIO(), members, mode="w").getvalue())
    weights = tmp_path / "weights"
    out = tmp_path / "zebras"
    result = runner.invoke(app, ["translate", "--model", "horse2zebra_cut", "--weights-dir",
                                 str(weights), str(color2gray / "testA"), str(out),
                                 "--device", "cpu"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.png"))) == 8
    assert (weights / "cut" / "horse2zebra_fastcut.pth").is_file()
    image = read_image(sorted((color2gray / "testA").glob("*.png"))[0])[None] * 2 - 1
    with torch.no_grad():
        expected = ((generator.eval()(image)[0].permute(1, 2, 0) + 1) * 127.5).clamp(0, 255)
    got = np.asarray(Image.open(sorted(out.glob("*.png"))[0])).astype(np.float32)
    assert np.abs(got - expected.numpy()).max() <= 1.0


def test_cut_trains_on_the_published_cyclegan_datasets_by_name(color2gray, tmp_path, mirror,
                                                              monkeypatch):
    """``train cut --data horse2zebra`` downloads and installs the unpaired set CycleGAN
    publishes under that name; ``datasets check --family cut`` then reads it as CUT would."""
    import zipfile

    from img2img.hub.datasets import get_published as get_dataset

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for side in ("trainA", "trainB", "testA", "testB"):
            for path in sorted((color2gray / side).glob("*.png"))[:4]:
                zf.write(path, f"horse2zebra/{side}/{path.name}")
    mirror.publish(get_dataset("horse2zebra", "cyclegan"), archive.getvalue())
    monkeypatch.setenv("IMG2IMG_DATASETS", str(tmp_path / "datasets"))
    monkeypatch.chdir(tmp_path)
    result = _train("horse2zebra", tmp_path / "runs", "--dry-run", "--yes")
    assert result.exit_code == 0, result.output
    assert "horse2zebra_cut" in result.output
    assert (tmp_path / "datasets" / "horse2zebra" / "trainA").is_dir()
    result = runner.invoke(app, ["datasets", "check", "horse2zebra", "--family", "cut",
                                 "--fast"])
    assert result.exit_code == 0, result.output
    assert "trainA" in result.output
