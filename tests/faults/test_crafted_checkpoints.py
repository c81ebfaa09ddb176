"""Checkpoints and weights files that are damaged, crafted or foreign.

Nothing in a file ever runs; whatever is wrong with one is one line naming it, found before
any network is allocated; old formats (version 1 checkpoints, pre-zip ``torch.save`` files)
still load.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import time
import zipfile
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from img2img import launch
from img2img.checkpoints import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from img2img.cli import app
from img2img.families import load_run_config
from img2img.families.loading import load_inference_model
from img2img.families.pix2pix.description import Pix2PixDescription
from img2img.nn import create_generator

runner = CliRunner()


def _payload(reference_run: Path) -> dict:
    data = load_checkpoint(reference_run)
    return {k: v for k, v in data.items() if k not in ("format", "format_version", "checksums")}


class _Payload:
    """Unpickling this runs a shell command that would leave a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
def test_malicious_pickles_never_run(tmp_path, legacy):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    if legacy:
        with open(path, "wb") as f:
            pickle.dump({"G": _Payload(marker)}, f)
    else:
        torch.save({"G": _Payload(marker)}, path)
    for load in (load_checkpoint, load_inference_model):
        with pytest.raises(CheckpointError, match="evil.pt"):
            load(path)
    assert not marker.exists()


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) * 2 // 3])
    return dst


@pytest.mark.parametrize("make, message", [
    (lambda ref, d: _truncated(ref, d / "cut.pt"), "truncated or damaged checkpoint"),
    (lambda ref, d: (d / "noise.pt").write_bytes(os.urandom(4096)) and d / "noise.pt",
     "not a PyTorch checkpoint"),
    (lambda ref, d: (d / "empty.pt").write_bytes(b"") == 0 and d / "empty.pt", "an empty file"),
    (lambda ref, d: _zip_of_text(d / "archive.pt"), "a zip archive, but not a PyTorch"),
])
def test_files_that_are_not_checkpoints_fail_in_one_line(reference_run, tmp_path, make,
                                                          message):
    path = make(reference_run / "checkpoints" / "latest.pt", tmp_path)
    for load in (load_checkpoint, load_inference_model):
        with pytest.raises(CheckpointError, match=message) as info:
            load(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    result = runner.invoke(app, ["translate", "--model", str(path), str(tmp_path),
                                 str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 2 and result.output.count("Error:") == 1
    assert "Traceback" not in result.output


def _zip_of_text(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return path


def _flip_bit_inside(path: Path, tensor: torch.Tensor) -> None:
    """Flip one bit in the middle of ``tensor``'s bytes where ``path`` stores them."""
    data = bytearray(path.read_bytes())
    raw = tensor.contiguous().view(torch.uint8).numpy().tobytes()
    assert data.count(raw) == 1
    data[data.find(raw) + len(raw) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _largest(tensors) -> torch.Tensor:
    return max((t for t in tensors if isinstance(t, torch.Tensor)), key=torch.Tensor.numel)


def test_a_flipped_bit_is_refused_where_it_matters(reference_run, tmp_path):
    payload = _payload(reference_run)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text((reference_run / "config.json").read_text())
    latest = save_checkpoint(run / "checkpoints" / "latest.pt", payload)
    pristine = latest.read_bytes()

    # in the generator: translate refuses
    _flip_bit_inside(latest, _largest(payload["nets"]["G"].values()))
    with pytest.raises(CheckpointError, match="damaged checkpoint: the contents of 'nets/G'"):
        load_inference_model(run)

    # in an optimizer state: translate (which never reads them) works, a resume refuses
    latest.write_bytes(pristine)
    states = payload["optimizers"]["D"]["state"].values()
    _flip_bit_inside(latest, _largest(t for s in states for t in s.values()))
    assert load_inference_model(run).step == payload["step"]
    with pytest.raises(CheckpointError, match="the contents of 'optimizers' differ"):
        launch.resume(run, {"max_steps": payload["step"] + 1})


def test_weights_that_do_not_fit_the_config_are_named(reference_run, tmp_path):
    payload = _payload(reference_run)
    model = load_run_config(payload["config"]).model
    other = Pix2PixDescription.build_generator(dataclasses.replace(model, ngf=8))
    path = save_checkpoint(tmp_path / "swapped.pt",
                           {**payload, "nets": {**payload["nets"], "G": other.state_dict()}})
    with pytest.raises(CheckpointError, match=r"network 'G' do not fit .*\[8, 1, 7, 7\] in the "
                                              r"file but \[4, 1, 7, 7\]"):
        load_inference_model(path)


@pytest.mark.parametrize("netG", ["resnet_6blocks", "unet_256"])
def test_an_absurd_config_is_refused_before_anything_is_allocated(reference_run, tmp_path,
                                                                   netG):
    payload = _payload(reference_run)
    config = {**payload["config"], "model": {**payload["config"]["model"], "ngf": 200_000,
                                              "netG": netG}}
    path = save_checkpoint(tmp_path / "absurd.pt", {**payload, "config": config})
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match="do not fit the network its config describes"):
        load_inference_model(path)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    path.rename(run / "checkpoints" / "latest.pt")
    with pytest.raises(CheckpointError, match="do not fit the network its config describes"):
        launch.resume(run, dry_run=True)
    assert time.perf_counter() - started < 30  # a 200000-filter net would take terabytes


def test_older_formats_still_load(reference_run, tmp_path):
    payload = _payload(reference_run)
    version_1 = tmp_path / "v1.pt"
    torch.save({"format": "img2img-checkpoint", "format_version": 1, **payload}, version_1)
    assert load_inference_model(version_1).step == payload["step"]

    generator = create_generator("unet_128", ngf=4, norm="batch", dropout=True)
    legacy = tmp_path / "latest_net_G.pth"  # as the reference code saved before torch 1.6
    torch.save(generator.state_dict(), legacy, _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(legacy)
    model = load_inference_model(legacy)
    assert model.network == "unet_128"
    for key, value in generator.state_dict().items():
        assert torch.equal(model.net.state_dict()[key], value)


def test_a_config_with_wrong_types_is_refused_naming_the_field(reference_run, tmp_path):
    payload = _payload(reference_run)
    config = {**payload["config"], "model": {**payload["config"]["model"], "ngf": "64"}}
    path = save_checkpoint(tmp_path / "typed.pt", {**payload, "config": config})
    with pytest.raises(CheckpointError, match="model.ngf: '64' is not valid; expected an integer"):
        load_inference_model(path)
