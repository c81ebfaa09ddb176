"""Translate an image too large for one forward pass in overlapping tiles, blended back.

Memory is bounded by a pixel budget (``max_pixels``, what one forward pass may hold): an image
over it is cut into tiles whose sides are multiples of the network's size multiple and whose
area fits the budget (:func:`plan_tiles`). Neighbouring tiles overlap by about a quarter of a
tile, placed on the network's downsampling grid where the overlap allows it, so a pixel in an
overlap is computed the same way by both tiles except for what lies beyond a tile's edge. Each
tile's output is weighted by a linear ramp that falls towards its edges (feathering,
:func:`blend_weights`) and the weighted outputs are averaged, so no seam shows.

Networks that normalise with each image's own statistics (instance norm, and batch norm in the
pix2pix paper's test mode) would give every tile statistics of its own, and neighbouring
tiles different tones. They are run with the statistics of the whole image instead, measured
once on a thumbnail of it that fits the budget (thumbnail instance normalisation, as in Chen
et al., "Towards Ultra-Resolution Neural Style Transfer via Thumbnail Instance
Normalization", AAAI 2022): :class:`RecordStatistics` notes the mean and variance every
``F.instance_norm`` call computes on the thumbnail, :class:`FrozenStatistics` makes the same
calls on each tile use them.

Memory stays a small multiple of the 8-bit image, whatever its size: the input is read from a
:class:`~img2img.infer.canvas.Canvas` (uint8, padded only where a tile looks), the weighted
sums cover one row of tiles at a time (:class:`_Band`), and finished rows go straight into
the output as the 8-bit values that will be written (:class:`_Output`). The result is the
same, bit for bit, as blending whole-image float sums.

With dropout on (the pix2pix paper's test mode) each tile draws its own dropout masks, seeded
from the image's key and the tile's place: the result is deterministic, but it is another draw
of the noise than the untiled image gets.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from img2img.data.io import to_uint8
from img2img.infer.canvas import Canvas
from img2img.infer.padding import pad_to_multiple
from img2img.nn.norms import BATCH_NORMS
from img2img.nn.sizes import next_multiple

#: the default pixel budget of one forward pass: 2048 x 2048 at batch 1. The largest
#: generators (unet_256, resnet_9blocks at ngf 64, fp32) peak at under 2 KB per pixel in
#: inference, so a pass stays within about 8 GiB (see bench/ and the README).
DEFAULT_MAX_PIXELS = 2048 * 2048
#: fraction of a tile's side shared with each neighbour
OVERLAP_FRACTION = 0.25
#: unaligned overlaps are rounded down to a multiple of this
MIN_OVERLAP_STEP = 8
#: values of finished rows blended and stored at a time
_FINISHED_VALUES = 1 << 22

#: ``run(streams, keys)``: a batch of streams (``[N, C, h, w]`` each, pictures in ``[0, 1]``)
#: to the network's output ``[N, C', h, w]`` in ``[0, 1]``
RunTiles = Callable[[Mapping[str, Tensor], Sequence[str]], Tensor]


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles of an image go.

    Attributes:
        height: height of the (padded) image.
        width: width of the (padded) image.
        tile: ``(height, width)`` of every tile.
        tops: top row of each row of tiles.
        lefts: left column of each column of tiles.
        overlap: the blending ramp's width: the overlap of two neighbours, at least.
    """

    height: int
    width: int
    tile: tuple[int, int]
    tops: tuple[int, ...]
    lefts: tuple[int, ...]
    overlap: int

    def __len__(self) -> int:
        return len(self.tops) * len(self.lefts)

    def windows(self) -> Iterator[tuple[int, int]]:
        """``(top, left)`` of every tile, row by row."""
        for top in self.tops:
            for left in self.lefts:
                yield top, left


