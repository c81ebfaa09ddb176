"""Antialiased resampling (Zhang 2019, "Making convolutional networks shift-invariant again").

:class:`BlurDownsample` low-passes with a fixed binomial filter before it subsamples;
:class:`BlurUpsample` inserts zeros and interpolates with a fixed binomial filter. The filters
are buffers named ``filt`` (one copy per channel, as the reference CUT code stores them), so
they appear in the ``state_dict`` and published weights load unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: the rows of Pascal's triangle the filters are made of, by filter size
_BINOMIAL = {1: (1.0,), 2: (1.0, 1.0), 3: (1.0, 2.0, 1.0), 4: (1.0, 3.0, 3.0, 1.0),
             5: (1.0, 4.0, 6.0, 4.0, 1.0)}


def binomial_filter(size: int) -> Tensor:
    """The ``size`` x ``size`` binomial filter (outer product of a row of Pascal's triangle),
    summing to 1."""
    if size not in _BINOMIAL:
        raise ValueError(f"filter size: {size!r} is not valid; expected one of: "
                         f"{', '.join(map(str, _BINOMIAL))}")
    row = torch.tensor(_BINOMIAL[size])
    square = row[:, None] * row[None, :]
    return square / square.sum()


class BlurDownsample(nn.Module):
    """Reflect-pad, blur with a fixed ``filter_size`` binomial filter per channel, keep every
    ``stride``-th pixel: an ``H`` x ``W`` input becomes ``ceil(H / 2)`` x ``ceil(W / 2)``
    (stride 2, filter 3). Inputs need at least 2 pixels per side (reflection)."""

    def __init__(self, channels: int, filter_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.channels = channels
        self.stride = stride
        before, after = (filter_size - 1) // 2, math.ceil((filter_size - 1) / 2)
        self.padding = (before, after, before, after)
        self.register_buffer("filt", binomial_filter(filter_size)[None, None].repeat(
            channels, 1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        padded = F.pad(x, self.padding, mode="reflect")
        return F.conv2d(padded, self.filt.to(x.dtype), stride=self.stride, groups=x.shape[1])


class BlurUpsample(nn.Module):
    """Upsample by 2 with a fixed [1, 3, 3, 1] binomial filter per channel: zeros inserted
    between the pixels, then interpolated (a transposed convolution with the filter times 4),
    replicate padding at the borders; an ``H`` x ``W`` input becomes ``2H`` x ``2W``."""

    FILTER_SIZE = 4
    STRIDE = 2

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("filt", (binomial_filter(self.FILTER_SIZE) * self.STRIDE**2)[
            None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        padding = 1 + (self.FILTER_SIZE - 1) // 2
        out = F.conv_transpose2d(padded, self.filt.to(x.dtype), stride=self.STRIDE,
                                 padding=padding, groups=x.shape[1])
        return out[:, :, 1:-1, 1:-1]
