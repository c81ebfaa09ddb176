"""State dicts in the reference layout load unchanged: old InstanceNorm keys and ``module.``."""

from __future__ import annotations

import json

import pytest
import torch

from img2img.checkpoints import CheckpointError
from img2img.families.loading import load_inference_model
from img2img.families.published import summarize_weights
from img2img.nn import create_generator
from tests.nn.test_reference_layouts import REFERENCE


def _reference_state(entry: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with exactly the keys and shapes the reference code saves."""
    layout = json.loads(REFERENCE.read_text())[entry]["state_dict"]
    g = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape, generator=g) * 0.05 for key, shape in layout}


def _instance_norms() -> dict[str, int]:
    """The InstanceNorm2d layers of resnet_6blocks (their indices are the reference's), by width."""
    with torch.device("meta"):
        net = create_generator("resnet_6blocks", norm="instance", init_type=None)
    return {n: m.num_features for n, m in net.named_modules()
            if isinstance(m, torch.nn.InstanceNorm2d)}


@pytest.mark.parametrize("legacy", [False, True], ids=["plain", "old-instance-norm-keys"])
@pytest.mark.parametrize("prefix", ["", "module."], ids=["bare", "dataparallel"])
def test_reference_cyclegan_generator_loads_and_translates(tmp_path, legacy, prefix):
    state = _reference_state("cyclegan/resnet_6blocks")
    saved = dict(state)
    if legacy:  # what CycleGAN files saved before PyTorch 0.4 hold for every InstanceNorm2d
        for name, width in _instance_norms().items():
            saved[f"{name}.running_mean"] = torch.zeros(width)
            saved[f"{name}.running_var"] = torch.ones(width)
    saved = {prefix + k: v for k, v in saved.items()}
    torch.save(saved, tmp_path / "net.pth")

    model = load_inference_model(tmp_path / "net.pth")
    assert (model.family, model.network, model.test_mode) == ("cyclegan", "resnet_6blocks", "eval")
    loaded = model.net.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    out = model.run(torch.rand(1, 3, 32, 48) * 2 - 1, ["x"])
    assert out.shape == (1, 3, 32, 48) and out.abs().max() <= 1

    summary = summarize_weights(saved)
    assert summary["network"] == "resnet_6blocks" and summary["ngf"] == 64
    assert summary["parameters"] == json.loads(REFERENCE.read_text())[
        "cyclegan/resnet_6blocks"]["parameters"]
    assert summary["parallel_prefix"] is bool(prefix)
    assert summary["legacy_statistics"] == (2 * len(_instance_norms()) if legacy else 0)


def test_an_unknown_layout_says_what_it_found(tmp_path):
    state = _reference_state("cyclegan/resnet_6blocks")
    state.pop("model.1.bias")
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(CheckpointError) as failure:
        load_inference_model(tmp_path / "cut.pth")
    message = str(failure.value)
    assert "match no known generator layout" in message
    assert "35 tensors" in message and "model.1.weight [64, 3, 7, 7]" in message
    assert "the last model.23.weight [3, 64, 7, 7]" in message
