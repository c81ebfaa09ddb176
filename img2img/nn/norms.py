"""Normalisation layers by name, and the bias rule that goes with them."""

from __future__ import annotations

import functools
from collections.abc import Callable

from torch import nn

from img2img.nn.choices import NORMS

NormFactory = Callable[[int], nn.Module]

#: the layer types that normalise with batch statistics (and keep running statistics)
BATCH_NORMS = (nn.BatchNorm2d, nn.SyncBatchNorm)


def check_norm(norm: str) -> str:
    """Return ``norm`` if it is a known normalisation name.

    Raises:
        ValueError: ``norm`` is not one of :data:`~img2img.nn.choices.NORMS`.
    """
    if norm not in NORMS:
        raise ValueError(f"norm: {norm!r} is not valid; expected one of: {', '.join(NORMS)}")
    return norm


def _identity(num_features: int) -> nn.Module:
    return nn.Identity()


def get_norm_layer(norm: str) -> NormFactory:
    """A factory that builds the normalisation layer ``norm`` for a number of channels.

    Args:
        norm: ``batch`` (BatchNorm2d with affine parameters and running statistics),
            ``syncbatch`` (the same, with batch statistics over all data-parallel processes:
            SyncBatchNorm; one process normalises as ``batch``),
            ``instance`` (InstanceNorm2d without affine parameters or running statistics)
            or ``none`` (identity).

    Returns:
        A callable taking the channel count and returning a fresh module.

    Raises:
        ValueError: ``norm`` is not a known name.
    """
    check_norm(norm)
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "syncbatch":
        return functools.partial(nn.SyncBatchNorm, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    return _identity


def conv_bias(norm: str) -> bool:
    """Whether a convolution followed by ``norm`` carries a bias.

    The published layouts give these convolutions a bias only before instance norm (whose
    layers have no affine shift of their own); before BatchNorm, whose shift makes a bias
    redundant, and with no norm at all they have none. Some convolutions that no norm follows
    keep their bias whatever the norm: the N-layer PatchGAN's first and last, the PixelGAN's
    first, the U-Net's outermost transposed one and the ResNet's last.
    """
    return check_norm(norm) == "instance"
