"""The registry resolves every name to a builder with the documented signature."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import pytest
from torch import nn

from img2img.nn.registry import (
    UnknownNetworkError,
    create_discriminator,
    create_generator,
    get_entry,
    list_discriminators,
    list_encoders,
    list_generators,
)

SIGNATURES = {
    "img2img.nn.unet:UnetGenerator": {
        "in_channels": 3, "out_channels": 3, "ngf": 64, "norm": "batch", "dropout": False,
        "num_downs": 8,
    },
    "img2img.nn.resnet:ResnetGenerator": {
        "in_channels": 3, "out_channels": 3, "ngf": 64, "norm": "batch", "dropout": False,
        "n_blocks": 9, "padding_type": "reflect", "antialias": False, "antialias_up": False,
    },
    "img2img.nn.patchgan:NLayerDiscriminator": {
        "in_channels": 6, "ndf": 64, "n_layers": 3, "norm": "batch", "antialias": False,
    },
    "img2img.nn.patchgan:PixelDiscriminator": {"in_channels": 6, "ndf": 64, "norm": "batch"},
    "img2img.families.pix2pixhd.networks:GlobalGenerator": {
        "in_channels": 36, "out_channels": 3, "ngf": 64, "norm": "instance", "dropout": False,
        "n_downsampling": 4, "n_blocks": 9, "padding_type": "reflect",
    },
    "img2img.families.pix2pixhd.networks:LocalEnhancer": {
        "in_channels": 36, "out_channels": 3, "ngf": 32, "norm": "instance", "dropout": False,
        "n_downsample_global": 4, "n_blocks_global": 9, "n_local_enhancers": 1,
        "n_blocks_local": 3, "padding_type": "reflect",
    },
    "img2img.families.pix2pixhd.networks:MultiscaleDiscriminator": {
        "in_channels": 39, "ndf": 64, "n_layers": 3, "norm": "instance", "num_D": 2,
    },
    "img2img.families.pix2pixhd.networks:Encoder": {
        "in_channels": 3, "out_channels": 3, "nef": 16, "norm": "instance", "n_downsampling": 4,
    },
}


def test_classic_names_are_registered() -> None:
    assert {"unet_128", "unet_256", "resnet_6blocks", "resnet_9blocks", "global", "local"} <= set(
        list_generators()
    )
    assert {"basic", "n_layers", "pixel", "multiscale"} <= set(list_discriminators())
    assert list_encoders() == ["encoder"]


@pytest.mark.parametrize(
    ("kind", "name"),
    [("generator", n) for n in list_generators()]
    + [("discriminator", n) for n in list_discriminators()]
    + [("encoder", n) for n in list_encoders()],
)
def test_builder_resolves(kind, name: str) -> None:
    entry = get_entry(kind, name)
    builder = entry.builder()
    assert issubclass(builder, nn.Module)
    if entry.target in SIGNATURES:
        params = inspect.signature(builder).parameters
        assert {k: p.default for k, p in params.items()} == SIGNATURES[entry.target]
    params = inspect.signature(builder).parameters
    assert set(entry.defaults) <= set(params)


@pytest.mark.parametrize("name", list_generators())
def test_generator_reports_its_size_multiple(name: str) -> None:
    net = create_generator(name, ngf=2, init_type=None)
    expected = {"unet_128": 128, "unet_256": 256, "resnet_6blocks": 4, "resnet_9blocks": 4,
                "global": 16, "local": 32}
    assert net.size_multiple == expected[name]
    assert net.name == name


@pytest.mark.parametrize(("name", "num_downs"), [("unet_128", 7), ("unet_256", 8)])
def test_name_accepts_the_value_it_fixes(name: str, num_downs: int) -> None:
    net = create_generator(name, ngf=2, init_type=None, num_downs=num_downs)
    assert net.num_downs == num_downs
    assert create_discriminator("basic", ndf=2, n_layers=3, init_type=None).n_layers == 3


@pytest.mark.parametrize(
    ("create", "name", "option", "match"),
    [
        (create_generator, "resnet_9blocks", {"n_blocks": 6},
         "'resnet_9blocks' fixes n_blocks=9; got n_blocks=6; use 'resnet_6blocks'"),
        (create_generator, "resnet_9blocks", {"n_blocks": 3},
         "fixes n_blocks=9; got n_blocks=3; no registered generator takes n_blocks=3"),
        (create_generator, "unet_256", {"num_downs": 7},
         "'unet_256' fixes num_downs=8; got num_downs=7; use 'unet_128'"),
        (create_discriminator, "basic", {"n_layers": 5},
         "'basic' fixes n_layers=3; got n_layers=5; use 'n_layers'"),
    ],
)
def test_option_contradicting_the_name_fails(create, name: str, option: dict, match: str) -> None:
    with pytest.raises(ValueError, match=re.escape(match)):
        create(name, **option)  # fails before anything is built


def test_n_layers_follows_the_option() -> None:
    assert create_discriminator("n_layers", ndf=2, n_layers=5, init_type=None).n_layers == 5


@pytest.mark.parametrize(
    ("kind", "name"),
    [("generator", n) for n in list_generators()]
    + [("discriminator", n) for n in list_discriminators()],
)
def test_unknown_option_fails_listing_the_options_taken(kind, name: str) -> None:
    entry = get_entry(kind, name)
    create = create_generator if kind == "generator" else create_discriminator
    with pytest.raises(ValueError, match=f"{name!r} takes no option 'colour', 'depth'") as info:
        create(name, depth=3, colour="red")
    taken = str(info.value).split("it takes: ")[1].split(", ")
    params = inspect.signature(entry.builder()).parameters
    assert taken == [k for k in params if k not in entry.defaults]


def test_resnet_block_counts() -> None:
    from img2img.nn.resnet import ResnetBlock

    for name, blocks in (("resnet_6blocks", 6), ("resnet_9blocks", 9)):
        net = create_generator(name, ngf=2, init_type=None)
        assert sum(isinstance(m, ResnetBlock) for m in net.modules()) == blocks


@pytest.mark.parametrize(
    ("create", "listing"),
    [(create_generator, list_generators), (create_discriminator, list_discriminators)],
)
def test_unknown_name_lists_valid_ones(create, listing) -> None:
    with pytest.raises(UnknownNetworkError, match="'unet_512'") as info:
        create("unet_512")
    assert isinstance(info.value, ValueError)
    for name in listing():
        assert name in str(info.value)


def test_listing_names_does_not_import_torch() -> None:
    code = (
        "import sys, img2img.nn as n; n.list_generators(); n.list_discriminators(); "
        "n.list_encoders(); "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
