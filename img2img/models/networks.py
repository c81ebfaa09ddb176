"""Generators and PatchGANs built from a family's model config, and the training-size check.

The pix2pix and CycleGAN configs name their networks the same way (``netG``, ``netD``,
``ngf``, ``ndf``, ``n_layers_D``, ``norm``, ``dropout``, ``init_type``, ``init_gain``); only
the channels each network sees differ between the families.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from img2img.config import ConfigError, RunConfig
from img2img.nn import create_discriminator, create_generator
from img2img.nn.sizes import size_error


def build_generator(m: Any, in_channels: int, out_channels: int, init: bool = False) -> nn.Module:
    """The generator ``m.netG`` for ``in_channels`` -> ``out_channels``.

    ``init`` applies the config's weight initialisation; without it (for loading weights)
    PyTorch's default initialisation is left.
    """
    return create_generator(
        m.netG,
        in_channels=in_channels,
        out_channels=out_channels,
        ngf=m.ngf,
        norm=m.norm,
        dropout=m.dropout,
        init_type=m.init_type if init else None,
        init_gain=m.init_gain,
    )


def build_discriminator(m: Any, in_channels: int) -> nn.Module:
    """The discriminator ``m.netD`` on ``in_channels``-channel inputs, initialised."""
    options: dict[str, Any] = {"in_channels": in_channels, "ndf": m.ndf, "norm": m.norm}
    if m.netD == "n_layers":
        options["n_layers"] = m.n_layers_D
    return create_discriminator(m.netD, init_type=m.init_type, init_gain=m.init_gain, **options)


def check_training_size(config: RunConfig, build: Callable[[], Sequence[nn.Module]]) -> None:
    """Fail when the fixed training crops do not suit one of the networks ``build`` returns.

    The networks are built on the meta device (no memory, no initialisation cost).

    Raises:
        ConfigError: naming ``--crop-size``, the network and the sizes that would work.
    """
    size = config.data.training_size
    if size is None:
        return
    with torch.device("meta"):
        nets = build()
    for net in nets:
        message = size_error(net.name, getattr(net, "size_multiple", 1), size, size,
                             getattr(net, "min_size", 1))
        if message is not None:
            raise ConfigError(
                f"--crop-size {size} (preprocess {config.data.preprocess}): {message}"
            )
