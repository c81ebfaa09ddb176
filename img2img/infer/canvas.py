"""An input as the tiled pass reads it: its streams as decoded, padded only where a tile looks.

A huge image is never padded, stacked or converted to floats as a whole. :class:`Canvas` keeps
each stream at its own size and dtype (8-bit pictures stay uint8, a quarter of the memory of
floats) with two index lists that map the padded image's rows and columns to the stream's
(reflection, as :func:`~img2img.infer.padding.pad_to_multiple` pads); :meth:`Canvas.window`
gathers one tile through them and converts only that tile, and :meth:`Canvas.thumbnail`
shrinks the picture a band of rows at a time. Both give exactly the values that padding and
resizing the whole float image would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from img2img.data.io import pixels_to_float
from img2img.data.streams import is_id_kind
from img2img.data.transforms import resize_nearest
from img2img.infer.padding import padded_size, reflect_indices

__all__ = ["Canvas", "as_network_input"]

#: values converted to floats at a time while a thumbnail is made
_BAND_VALUES = 1 << 22


def as_network_input(tensor: Tensor, kind: str) -> Tensor:
    """A stream as the networks take it: pictures as float32 in ``[0, 1]`` (uint8 0..255
    divided by 255), ids as they are."""
    if is_id_kind(kind) or tensor.dtype == torch.float32:
        return tensor
    return pixels_to_float(tensor)


@dataclass(frozen=True)
class Canvas:
    """An input's streams (``C x H x W`` each, one ``H x W``) seen padded to a network's size.

    Attributes:
        streams: name -> the stream as decoded (uint8 or float32 pictures, int64 ids).
        kinds: name -> the stream's kind.
        rows: for each row of the padded image, the stream row it shows.
        cols: likewise for the columns.
        crop: ``(top, left, height, width)`` of the picture in the padded image: the part of
            the output that is kept.
    """

    streams: Mapping[str, Tensor]
    kinds: Mapping[str, str]
    rows: Tensor
    cols: Tensor
    crop: tuple[int, int, int, int]

    @classmethod
    def padded(cls, streams: Mapping[str, Tensor], kinds: Mapping[str, str], multiple: int,
               min_size: int = 1) -> Canvas:
        """``streams`` reflect-padded (symmetrically) to ``multiple`` and at least
        ``min_size`` a side, as :func:`~img2img.infer.padding.pad_to_multiple` pads."""
        h, w = (int(n) for n in next(iter(streams.values())).shape[-2:])
        hp, wp = padded_size(h, w, multiple, min_size)
        top, left = (hp - h) // 2, (wp - w) // 2
        return cls(streams, kinds, reflect_indices(h, top, hp - h - top),
                   reflect_indices(w, left, wp - w - left), (top, left, h, w))

    @classmethod
    def of_padded(cls, streams: Mapping[str, Tensor], kinds: Mapping[str, str],
                  size: tuple[int, int]) -> Canvas:
        """Streams padded already, around a picture of ``size`` (what
        :func:`~img2img.infer.padding.pad_to_multiple` returned)."""
        hp, wp = (int(n) for n in next(iter(streams.values())).shape[-2:])
        h, w = size
        return cls(streams, kinds, torch.arange(hp), torch.arange(wp),
                   ((hp - h) // 2, (wp - w) // 2, h, w))

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the padded image."""
        return len(self.rows), len(self.cols)

    @property
    def pixels(self) -> int:
        """Pixels of the padded image (what the network would see at once)."""
        return len(self.rows) * len(self.cols)

    def window(self, top: int, left: int, height: int, width: int) -> dict[str, Tensor]:
        """The padded image's ``height x width`` tile at ``(top, left)``: each stream as a
        ``[1, C, height, width]`` network input (:func:`as_network_input`)."""
        rows = self.rows[top : top + height, None]
        cols = self.cols[None, left : left + width]
        return {name: as_network_input(t[:, rows, cols], self.kinds[name])[None]
                for name, t in self.streams.items()}

    def picture(self, stream: Tensor) -> Tensor:
        """The part of ``stream`` inside :attr:`crop` (a view)."""
        top, left, h, w = self.crop
        r, c = int(self.rows[top]), int(self.cols[left])
        return stream[..., r : r + h, c : c + w]

    def thumbnail(self, size: tuple[int, int]) -> dict[str, Tensor]:
        """The picture (no padding) of every stream resized to ``size`` as ``C x h x w``
        network inputs: ids nearest, pictures bicubic and antialiased, exactly as
        :func:`~img2img.data.transforms.resize_stream` resizes the whole float picture."""
        out = {}
        for name, stream in self.streams.items():
            picture = self.picture(stream)
            if is_id_kind(self.kinds[name]):
                out[name] = resize_nearest(picture, size)
            else:
                out[name] = _shrink(picture, size)
        return out


def _bicubic(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)


def _shrink(picture: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic, antialiased resize of ``C x H x W`` pixels (uint8 or float) to ``size``,
    converting to floats and resizing the width a band of rows at a time: the two passes of
    the separable filter, each on a part of what one call would filter at once."""
    channels, height, width = picture.shape
    if (height, width) == tuple(size):
        return as_network_input(picture, "image")
    step = max(1, _BAND_VALUES // max(1, channels * width))
    wide = torch.empty((1, channels, height, size[1]), dtype=torch.float32)
    for top in range(0, height, step):
        band = as_network_input(picture[:, top : top + step], "image")[None]
        rows = int(band.shape[-2])
        wide[..., top : top + rows, :] = band if size[1] == width else _bicubic(
            band, (rows, size[1]))
    return _bicubic(wide, size)[0].clamp_(0.0, 1.0)
