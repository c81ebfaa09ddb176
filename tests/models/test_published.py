"""Bare published generator weights are recognised from their layout and load unchanged."""

from __future__ import annotations

import pytest
import torch

from img2img.checkpoints import CheckpointError
from img2img.families.loading import load_inference_model
from img2img.families.published import recognise_generator
from img2img.nn import create_generator

CASES = [
    ("unet_128", dict(ngf=4, norm="batch", dropout=True, in_channels=3, out_channels=3)),
    ("unet_256", dict(ngf=2, norm="batch", dropout=True, in_channels=1, out_channels=3)),
    ("resnet_6blocks", dict(ngf=4, norm="instance", dropout=False, in_channels=3, out_channels=3)),
    ("resnet_9blocks", dict(ngf=4, norm="instance", dropout=False, in_channels=3, out_channels=1)),
]


@pytest.mark.parametrize("name,options", CASES, ids=[c[0] for c in CASES])
def test_layout_is_recognised(name, options):
    state = create_generator(name, **options).state_dict()
    spec = recognise_generator(state)
    assert spec.name == name and spec.options == options


def test_published_pth_translates_like_the_original(tmp_path):
    torch.manual_seed(0)
    original = create_generator("resnet_6blocks", ngf=4, norm="instance").eval()
    state = original.state_dict()
    # older CycleGAN files carry InstanceNorm running statistics that are dropped on load
    state["model.2.running_mean"] = torch.zeros(4)
    state["model.2.running_var"] = torch.ones(4)
    torch.save(state, tmp_path / "horse2zebra.pth")
    loaded = load_inference_model(tmp_path / "horse2zebra.pth")
    assert loaded.network == "resnet_6blocks" and loaded.config is None
    assert loaded.test_mode == "eval" and loaded.family == "cyclegan"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.net.eval()(x), original(x))


def test_unknown_layout_is_refused(tmp_path):
    torch.save({"conv.weight": torch.zeros(8, 3, 3, 3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="match no known generator"):
        load_inference_model(tmp_path / "other.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="not an img2img checkpoint nor a generator"):
        load_inference_model(tmp_path / "list.pth")
