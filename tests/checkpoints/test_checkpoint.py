"""Checkpoint files: atomic writes, safe loading, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import img2img
from img2img.atomic import atomic_write
from img2img.checkpoints import (
    LATEST,
    CheckpointError,
    epoch_checkpoint_name,
    keep_copy,
    list_checkpoints,
    load_checkpoint,
    prune_step_checkpoints,
    resolve_checkpoint,
    save_checkpoint,
    step_checkpoint_name,
)
from img2img.config import ConfigError, TrainConfig


def test_round_trip_loads_with_weights_only(tmp_path):
    path = save_checkpoint(
        tmp_path / "c.pt", {"family": "pix2pix", "nets": {"G": {"w": torch.ones(2)}}}
    )
    data = torch.load(path, weights_only=True)
    assert data["format"] == "img2img-checkpoint" and data["format_version"] == 2
    assert torch.equal(load_checkpoint(path)["nets"]["G"]["w"], torch.ones(2))


def test_failed_write_keeps_previous_file(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 1})

    def explode(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, explode)
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind


def test_run_directory_without_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoints/latest.pt"):
        load_checkpoint(tmp_path)


def test_foreign_pickle_is_refused(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="not an img2img checkpoint"):
        load_checkpoint(path)
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")


def test_newer_format_is_refused(tmp_path):
    path = tmp_path / "new.pt"
    torch.save({"format": "img2img-checkpoint", "format_version": 99}, path)
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(path)


def _save_steps(directory, steps):
    for step in steps:
        save_checkpoint(directory / step_checkpoint_name(step), {"step": step})


def test_checkpoint_names_sort_by_number():
    assert step_checkpoint_name(1000) == "step_00001000.pt"
    assert epoch_checkpoint_name(5) == "epoch_0005.pt"
    assert step_checkpoint_name(99) < step_checkpoint_name(100)


def test_keep_copy_holds_the_same_checkpoint(tmp_path):
    latest = save_checkpoint(tmp_path / LATEST, {"step": 7, "nets": {"G": {"w": torch.ones(3)}}})
    kept = keep_copy(latest, step_checkpoint_name(7))
    assert kept == tmp_path / "step_00000007.pt"
    assert kept.read_bytes() == latest.read_bytes()
    save_checkpoint(latest, {"step": 8})  # the next save leaves the kept one as it was
    assert load_checkpoint(kept)["step"] == 7 and load_checkpoint(latest)["step"] == 8


def test_prune_keeps_the_newest_step_checkpoints_only(tmp_path):
    _save_steps(tmp_path, [5000, 1000, 300, 20000, 4000])
    save_checkpoint(tmp_path / LATEST, {"step": 20000})
    save_checkpoint(tmp_path / epoch_checkpoint_name(1), {"step": 10})
    (tmp_path / "notes.txt").write_text("mine")
    removed = prune_step_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in removed) == [
        "step_00000300.pt",
        "step_00001000.pt",
        "step_00004000.pt",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch_0001.pt",
        "latest.pt",
        "notes.txt",
        "step_00005000.pt",
        "step_00020000.pt",
    ]
    assert prune_step_checkpoints(tmp_path, keep=2) == []


def test_list_checkpoints(tmp_path):
    assert list_checkpoints(tmp_path / "absent") == []
    _save_steps(tmp_path, [2, 1])
    save_checkpoint(tmp_path / LATEST, {"step": 2})
    (tmp_path / "config.json").write_text("{}")
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "latest.pt",
        "step_00000001.pt",
        "step_00000002.pt",
    ]


def test_any_kept_checkpoint_file_resolves_as_itself(tmp_path):
    _save_steps(tmp_path / "checkpoints", [1])
    save_checkpoint(tmp_path / "checkpoints" / LATEST, {"step": 1})
    kept = tmp_path / "checkpoints" / "step_00000001.pt"
    assert resolve_checkpoint(kept) == kept
    assert resolve_checkpoint(tmp_path) == tmp_path / "checkpoints" / LATEST


@pytest.mark.parametrize("name", ["keep_checkpoints", "save_every_epochs"])
def test_retention_options_must_not_be_negative(name):
    assert getattr(TrainConfig(**{name: 3}), name) == 3
    assert getattr(TrainConfig(), name) == 0
    message = f"{name}: -1 is not valid; expected a finite number >= 0"
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{name: -1})


def test_the_format_imports_neither_the_engine_nor_the_families(tmp_path):
    """Inference, export and warm starts read checkpoints without the training engine (and the
    format knows no family): reading, the layout check and the restart hint import neither."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    code = (
        "import sys, img2img.checkpoints as c\n"
        "try:\n"
        f"    c.resolve_checkpoint({str(run)!r})\n"
        "except c.CheckpointError as exc:\n"
        "    assert 'stopped before its first checkpoint' in str(exc), exc\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('img2img.engine', "
        "'img2img.models')))\n"
        "sys.exit(str(bad) if bad else 0)\n"
    )
    root = str(Path(img2img.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
