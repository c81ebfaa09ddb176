"""Normalisation layers by name, and the bias rule that goes with them."""

from __future__ import annotations

import functools
from collections.abc import Callable

from torch import nn

from img2img.nn.registry import NORMS

NormFactory = Callable[[int], nn.Module]


def check_norm(norm: str) -> str:
    """Return ``norm`` if it is a known normalisation name.

    Raises:
        ValueError: ``norm`` is not one of :data:`~img2img.nn.registry.NORMS`.
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
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    return _identity


def conv_bias(norm: str) -> bool:
    """Whether a convolution followed by ``norm`` carries a bias.

    BatchNorm's own shift makes a bias redundant, so convolutions before it have none;
    with instance norm or no norm they keep one. This matches the published layouts.
    """
    return check_norm(norm) != "batch"
