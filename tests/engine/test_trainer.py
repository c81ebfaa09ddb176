"""The training loop: run directories, metrics, samples, checkpoints and exact resume."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from img2img.engine.checkpoint import load_checkpoint
from img2img.engine.launch import resume, summarize, train
from tests.conftest import tiny_pix2pix_config


def _nets(run_path):
    return load_checkpoint(run_path)["nets"]


def test_train_writes_run_directory(gray2color, tmp_path):
    config = tiny_pix2pix_config(gray2color, max_steps=4, log_every=2, sample_every=2)
    run, result = train(config, tmp_path / "runs")
    assert run.path == tmp_path / "runs" / "tiny"
    assert result.step == 4
    saved = json.loads(run.config.read_text())
    assert saved["family"] == "pix2pix" and saved["model"]["netG"] == "unet_128"
    lines = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 4]
    assert {"G_GAN", "G_L1", "D_real", "D_fake", "lr", "images_per_s"} <= set(lines[0])
    grids = sorted(p.name for p in run.samples.glob("*.png"))
    assert grids == ["step_00000002.png", "step_00000004.png"]
    data = torch.load(run.latest_checkpoint, weights_only=True)
    assert data["format"] == "img2img-checkpoint" and data["step"] == 4
    assert set(data["nets"]) == {"G", "D"} and set(data["optimizers"]) == {"G", "D"}
    assert {"python", "numpy", "torch"} <= set(data["rng"])


def test_run_directory_is_never_reused(gray2color, tmp_path):
    config = tiny_pix2pix_config(gray2color, max_steps=1)
    first, _ = train(config, tmp_path)
    second, _ = train(config, tmp_path)
    assert first.path.name == "tiny" and second.path.name == "tiny-1"


@pytest.mark.parametrize("split", [3, 24])  # mid-epoch, and exactly at an epoch boundary
def test_resume_continues_exactly(gray2color, tmp_path, split):
    total = 28  # 48 images, batch 2: 24 steps per epoch, so the run crosses an epoch
    straight, _ = train(tiny_pix2pix_config(gray2color, max_steps=total), tmp_path / "a")
    halves, first = train(tiny_pix2pix_config(gray2color, max_steps=split), tmp_path / "b")
    assert first.step == split
    _, second = resume(halves.path, max_steps=total)
    assert second.step == total
    expected, got = _nets(straight.path), _nets(halves.path)
    for net in expected:
        for key, value in expected[net].items():
            assert torch.equal(value, got[net][key]), f"{net}.{key} differs after resume"
    assert load_checkpoint(halves.path)["epoch"] == load_checkpoint(straight.path)["epoch"] == 1


def test_learning_rate_decays_linearly(gray2color, tmp_path):
    # 48 images / batch 24 = 2 steps per epoch; 1 constant epoch then 3 decaying ones
    config = tiny_pix2pix_config(
        gray2color, batch_size=24, n_epochs=1, n_epochs_decay=3, log_every=2
    )
    run, result = train(config, tmp_path)
    assert result.epoch == 4 and result.step == 8
    lrs = [json.loads(line)["lr"] for line in run.metrics.read_text().splitlines()]
    assert lrs == pytest.approx([2e-4, 1.5e-4, 1e-4, 0.5e-4])


def test_dry_run_summary_counts_parameters(gray2color):
    s = summarize(tiny_pix2pix_config(gray2color))
    assert s.dataset_size == 48 and s.steps_per_epoch == 24
    assert s.parameters["G"] > s.parameters["D"] > 0


def test_sample_grids_do_not_change_training(gray2color, tmp_path):
    quiet, _ = train(tiny_pix2pix_config(gray2color, max_steps=6), tmp_path / "a")
    chatty, _ = train(tiny_pix2pix_config(gray2color, max_steps=6, sample_every=1), tmp_path / "b")
    assert len(list(chatty.samples.glob("*.png"))) == 6
    expected, got = _nets(quiet.path), _nets(chatty.path)
    for net in expected:
        for key, value in expected[net].items():
            assert torch.equal(value, got[net][key]), f"{net}.{key} changed by sampling"


def test_unreadable_files_are_skipped_and_reported(gray2color, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(gray2color, data)
    broken = data / "train" / "B" / "007.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    config = tiny_pix2pix_config(data, max_steps=24)  # one whole epoch
    run, result = train(config, tmp_path / "runs", num_workers=2)  # met inside loader workers
    assert result.step == 24
    assert result.skipped_files == [str(broken)]
