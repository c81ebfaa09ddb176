"""Convolution layers that stay fast where the CPU's convolution kernels are not.

On the CPU, oneDNN re-lays out the weights on every call; for the innermost layers of a U-Net
(512+ channels on a 1x1 .. 8x8 grid) that copy costs ten times the arithmetic. These drop-in
subclasses of :class:`torch.nn.Conv2d` / :class:`torch.nn.ConvTranspose2d` (same parameters,
same ``state_dict``) compute such small layers as one matrix product per image over
``unfold``/``fold`` instead; everything else, and every other device, uses the parent's path.
Each image is computed on its own, so a result never depends on the rest of the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: per-image output positions at or below which the matrix-product path is used on the CPU
SMALL_GRID = 256


def _matmul_path(conv: nn.Conv2d | nn.ConvTranspose2d, x: Tensor, positions: int) -> bool:
    return (
        x.device.type == "cpu"
        and x.dim() == 4
        and positions <= SMALL_GRID
        and conv.groups == 1
        and conv.dilation == (1, 1)
        and conv.padding_mode == "zeros"
        and x.dtype == conv.weight.dtype
        and not torch.is_autocast_enabled("cpu")
    )


def _per_image(x: Tensor, fn) -> Tensor:
    if x.shape[0] == 1:
        return fn(x)
    return torch.cat([fn(x[i : i + 1]) for i in range(x.shape[0])])


class Conv2d(nn.Conv2d):
    """:class:`torch.nn.Conv2d` with a matrix-product path for small CPU outputs."""

    def forward(self, x: Tensor) -> Tensor:
        kh, kw = self.kernel_size
        (sh, sw), (ph, pw) = self.stride, self.padding
        if isinstance(self.padding, str):
            return super().forward(x)
        h = (x.shape[-2] + 2 * ph - kh) // sh + 1
        w = (x.shape[-1] + 2 * pw - kw) // sw + 1
        if not _matmul_path(self, x, h * w):
            return super().forward(x)
        weight = self.weight.reshape(self.out_channels, -1)

        def one(image: Tensor) -> Tensor:
            cols = F.unfold(image, self.kernel_size, padding=self.padding, stride=self.stride)
            out = (weight @ cols[0]).reshape(1, self.out_channels, h, w)
            return out if self.bias is None else out + self.bias.reshape(1, -1, 1, 1)

        return _per_image(x, one)


class ConvTranspose2d(nn.ConvTranspose2d):
    """:class:`torch.nn.ConvTranspose2d` with a matrix-product path for small CPU inputs."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if output_size is not None or self.output_padding != (0, 0) or x.dim() != 4:
            return super().forward(x, output_size)
        kh, kw = self.kernel_size
        (sh, sw), (ph, pw) = self.stride, self.padding
        h_in, w_in = x.shape[-2:]
        if not _matmul_path(self, x, h_in * w_in):
            return super().forward(x)
        h = (h_in - 1) * sh - 2 * ph + kh
        w = (w_in - 1) * sw - 2 * pw + kw
        weight_t = self.weight.reshape(self.in_channels, -1).t()  # (out * kh * kw, in)

        def one(image: Tensor) -> Tensor:
            cols = weight_t @ image.reshape(self.in_channels, h_in * w_in)
            out = F.fold(
                cols.unsqueeze(0),
                (h, w),
                self.kernel_size,
                padding=self.padding,
                stride=self.stride,
            )
            return out if self.bias is None else out + self.bias.reshape(1, -1, 1, 1)

        return _per_image(x, one)