def _positions(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    if length <= tile:
        return (0,)
    step = tile - overlap
    count = math.ceil((length - tile) / step) + 1
    return tuple(min(i * step, length - tile) for i in range(count))


def _overlap(tile: int, multiple: int) -> int:
    """A quarter of ``tile``, on the network's grid if possible, else on a multiple of 8."""
    target = int(tile * OVERLAP_FRACTION)
    if target >= multiple:
        return target // multiple * multiple
    return target // MIN_OVERLAP_STEP * MIN_OVERLAP_STEP


def plan_tiles(height: int, width: int, max_pixels: int, multiple: int,
               min_size: int = 1) -> TileGrid:
    """Tiles covering a ``height`` x ``width`` image, each of at most ``max_pixels`` pixels.

    Args:
        height: the image's height, a multiple of ``multiple`` (pad it first).
        width: its width, likewise.
        max_pixels: the most pixels a tile may have; a tile is never smaller than the
            smallest size the network takes, whatever this says.
        multiple: the network's size multiple: tile sides are multiples of it.
        min_size: the smallest side the network takes.

    Raises:
        ValueError: the image sides are not multiples of ``multiple``.
    """
    if height % multiple or width % multiple:
        raise ValueError(
            f"plan_tiles: {height}x{width} is not a multiple of {multiple}; pad the image first"
        )
    smallest = next_multiple(max(min_size, 1), multiple)
    side = max(smallest, math.isqrt(max(max_pixels, 1)) // multiple * multiple)
    tile_h, tile_w = min(side, height), min(side, width)
    if tile_h == height:  # a side the image fills leaves the rest of the budget to the other
        tile_w = min(width, max(smallest, max_pixels // tile_h // multiple * multiple))
    elif tile_w == width:
        tile_h = min(height, max(smallest, max_pixels // tile_w // multiple * multiple))
    over_h, over_w = _overlap(tile_h, multiple), _overlap(tile_w, multiple)
    return TileGrid(
        height, width, (tile_h, tile_w),
        _positions(height, tile_h, over_h), _positions(width, tile_w, over_w),
        max(min(over_h, over_w), 1),
    )


def blend_weights(tile: tuple[int, int], overlap: int) -> Tensor:
    """A ``[1, 1, h, w]`` feathering mask: 1 inside, a linear ramp over ``overlap`` pixels
    to each edge (never 0, so a pixel only one tile covers keeps its value)."""

    def ramp(n: int) -> Tensor:
        d = torch.arange(n, dtype=torch.float32)
        d = torch.minimum(d, n - 1 - d)
        return ((d + 0.5) / overlap).clamp_(max=1.0)

    return (ramp(tile[0])[:, None] * ramp(tile[1])[None, :])[None, None]


# --- whole-image statistics for per-image normalisation ---------------------------------------
_INSTANCE_NORM_ARGS = ("input", "running_mean", "running_var", "weight", "bias",
                       "use_input_stats", "momentum", "eps")


def _instance_norm_args(args: tuple, kwargs: dict) -> dict:
    bound = dict(zip(_INSTANCE_NORM_ARGS, args, strict=False))
    bound.update(kwargs)
    return bound


class RecordStatistics(TorchFunctionMode):
    """Notes the per-channel mean and variance of every ``F.instance_norm`` that normalises
    with its input's own statistics, in call order (run one image at batch size 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.stats: list[tuple[Tensor, Tensor]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.instance_norm:
            a = _instance_norm_args(args, kwargs)
            if a.get("use_input_stats", True):
                x = a["input"].float()
                dims = (0, *range(2, x.dim()))
                self.stats.append((x.mean(dims), x.var(dims, unbiased=False)))
        return func(*args, **kwargs)


class FrozenStatistics(TorchFunctionMode):
    """Makes the ``i``-th per-image ``F.instance_norm`` call use the ``i``-th recorded
    statistics instead of its input's (calls past the recorded ones keep their own)."""

    def __init__(self, stats: Sequence[tuple[Tensor, Tensor]]) -> None:
        super().__init__()
        self.stats = stats
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.instance_norm:
            a = _instance_norm_args(args, kwargs)
            if a.get("use_input_stats", True) and self.calls < len(self.stats):
                mean, var = self.stats[self.calls]
                self.calls += 1
                x = a["input"]
                return F.instance_norm(
                    x, mean.to(x.device), var.to(x.device), a.get("weight"), a.get("bias"),
                    use_input_stats=False, eps=a.get("eps", 1e-5),
                )
        return func(*args, **kwargs)


def uses_image_statistics(nets: Sequence[nn.Module], test_mode: str | None) -> bool:
    """Whether any of ``nets`` normalises with each image's own statistics at test time:
    instance norm without running statistics, or batch norm in the ``paper`` test mode."""
    for net in nets:
        for module in net.modules():
            if isinstance(module, nn.modules.instancenorm._InstanceNorm) and not (
                module.track_running_stats
            ):
                return True
            if isinstance(module, BATCH_NORMS) and test_mode == "paper":
                return True
    return False


def thumbnail_size(height: int, width: int, max_pixels: int, multiple: int) -> tuple[int, int]:
    """The largest ``(h, w)`` of the image's aspect ratio whose padding to ``multiple`` has at
    most ``max_pixels`` pixels (at least one pixel a side)."""
    scale = min(1.0, math.sqrt(max_pixels / (height * width)))
    while True:
        h, w = max(1, int(height * scale)), max(1, int(width * scale))
        if next_multiple(h, multiple) * next_multiple(w, multiple) <= max_pixels or (
            h == 1 and w == 1
        ):
            return h, w
        scale *= 0.95


# --- the tiled pass ---------------------------------------------------------------------------
class _Band:
    """The weighted sums of tile outputs over the rows of one row of tiles."""

    def __init__(self, height: int, width: int) -> None:
        self.top = 0
        self.total: Tensor | None = None
        self.weight = torch.zeros((1, 1, height, width))

    def move_to(self, top: int) -> None:
        """Cover the rows from ``top`` on; the sums of rows already covered move along."""
        shift, height = top - self.top, int(self.weight.shape[-2])
        for sums in (self.total, self.weight):
            if sums is not None and shift:
                kept = max(0, height - shift)
                sums[..., :kept, :] = sums[..., shift : shift + kept, :].clone()
                sums[..., kept:, :] = 0
        self.top = top

    def add(self, out: Tensor, weights: Tensor, left: int) -> None:
        """Add a tile's output ``[1, C', h, w]`` at column ``left``, weighted."""
        if self.total is None:
            self.total = torch.zeros((1, out.shape[1], *self.weight.shape[-2:]))
        width = int(out.shape[-1])
        self.total[..., :, left : left + width].addcmul_(out, weights)
        self.weight[..., :, left : left + width] += weights

    def blended(self, first: int, last: int) -> Tensor:
        """Rows ``first`` to ``last`` (from the band's top), blended: ``[C', n, W]``."""
        assert self.total is not None
        return (self.total[..., first:last, :] / self.weight[..., first:last, :])[0]


class _Output:
    """The result, filled a band of rows at a time: uint8 (``H x W x C``, what
    :func:`~img2img.data.io.write_image` stores) or float32."""

    def __init__(self, crop: tuple[int, int, int, int], dtype: torch.dtype) -> None:
        self.crop = crop
        self.dtype = dtype
        self.data: np.ndarray | Tensor | None = None

    def write(self, top: int, band: Tensor) -> None:
        """Store the rows of ``band`` (``[C', n, W]``, padded image rows from ``top``) that
        lie in the picture."""
        c_top, c_left, h, w = self.crop
        first, last = max(top, c_top), min(top + int(band.shape[-2]), c_top + h)
        if first >= last:
            return
        part = band[:, first - top : last - top, c_left : c_left + w]
        rows = slice(first - c_top, last - c_top)
        if self.dtype == torch.uint8:
            if self.data is None:
                self.data = np.empty((h, w, int(band.shape[0])), dtype=np.uint8)
            self.data[rows] = to_uint8(part)
        else:
            if self.data is None:
                self.data = torch.empty((int(band.shape[0]), h, w), dtype=self.dtype)
            self.data[:, rows] = part

    def result(self) -> Tensor:
        """``[C', h, w]``: uint8 as a view of the ``H x W x C`` array, or float32."""
        assert self.data is not None
        if isinstance(self.data, np.ndarray):
            return torch.from_numpy(self.data).permute(2, 0, 1)
        return self.data


def translate_tiled(
    canvas: Canvas,
    run: RunTiles,
    key: str,
    *,
    max_pixels: int,
    multiple: int,
    min_size: int = 1,
    image_statistics: bool = False,
    dtype: torch.dtype = torch.uint8,
) -> Tensor:
    """Translate one input of any size in tiles of at most ``max_pixels`` pixels.

    The padded image is cut as :func:`plan_tiles` says; each tile is gathered from ``canvas``
    and run (one at a time), the outputs are blended with :func:`blend_weights` one row of
    tiles at a time, and the picture's part of each finished band of rows is stored.

    Args:
        canvas: the decoded input, padded to ``multiple`` (:class:`~img2img.infer.canvas.Canvas`).
        run: the network's test-time pass on a batch of tiles.
        key: the input's name; tile ``(top, left)`` is run as ``f"{key}@{top},{left}"`` (its
            dropout seed).
        max_pixels: the most pixels one pass may hold (tiles and thumbnail).
        multiple: the network's size multiple.
        min_size: the smallest side the network takes.
        image_statistics: normalise every tile with whole-image statistics measured on a
            thumbnail (see the module doc); for networks :func:`uses_image_statistics`.
        dtype: ``torch.uint8`` (the 8-bit values :func:`~img2img.data.io.write_image` would
            store; the whole output is never held as floats) or ``torch.float32``.

    Returns:
        The output ``[C', h, w]`` on the CPU: uint8 0..255 (a view of an ``H x W x C``
        array) or float32 in ``[0, 1]``.
    """
    grid = plan_tiles(*canvas.shape, max_pixels, multiple, min_size)
    stats: list[tuple[Tensor, Tensor]] = []
    if image_statistics:
        stats = _thumbnail_statistics(canvas, run, key, max_pixels, multiple, min_size)
    weights = blend_weights(grid.tile, grid.overlap)
    tile_h, tile_w = grid.tile
    band = _Band(tile_h, grid.width)
    output = _Output(canvas.crop, dtype)
    for i, top in enumerate(grid.tops):
        band.move_to(top)
        for left in grid.lefts:
            tile = canvas.window(top, left, tile_h, tile_w)
            with FrozenStatistics(stats) if stats else contextlib.nullcontext():
                out = run(tile, [f"{key}@{top},{left}"]).float().cpu()
            band.add(out, weights, left)
            out_channels = out.shape[1]
            del out, tile
        end = grid.tops[i + 1] if i + 1 < len(grid.tops) else grid.height
        step = max(1, _FINISHED_VALUES // max(1, int(out_channels) * grid.width))
        for first in range(0, end - top, step):  # a few rows at a time: no whole band of floats
            output.write(top + first, band.blended(first, min(first + step, end - top)))
    return output.result()


def _thumbnail_statistics(
    canvas: Canvas, run: RunTiles, key: str, max_pixels: int, multiple: int, min_size: int,
) -> list[tuple[Tensor, Tensor]]:
    size = thumbnail_size(canvas.crop[2], canvas.crop[3], max_pixels, multiple)
    thumbnail = {name: pad_to_multiple(t[None], multiple, min_size)[0]
                 for name, t in canvas.thumbnail(size).items()}
    recorder = RecordStatistics()
    with recorder:
        run(thumbnail, [f"{key}@thumbnail"])
    return recorder.stats
