"""Our networks' state dicts equal the published pix2pix/CycleGAN/pix2pixHD/CUT layouts, key for
key.

The layouts come from ``../shared/reference/state_dicts.json`` next to the repository when it
exists (as in CI), else from the copy in ``tests/data``; when both exist the copy must equal the
shared file for every entry it holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from img2img.nn.registry import (
    create_discriminator,
    create_encoder,
    create_generator,
    get_entry,
    list_discriminators,
    list_encoders,
    list_generators,
)
from tests.conftest import SHARED as SHARED_DIR

LOCAL = Path(__file__).resolve().parents[1] / "data" / "reference_layouts.json"
SHARED = SHARED_DIR / "reference" / "state_dicts.json"
REFERENCE = SHARED if SHARED.exists() else LOCAL

Build = tuple[str, str, dict[str, Any]]  # kind, registered name, options

# How each reference entry is built in our registry's terms (see its ``built_as``).
BUILDS: dict[str, list[Build]] = {
    "pix2pix/unet_256": [("generator", "unet_256", {"norm": "batch", "dropout": True})],
    "pix2pix/unet_128": [("generator", "unet_128", {"norm": "batch", "dropout": True})],
    "pix2pix/D_basic_6ch": [
        ("discriminator", "basic", {"in_channels": 6, "norm": "batch"}),
        ("discriminator", "n_layers", {"in_channels": 6, "norm": "batch", "n_layers": 3}),
    ],
    "pix2pix/D_pixel_6ch": [("discriminator", "pixel", {"in_channels": 6, "norm": "batch"})],
    "cyclegan/resnet_9blocks": [("generator", "resnet_9blocks", {"norm": "instance"})],
    "cyclegan/resnet_6blocks": [("generator", "resnet_6blocks", {"norm": "instance"})],
    "cyclegan/D_basic_3ch": [
        ("discriminator", "basic", {"in_channels": 3, "norm": "instance"}),
        ("discriminator", "n_layers", {"in_channels": 3, "norm": "instance", "n_layers": 3}),
    ],
    # pix2pixHD's defaults are the reference's: 35 labels + boundary in, instance norm
    "pix2pixhd/global": [("generator", "global", {})],
    "pix2pixhd/local": [("generator", "local", {})],
    "pix2pixhd/D_multiscale": [("discriminator", "multiscale", {})],
    "pix2pixhd/D_multiscale_3": [("discriminator", "multiscale", {"num_D": 3})],
    "pix2pixhd/encoder": [("encoder", "encoder", {})],
    # CUT: the CycleGAN networks with antialiased sampling (blur filters as buffers)
    "cut/resnet_9blocks": [("generator", "resnet_9blocks",
                            {"norm": "instance", "antialias": True, "antialias_up": True})],
    "cut/D_basic_3ch": [
        ("discriminator", "basic", {"in_channels": 3, "norm": "instance", "antialias": True}),
        ("discriminator", "n_layers",
         {"in_channels": 3, "norm": "instance", "n_layers": 3, "antialias": True}),
    ],
}
FAMILIES = ("pix2pix", "cyclegan", "pix2pixhd", "cut")
CASES = [pytest.param(entry, build, id=f"{entry}-as-{build[1]}")
         for entry, builds in BUILDS.items() for build in builds]
REGISTERED = [("generator", n) for n in list_generators()] + [
    ("discriminator", n) for n in list_discriminators()
] + [("encoder", n) for n in list_encoders()]
PIX2PIXHD_MODULE = "img2img.families.pix2pixhd.networks:"
# Small enough to build for real and load a full checkpoint into.
LOADABLE = ["pix2pix/D_basic_6ch", "pix2pix/D_pixel_6ch", "cyclegan/resnet_6blocks",
            "cyclegan/D_basic_3ch", "pix2pixhd/D_multiscale", "pix2pixhd/encoder",
            "cut/D_basic_3ch"]
CREATE = {"generator": create_generator, "discriminator": create_discriminator,
          "encoder": create_encoder}


def _load(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return json.load(f)


def _reference(entry: str) -> dict[str, Any]:
    return _load(REFERENCE)[entry]


def _build(build: Build, **extra: Any) -> nn.Module:
    kind, name, options = build
    return CREATE[kind](name, init_type=None, **{**options, **extra})


def _layout(net: nn.Module) -> list[list[Any]]:
    return [[key, list(t.shape)] for key, t in net.state_dict().items()]


def _on_meta(build: Build, **extra: Any) -> nn.Module:
    with torch.device("meta"):  # full size without allocating or initialising
        return _build(build, **extra)


@pytest.mark.skipif(not SHARED.exists(), reason=f"{SHARED} not present: the local copy is used")
def test_local_copy_equals_shared_reference() -> None:
    shared, local = _load(SHARED), _load(LOCAL)
    assert set(local) <= set(shared), f"{LOCAL} holds entries {SHARED} lacks"
    differing = [k for k in local if local[k] != shared[k]]
    assert not differing, f"{LOCAL} differs from {SHARED} for {differing}; copy them again"


@pytest.mark.parametrize(("entry", "build"), CASES)
def test_state_dict_matches_reference(entry: str, build: Build) -> None:
    reference = _reference(entry)
    net = _on_meta(build)
    assert _layout(net) == reference["state_dict"]
    assert sum(p.numel() for p in net.parameters()) == reference["parameters"]


def test_every_reference_entry_is_covered() -> None:
    entries = {k for k in _load(REFERENCE) if k.split("/")[0] in FAMILIES}
    assert entries == set(BUILDS)


@pytest.mark.parametrize(("kind", "name"), REGISTERED)
def test_registered_network_matches_its_reference(kind: str, name: str) -> None:
    cases = [(e, b) for e, builds in BUILDS.items() for b in builds if b[:2] == (kind, name)]
    if not cases:
        pytest.skip(f"no reference layout for {kind} {name!r}")
    for entry, build in cases:
        assert _layout(_on_meta(build)) == _reference(entry)["state_dict"], entry


def _norm_prefixes(net: nn.Module) -> tuple[str, ...]:
    return tuple(f"{name}." for name, m in net.named_modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize(("entry", "build"),
                         [c for c in CASES if c.values[1][2].get("norm") == "batch"])
def test_norm_none_is_the_batch_layout_without_its_norms(entry: str, build: Build) -> None:
    """As in the reference code: without a norm the convolutions stay without bias."""
    batch = _on_meta(build)
    assert _layout(batch) == _reference(entry)["state_dict"]
    norms = _norm_prefixes(batch)
    expected = [[k, shape] for k, shape in _layout(batch) if not k.startswith(norms)]
    assert _layout(_on_meta(build, norm="none")) == expected


@pytest.mark.parametrize(("name", "keys"), [("unet_128", 15), ("unet_256", 17),
                                            ("resnet_9blocks", 25), ("resnet_6blocks", 19)])
def test_norm_none_key_counts(name: str, keys: int) -> None:
    net = _on_meta(("generator", name, {"norm": "none"}))
    biases = [k for k in net.state_dict() if k.endswith("bias")]
    assert len(net.state_dict()) == keys
    assert len(biases) == 1  # the outermost up-convolution (U-Net) or the last one (ResNet)


PIX2PIX_STYLE = [(k, n) for k, n in REGISTERED
                 if not get_entry(k, n).target.startswith(PIX2PIXHD_MODULE)]
PIX2PIXHD_STYLE = [(k, n) for k, n in REGISTERED if (k, n) not in PIX2PIX_STYLE]


@pytest.mark.parametrize(("kind", "name"), PIX2PIX_STYLE)
def test_only_instance_norm_gives_normalised_convolutions_a_bias(kind: str, name: str) -> None:
    options = {"in_channels": 6} if kind == "discriminator" else {}
    layouts = {norm: dict((k, tuple(s)) for k, s in _layout(_on_meta((kind, name, options),
                                                                       norm=norm)))
               for norm in ("batch", "instance", "none")}
    batch_net = _on_meta((kind, name, options))
    norms = _norm_prefixes(batch_net)
    plain = {k: s for k, s in layouts["batch"].items() if not k.startswith(norms)}
    assert layouts["none"] == plain
    extra = set(layouts["instance"]) - set(plain)
    assert set(plain) <= set(layouts["instance"])
    assert extra and all(k.endswith(".bias") and k[:-5] + ".weight" in plain for k in extra)


@pytest.mark.parametrize(("kind", "name"), PIX2PIXHD_STYLE)
def test_pix2pixhd_convolutions_always_carry_a_bias(kind: str, name: str) -> None:
    """The pix2pixHD reference gives every convolution a bias, whatever the norm."""
    for norm in ("batch", "instance", "none"):
        net = _on_meta((kind, name, {"norm": norm}))
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        assert convs and all(m.bias is not None for m in convs), (name, norm)
        norms = [m for m in net.modules() if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d))]
        assert bool(norms) == (norm != "none")


@pytest.mark.parametrize("entry", LOADABLE)
def test_published_checkpoint_loads_strictly(entry: str) -> None:
    reference = _reference(entry)
    generator = torch.Generator().manual_seed(0)
    checkpoint = {
        key: (torch.randint(0, 100, shape, generator=generator) if key.endswith("batches_tracked")
              else torch.randn(shape, generator=generator))
        for key, shape in reference["state_dict"]
    }
    net = _build(BUILDS[entry][0])
    net.load_state_dict(checkpoint, strict=True)
    for key, value in net.state_dict().items():
        assert torch.equal(value, checkpoint[key].to(value.dtype)), key


def test_full_size_unet_256_forward_shape_on_meta() -> None:
    with torch.device("meta"):
        net = create_generator("unet_256", init_type=None, dropout=True)
        out = net(torch.empty(1, 3, 256, 256))
    assert out.shape == (1, 3, 256, 256)


@pytest.mark.parametrize(("entry", "name"), [("pix2pixhd/global", "global"),
                                             ("pix2pixhd/local", "local")])
def test_published_pix2pixhd_generator_layouts_are_recognised(entry: str, name: str) -> None:
    """A label2city ``latest_net_G.pth`` is recognised from its keys and shapes alone."""
    from img2img.families.published import recognise_generator

    state = {k: torch.empty(shape, device="meta") for k, shape in _reference(entry)["state_dict"]}
    spec = recognise_generator(state)
    assert (spec.name, spec.family) == (name, "pix2pixhd")
    assert spec.options["in_channels"] == 36 and spec.options["norm"] == "instance"
    assert spec.options["ngf"] == (64 if name == "global" else 32)
