"""Inputs of the wrong size or shape fail with a message that names the network and a fix."""

from __future__ import annotations

import re

import pytest
import torch

from img2img.nn.registry import create_discriminator, create_generator
from img2img.nn.sizes import nearest_multiple, next_multiple, size_error


@pytest.mark.parametrize(
    ("size", "multiple", "nearest", "following"),
    [(300, 256, 256, 512), (400, 256, 512, 512), (256, 256, 256, 256), (10, 256, 256, 256),
     (30, 4, 32, 32), (129, 128, 128, 256), (6, 4, 8, 8)],
)
def test_multiples(size: int, multiple: int, nearest: int, following: int) -> None:
    assert nearest_multiple(size, multiple) == nearest
    assert next_multiple(size, multiple) == following


def test_valid_sizes_give_no_error() -> None:
    assert size_error("unet_256", 256, 512, 256) is None
    assert size_error("resnet_9blocks", 4, 8, 12, min_size=8) is None


def test_unet_size_error_message() -> None:
    net = create_generator("unet_256", ngf=1, init_type=None)
    expected = ("unet_256 needs height and width that are multiples of 256; got 300x300; "
                "nearest valid size 256x256 (or pad/resize to 512x512)")
    with pytest.raises(ValueError, match=re.escape(expected)):
        net(torch.zeros(1, 3, 300, 300))


def test_unet_non_square_size_error() -> None:
    net = create_generator("unet_128", ngf=1, init_type=None)
    with pytest.raises(ValueError, match=re.escape(
        "unet_128 needs height and width that are multiples of 128; got 128x200; "
        "nearest valid size 128x256"
    )) as info:
        net(torch.zeros(1, 3, 128, 200))
    assert "(or" not in str(info.value)


def test_resnet_size_errors() -> None:
    net = create_generator("resnet_9blocks", ngf=1, init_type=None)
    with pytest.raises(ValueError, match=re.escape(
        "resnet_9blocks needs height and width that are multiples of 4; got 30x33; "
        "nearest valid size 32x32 (or pad/resize to 32x36)"
    )):
        net(torch.zeros(1, 3, 30, 33))
    with pytest.raises(ValueError, match=re.escape(
        "resnet_9blocks needs height and width of at least 8; got 4x16; pad/resize to 8x16"
    )):
        net(torch.zeros(1, 3, 4, 16))


def test_channel_and_rank_errors() -> None:
    net = create_generator("resnet_6blocks", ngf=1, init_type=None)
    with pytest.raises(ValueError, match=r"resnet_6blocks was built for 3 input channels; got 1"):
        net(torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError, match=r"resnet_6blocks expects a batch shaped \(N, C, H, W\)"):
        net(torch.zeros(3, 16, 16))
    d = create_discriminator("basic", in_channels=6, ndf=1, init_type=None)
    with pytest.raises(ValueError, match=r"n_layers 3\) was built for 6 input channels; got 3"):
        d(torch.zeros(1, 3, 64, 64))


def test_patchgan_minimum_size() -> None:
    from img2img.nn.patchgan import min_input_size

    d = create_discriminator("basic", in_channels=3, ndf=1, init_type=None)
    assert d.min_size == min_input_size(3) == 24
    assert d(torch.zeros(1, 3, 24, 24)).shape == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="at least 24; got 23x40"):
        d(torch.zeros(1, 3, 23, 40))
