"""Checkpoint files: atomic writes, safe loading, clear errors."""

from __future__ import annotations

import pytest
import torch

from img2img.atomic import atomic_write
from img2img.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip_loads_with_weights_only(tmp_path):
    path = save_checkpoint(
        tmp_path / "c.pt", {"family": "pix2pix", "nets": {"G": {"w": torch.ones(2)}}}
    )
    data = torch.load(path, weights_only=True)
    assert data["format"] == "img2img-checkpoint" and data["format_version"] == 1
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
