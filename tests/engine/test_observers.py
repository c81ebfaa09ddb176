"""Training observers: TensorBoard events read back, the report written by train."""

from __future__ import annotations

import builtins
import json

import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from img2img.cli import app
from img2img.engine.tensorboard import check_tensorboard

runner = CliRunner()
TINY = ["--netG", "unet_128", "--ngf", "4", "--ndf", "4", "--input-nc", "1", "--load-size",
        "142", "--crop-size", "128", "--batch-size", "2", "--num-workers", "0", "--device", "cpu"]


def test_train_writes_tensorboard_events_and_the_report(gray2color, tmp_path):
    result = runner.invoke(app, ["train", "pix2pix", "--data", str(gray2color), "--runs-dir",
                                 str(tmp_path), "--name", "tb", *TINY, "--max-steps", "4",
                                 "--log-every", "1", "--sample-every", "2", "--tensorboard",
                                 "--report-every", "2"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "tb"
    records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    events = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss/G_GAN", "loss/G_L1", "loss/D_real", "loss/D_fake", "lr",
            "images_per_s"} <= set(tags["scalars"])
    for tag, key in (("loss/G_L1", "G_L1"), ("lr", "lr"), ("images_per_s", "images_per_s")):
        logged = [(e.step, e.value) for e in events.Scalars(tag)]
        assert logged == [(r["step"], pytest.approx(r[key], rel=1e-6)) for r in records]
    grids = events.Images("samples")
    assert [g.step for g in grids] == [2, 4]
    with Image.open(run / "samples" / "step_00000002.png") as grid:  # the grid written
        assert (grids[0].width, grids[0].height) == grid.size
    assert (run / "report.html").is_file()
    assert json.loads((run / "config.json").read_text())["train"]["tensorboard"] is True


def test_missing_tensorboard_is_named(monkeypatch):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == "tensorboard":
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ValueError, match=r"pip install 'img2img-gan\[tensorboard\]'"):
        check_tensorboard()
