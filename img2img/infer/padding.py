"""Pad images up to a size multiple by reflection, and crop results back.

Generators such as ``unet_256`` only accept sizes that are multiples of a fixed number. An image
of any size is padded symmetrically (the odd pixel going right or bottom) by mirroring its
content, translated, and cropped back to its own size. Padding wider than the image keeps
mirroring back and forth (the symmetric periodic extension), so a 10x10 image can be padded to
256x256; a side of length 1 has nothing to mirror and is repeated.
"""

from __future__ import annotations

import torch
from torch import Tensor

from img2img.nn.sizes import next_multiple


def padded_size(h: int, w: int, multiple: int, min_size: int = 1) -> tuple[int, int]:
    """The smallest ``(H, W)`` at least ``(h, w)`` and ``min_size`` whose sides are multiples
    of ``multiple``."""
    if multiple < 1:
        raise ValueError(f"multiple: {multiple!r} is not valid; expected an integer >= 1")
    return next_multiple(max(h, min_size), multiple), next_multiple(max(w, min_size), multiple)


def reflect_indices(n: int, before: int, after: int, device: torch.device | None = None) -> Tensor:
    """Source indices that mirror a side of length ``n`` by ``before``/``after`` positions.

    Mirroring excludes the edge sample (``d c b | a b c d | c b a``) and repeats with period
    ``2 * (n - 1)`` when the padding is longer than the side. For ``n == 1`` the single sample
    is repeated.
    """
    if n < 1:
        raise ValueError(f"cannot pad an empty side (length {n})")
    positions = torch.arange(-before, n + after, device=device)
    if n == 1:
        return torch.zeros_like(positions)
    period = 2 * (n - 1)
    folded = torch.remainder(positions, period)
    return torch.where(folded >= n, period - folded, folded)


def pad_to_multiple(
    x: Tensor, multiple: int, min_size: int = 1
) -> tuple[Tensor, tuple[int, int]]:
    """Reflect-pad a batch so that its height and width are multiples of ``multiple``.

    Args:
        x: images ``[N, C, H, W]``.
        multiple: the size multiple the network needs (the built network's ``size_multiple``).
        min_size: the smallest side the network takes (its ``min_size``); smaller images are
            padded up to it.

    Returns:
        The padded batch and the original ``(h, w)`` to give :func:`crop_back`. When no
        padding is needed the input tensor itself is returned.
    """
    if x.dim() != 4:
        raise ValueError(f"expected images shaped [N, C, H, W], got shape {tuple(x.shape)}")
    h, w = int(x.shape[-2]), int(x.shape[-1])
    hp, wp = padded_size(h, w, multiple, min_size)
    if (hp, wp) == (h, w):
        return x, (h, w)
    top, left = (hp - h) // 2, (wp - w) // 2
    rows = reflect_indices(h, top, hp - h - top, x.device)
    cols = reflect_indices(w, left, wp - w - left, x.device)
    return x.index_select(-2, rows).index_select(-1, cols), (h, w)


def crop_back(y: Tensor, size: tuple[int, int]) -> Tensor:
    """Cut the ``size = (h, w)`` region that :func:`pad_to_multiple` padded around.

    Args:
        y: a batch ``[N, C, H, W]`` with the padded height and width.
        size: the original ``(h, w)`` returned by :func:`pad_to_multiple`.
    """
    h, w = size
    hp, wp = int(y.shape[-2]), int(y.shape[-1])
    if h > hp or w > wp:
        raise ValueError(f"cannot crop {hp}x{wp} back to {h}x{w}: the crop is larger")
    top, left = (hp - h) // 2, (wp - w) // 2
    return y[..., top : top + h, left : left + w]
