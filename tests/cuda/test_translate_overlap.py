"""Translate through the overlapped path on the device (reused pinned buffers, copies back on a
side stream) writes what the CPU writes, with full and partial batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.infer import translate
from img2img.infer.batch import Translator
from img2img.infer.plan import plan_outputs
from img2img.models.inference import InferenceModel
from img2img.nn import create_generator


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img).astype(np.int16)


@pytest.mark.parametrize("batch_size", [3, 4])
def test_overlapped_translate_on_the_device_writes_what_the_cpu_writes(
        tmp_path: Path, device: torch.device, monkeypatch: pytest.MonkeyPatch,
        batch_size: int) -> None:
    """fp32 without TF32: every output value within one 8-bit level of the CPU's."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        outputs = _both(tmp_path, device, monkeypatch, batch_size)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    reference, on_device, staging = outputs
    assert reference.keys() == on_device.keys() and len(reference) == 13
    for name in reference:
        assert np.abs(reference[name] - on_device[name]).max() <= 1, name
    assert staging is not None and staging.buffers.pin == (device.type == "cuda")
    assert staging.buffers.allocations <= 6  # two input slots per size, two outputs


def _both(tmp_path: Path, device: torch.device, monkeypatch: pytest.MonkeyPatch,
          batch_size: int) -> tuple[dict, dict, object]:
    """Outputs by name on the CPU (plain path) and on ``device`` (overlapped), and the
    device translator's staging."""
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(40, 56)] * 10 + [(100, 30)] * 3):  # partial last batches
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            tmp_path / "in" / f"{i:02d}.png")
    torch.manual_seed(0)
    net = create_generator("unet_128", in_channels=3, out_channels=3, ngf=8, norm="batch",
                           dropout=False).eval()
    made: list[Translator] = []

    def overlapping(*args, **kwargs) -> Translator:
        made.append(Translator(*args, **kwargs, overlap=True))
        return made[-1]

    outputs = []
    for name, where in (("reference", torch.device("cpu")), ("device", device)):
        if name == "device":
            monkeypatch.setattr(translate, "Translator", overlapping)
        model = InferenceModel(net, "pix2pix", "unet_128", 3, 3, test_mode="eval",
                               dropout=False)
        summary = translate.translate_files(
            model, plan_outputs(tmp_path / "in", tmp_path / name), batch_size=batch_size,
            device=where)
        assert summary.written == 13 and not summary.failed
        outputs.append({p.name: _pixels(p) for p in (tmp_path / name).iterdir()})
        net.to("cpu")
    return outputs[0], outputs[1], made[0].staging
