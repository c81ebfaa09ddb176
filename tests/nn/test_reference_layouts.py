"""Our networks' state dicts equal the published pix2pix/CycleGAN layouts, key for key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from img2img.nn.registry import create_discriminator, create_generator

LOCAL = Path(__file__).resolve().parents[1] / "data" / "reference_layouts.json"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "state_dicts.json"

# How each reference entry was built, in our registry's terms.
BUILDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "pix2pix/unet_256": ("generator", "unet_256", {"norm": "batch", "dropout": True}),
    "pix2pix/unet_128": ("generator", "unet_128", {"norm": "batch", "dropout": True}),
    "pix2pix/D_basic_6ch": ("discriminator", "basic", {"in_channels": 6, "norm": "batch"}),
    "pix2pix/D_pixel_6ch": ("discriminator", "pixel", {"in_channels": 6, "norm": "batch"}),
    "cyclegan/resnet_9blocks": ("generator", "resnet_9blocks", {"norm": "instance"}),
    "cyclegan/resnet_6blocks": ("generator", "resnet_6blocks", {"norm": "instance"}),
    "cyclegan/D_basic_3ch": ("discriminator", "basic", {"in_channels": 3, "norm": "instance"}),
}
# Small enough to build for real and load a full checkpoint into.
LOADABLE = ["pix2pix/D_basic_6ch", "pix2pix/D_pixel_6ch", "cyclegan/resnet_6blocks",
            "cyclegan/D_basic_3ch"]


def _build(entry: str) -> torch.nn.Module:
    kind, name, kwargs = BUILDS[entry]
    create = create_generator if kind == "generator" else create_discriminator
    return create(name, init_type=None, **kwargs)


def _layout(net: torch.nn.Module) -> list[list[Any]]:
    return [[key, list(t.shape)] for key, t in net.state_dict().items()]


def _load(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return json.load(f)


def _sources() -> list[Any]:
    shared = pytest.param(
        SHARED, id="shared",
        marks=pytest.mark.skipif(not SHARED.exists(), reason=f"{SHARED} not present"),
    )
    return [pytest.param(LOCAL, id="local"), shared]


@pytest.mark.parametrize("source", _sources())
@pytest.mark.parametrize("entry", sorted(BUILDS))
def test_state_dict_matches_reference(source: Path, entry: str) -> None:
    reference = _load(source)[entry]
    with torch.device("meta"):  # full size without allocating or initialising
        net = _build(entry)
    assert _layout(net) == reference["state_dict"]
    assert sum(p.numel() for p in net.parameters()) == reference["parameters"]


@pytest.mark.parametrize("source", _sources())
def test_every_pix2pix_and_cyclegan_entry_is_covered(source: Path) -> None:
    entries = {k for k in _load(source) if k.split("/")[0] in ("pix2pix", "cyclegan")}
    assert entries == set(BUILDS)


@pytest.mark.skipif(not SHARED.exists(), reason=f"{SHARED} not present")
def test_local_copy_equals_shared_reference() -> None:
    shared = _load(SHARED)
    local = _load(LOCAL)
    assert local == {k: shared[k] for k in local}


@pytest.mark.parametrize("entry", LOADABLE)
def test_published_checkpoint_loads_strictly(entry: str) -> None:
    reference = _load(LOCAL)[entry]
    generator = torch.Generator().manual_seed(0)
    checkpoint = {
        key: (torch.randint(0, 100, shape, generator=generator) if key.endswith("batches_tracked")
              else torch.randn(shape, generator=generator))
        for key, shape in reference["state_dict"]
    }
    net = _build(entry)
    net.load_state_dict(checkpoint, strict=True)
    for key, value in net.state_dict().items():
        assert torch.equal(value, checkpoint[key].to(value.dtype)), key


def test_full_size_unet_256_forward_shape_on_meta() -> None:
    with torch.device("meta"):
        net = create_generator("unet_256", init_type=None, dropout=True)
        out = net(torch.empty(1, 3, 256, 256))
    assert out.shape == (1, 3, 256, 256)
