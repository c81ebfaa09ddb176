"""Loading for inference: networks built on the meta device, the checkpoint's tensors assigned."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import nn

from img2img.checkpoints import save_checkpoint
from img2img.engine.rng import rng_state
from img2img.export import export_model
from img2img.families import loading
from img2img.families.loading import load_inference_model
from img2img.launch import build_recipe
from img2img.nn import registry
from tests.conftest import tiny_pix2pix_config


def _checkpoint(tmp_path: Path, dtype: torch.dtype | None = None) -> tuple[Path, dict]:
    recipe = build_recipe(tiny_pix2pix_config(tmp_path))
    state = recipe.state_dict()
    if dtype is not None:
        state["nets"]["G"] = {k: v.to(dtype) if v.is_floating_point() else v
                              for k, v in state["nets"]["G"].items()}
    payload = {"family": "pix2pix", "config": recipe.config.to_dict(), "step": 3, "epoch": 0,
               "epoch_step": 3, "rng": rng_state(), **state}
    return save_checkpoint(tmp_path / "latest.pt", payload), recipe.G.state_dict()


def test_no_initialisation_runs_and_the_weights_are_the_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, expected = _checkpoint(tmp_path)

    for name in ("kaiming_uniform_", "uniform_", "normal_", "zeros_", "ones_"):
        original = getattr(nn.init, name)

        def only_meta(tensor, *args, _original=original, **kwargs):
            assert tensor.is_meta, "an initialisation ran that the checkpoint overwrites"
            return _original(tensor, *args, **kwargs)

        monkeypatch.setattr(nn.init, name, only_meta)
    model = load_inference_model(path)
    got = model.net.state_dict()
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert not any(t.is_meta for t in [*model.net.parameters(), *model.net.buffers()])
    assert all(not p.requires_grad or p.is_leaf for p in model.net.parameters())
    assert model.step == 3


def test_weights_in_another_dtype_are_cast(tmp_path: Path) -> None:
    path, expected = _checkpoint(tmp_path, torch.float64)
    got = load_inference_model(path).net.state_dict()
    assert got["model.model.0.weight"].dtype == torch.float32
    torch.testing.assert_close(got["model.model.0.weight"], expected["model.model.0.weight"])


class _WithUnsavedBuffer(nn.Module):
    """A network with state outside its ``state_dict``: it must be built the ordinary way."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.register_buffer("scale", torch.full((1,), 3.0), persistent=False)


def test_state_no_checkpoint_holds_is_built_for_real() -> None:
    source = _WithUnsavedBuffer()
    with torch.device("meta"):
        layouts = {"G": _WithUnsavedBuffer()}
    nets = loading._with_weights(layouts, lambda: {"G": _WithUnsavedBuffer()},
                                 {"G": source.state_dict()})
    assert nets["G"].scale.item() == 3.0
    assert torch.equal(nets["G"].conv.weight, source.conv.weight)


def _counted_builds(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Every network the registry builds from now on, by name and where (meta or not)."""
    built: Counter = Counter()
    create = registry._create

    def counted(kind, name, *args, **kwargs):
        net = create(kind, name, *args, **kwargs)
        built[name, "meta" if all(p.is_meta for p in net.parameters()) else "memory"] += 1
        return net

    monkeypatch.setattr(registry, "_create", counted)
    return built


@pytest.mark.parametrize("given", ["run directory", "release"])
def test_one_load_builds_each_network_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """The networks' layouts are built once on the meta device: compared with the saved
    weights, then given them; nothing else is built (pix2pix: the generator alone)."""
    file, expected = _checkpoint(tmp_path)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    file.rename(run / "checkpoints" / "latest.pt")
    model = run
    if given == "release":
        model = export_model(load_inference_model(run), tmp_path / "G.safetensors",
                             "safetensors").path
    built = _counted_builds(monkeypatch)
    got = load_inference_model(model).net.state_dict()
    assert dict(built) == {("unet_128", "meta"): 1}
    assert all(torch.equal(got[k], expected[k]) for k in expected)
