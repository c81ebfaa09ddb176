"""``describe``: what a checkpoint or run directory holds, without building networks."""

from __future__ import annotations

import json

import pytest
import torch

from img2img.checkpoints import CheckpointError, keep_copy, save_checkpoint
from img2img.engine.inspect import describe, run_checkpoints

CONFIG = {"family": "pix2pix", "name": "t", "model": {"netG": "unet_128", "ngf": 8}, "data": {}}


def _payload(step: int, epoch: int) -> dict:
    nets = {"G": {"w": torch.zeros(3, 4), "bn.running_mean": torch.zeros(4)}}
    return {"family": "pix2pix", "config": CONFIG, "step": step, "epoch": epoch, "nets": nets}


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(CONFIG))
    return run


def test_run_directory_lists_its_checkpoints(run_dir):
    folder = run_dir / "checkpoints"
    for step, epoch in ((1000, 4), (2000, 8)):
        keep_copy(
            save_checkpoint(folder / "latest.pt", _payload(step, epoch)), f"step_{step:08d}.pt"
        )
    keep_copy(folder / "latest.pt", "epoch_0008.pt")
    (folder / "broken.pt").write_bytes(b"not a checkpoint")
    details = describe(run_dir)
    assert details["source"] == str(folder / "latest.pt") and details["step"] == 2000
    assert details["parameters"] == {"G": 12}
    listed = details["checkpoints"]
    assert [(c["name"], c["step"], c["epoch"]) for c in listed] == [
        ("step_00001000.pt", 1000, 4),
        ("epoch_0008.pt", 2000, 8),
        ("latest.pt", 2000, 8),
        ("step_00002000.pt", 2000, 8),
        ("broken.pt", None, None),
    ]
    assert "broken.pt" in listed[-1]["error"]


def test_run_directory_without_checkpoints_yet(run_dir):
    details = describe(run_dir)
    assert details["step"] == 0 and details["checkpoints"] == []
    assert details["architecture"] == "netG unet_128, ngf 8"


def test_checkpoint_file_is_described_alone(run_dir):
    path = save_checkpoint(run_dir / "checkpoints" / "step_00000005.pt", _payload(5, 0))
    details = describe(path)
    assert details["source"] == str(path) and details["step"] == 5
    assert "checkpoints" not in details


def test_folder_that_is_no_run(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        describe(tmp_path)
    assert run_checkpoints(tmp_path) == []
