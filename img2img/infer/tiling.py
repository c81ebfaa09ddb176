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

With dropout on (the pix2pix paper's test mode) each tile draws its own dropout masks, seeded
from the image's key and the tile's place: the result is deterministic, but it is another draw
of the noise than the untiled image gets.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from img2img.infer.padding import crop_back, pad_to_multiple
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

#: ``run(tiles, keys)``: a batch ``[N, C, h, w]`` in ``[0, 1]`` to its output in ``[0, 1]``
RunTiles = Callable[[Tensor, Sequence[str]], Tensor]
#: resize ``[C, H, W]`` to ``(h, w)`` (bicubic for pictures, nearest for id maps)
Resize = Callable[[Tensor, tuple[int, int]], Tensor]


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


# --- the tiled pass -------------------------------------------------------------------------------
def translate_tiled(
    image: Tensor,
    run: RunTiles,
    key: str,
    *,
    max_pixels: int,
    multiple: int,
    size: tuple[int, int] | None = None,
    min_size: int = 1,
    image_statistics: bool = False,
    resize: Resize | None = None,
) -> Tensor:
    """Translate one image of any size in tiles of at most ``max_pixels`` pixels.

    The image is reflect-padded to ``multiple`` (unless it already is, as
    :func:`~img2img.infer.padding.pad_to_multiple` leaves it), cut as :func:`plan_tiles`
    says, each tile is run (one at a time) and the outputs are blended with
    :func:`blend_weights`; the result is cropped back to the image's own size.

    Args:
        image: the decoded input ``[C, H, W]`` in ``[0, 1]`` (or integer ids).
        run: the network's test-time pass on a batch of tiles.
        key: the image's name; tile ``(top, left)`` is run as ``f"{key}@{top},{left}"`` (its
            dropout seed).
        max_pixels: the most pixels one pass may hold (tiles and thumbnail).
        multiple: the network's size multiple.
        size: the ``(h, w)`` of the picture inside an ``image`` that is already padded (what
            ``pad_to_multiple`` returned); None when ``image`` is not padded.
        min_size: the smallest side the network takes.
        image_statistics: normalise every tile with whole-image statistics measured on a
            thumbnail (see the module doc); for networks :func:`uses_image_statistics`.
        resize: how to shrink the image into that thumbnail; required with
            ``image_statistics``.

    Returns:
        The output ``[C', h, w]`` in ``[0, 1]`` (float32, on the CPU).
    """
    if size is None:
        padded, size = pad_to_multiple(image.unsqueeze(0), multiple, min_size)
    else:
        padded = image.unsqueeze(0)
    grid = plan_tiles(int(padded.shape[-2]), int(padded.shape[-1]), max_pixels, multiple,
                      min_size)
    stats: list[tuple[Tensor, Tensor]] = []
    if image_statistics:
        if resize is None:
            raise ValueError("translate_tiled: image_statistics needs a resize function")
        picture = crop_back(padded, size)[0]  # a view: the thumbnail sees no padding
        stats = _thumbnail_statistics(picture, run, key, max_pixels, multiple, min_size, resize)
    weights = blend_weights(grid.tile, grid.overlap)
    total: Tensor | None = None
    weight_sum = torch.zeros((1, 1, grid.height, grid.width))
    tile_h, tile_w = grid.tile
    for top, left in grid.windows():
        tile = padded[..., top : top + tile_h, left : left + tile_w]
        with FrozenStatistics(stats) if stats else contextlib.nullcontext():
            out = run(tile, [f"{key}@{top},{left}"]).float().cpu()
        if total is None:
            total = torch.zeros((1, out.shape[1], grid.height, grid.width))
        total[..., top : top + tile_h, left : left + tile_w].addcmul_(out, weights)
        weight_sum[..., top : top + tile_h, left : left + tile_w] += weights
        del out
    assert total is not None
    return crop_back(total.div_(weight_sum), size)[0]


def _thumbnail_statistics(
    image: Tensor, run: RunTiles, key: str, max_pixels: int, multiple: int, min_size: int,
    resize: Resize,
) -> list[tuple[Tensor, Tensor]]:
    size = thumbnail_size(int(image.shape[-2]), int(image.shape[-1]), max_pixels, multiple)
    thumbnail, _ = pad_to_multiple(resize(image, size).unsqueeze(0), multiple, min_size)
    recorder = RecordStatistics()
    with recorder:
        run(thumbnail, [f"{key}@thumbnail"])
    return recorder.stats
