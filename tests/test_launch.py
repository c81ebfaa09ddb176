"""Starting, resuming and describing runs: checks before writing, clean-up, resume rules."""

from __future__ import annotations

import shutil

import pytest

from img2img import launch
from img2img.config import ConfigError
from img2img.engine.trainer import Trainer
from tests.conftest import tiny_pix2pix_config


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(
    gray2color, tmp_path, monkeypatch
):
    def broken(self):
        raise RuntimeError("out of memory at step 1")

    monkeypatch.setattr(Trainer, "fit", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        launch.train(tiny_pix2pix_config(gray2color, max_steps=2), tmp_path / "runs")
    assert list((tmp_path / "runs").iterdir()) == []


def test_sample_grids_come_from_the_val_split_when_there_is_one(gray2color, tmp_path):
    config = tiny_pix2pix_config(gray2color)
    assert launch.summarize(config).sample_split == "train"
    with_val = tmp_path / "data"
    shutil.copytree(gray2color, with_val)
    shutil.copytree(with_val / "test", with_val / "val")
    summary = launch.summarize(tiny_pix2pix_config(with_val))
    assert summary.sample_split == "val" and summary.dataset_size == 48


def test_resume_changes_are_checked_and_applied(gray2color):
    config = tiny_pix2pix_config(gray2color, max_steps=5)
    changed = launch.apply_resume_changes(config, {"max_steps": 9, "num_workers": 1})
    assert (changed.train.max_steps, changed.data.num_workers) == (9, 1)
    assert changed.model == config.model and changed.train.lr == config.train.lr
    with pytest.raises(ConfigError, match="--lr, --netG: cannot change when resuming"):
        launch.apply_resume_changes(config, {"lr": 0.5, "netG": "unet_256", "max_steps": 3})
