"""Shared fixtures for the inference tests: tiny real generators."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from img2img.nn import create_generator


def tiny_generator(name: str = "unet_128", channels: int = 3, out_channels: int | None = None,
                   seed: int = 0) -> nn.Module:
    """A real registry generator at ngf 4 with BatchNorm and dropout, non-trivial statistics."""
    torch.manual_seed(seed)
    net = create_generator(name, in_channels=channels,
                           out_channels=channels if out_channels is None else out_channels,
                           ngf=4, norm="batch", dropout=True)
    with torch.no_grad():  # running statistics far from the per-image ones
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.bias.uniform_(-0.2, 0.2)
    return net.eval()


@pytest.fixture
def make_generator() -> Callable[..., nn.Module]:
    """The :func:`tiny_generator` factory."""
    return tiny_generator


@pytest.fixture
def unet128() -> nn.Module:
    return tiny_generator("unet_128")
