"""One batch through an inference model: what translating images and video frames shares.

:func:`prepare` turns an input's decoded streams into the network's input (one half of an AB
image, resized, reflect-padded to the generator's multiple); :class:`Translator` runs prepared
inputs of one padded size as a batch, in the model's test-time mode and at a precision, and
crops each result back to its input's size. A batch that runs out of memory is retried input
by input, and an input in tiles (:mod:`img2img.infer.tiling`), smaller ones after each
out-of-memory; an input that fits nowhere gets the reason instead of an output. An input over
the pixel budget is never padded or converted as a whole: it stays as decoded in a
:class:`~img2img.infer.canvas.Canvas` and goes through in tiles.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn

from img2img.data.discover import split_ab
from img2img.data.streams import Stream
from img2img.data.transforms import resize_bicubic, resize_stream
from img2img.engine.device import autocast, is_out_of_memory, release_memory
from img2img.infer.canvas import Canvas, as_network_input
from img2img.infer.padding import crop_back, pad_to_multiple, padded_size
from img2img.infer.plan import Job
from img2img.infer.resizing import NO_RESIZING, Resizing
from img2img.infer.tiling import translate_tiled, uses_image_statistics
from img2img.infer.transfer import Download, Staging
from img2img.nn.sizes import next_multiple

__all__ = [
    "SIDES", "Launched", "Prepared", "Result", "Translatable", "Translator", "first_line",
    "prepare",
]

log = logging.getLogger(__name__)

#: halves of a side-by-side AB image, left to right
SIDES = ("A", "B")


class Translatable(Protocol):
    """What translation needs of a model (:class:`img2img.models.inference.InferenceModel`)."""

    in_channels: int
    out_channels: int

    @property
    def input_streams(self) -> tuple[Stream, ...]: ...

    @property
    def variants(self) -> tuple[str, ...]: ...

    @property
    def size_multiple(self) -> int: ...

    @property
    def networks(self) -> dict[str, nn.Module]: ...

    def input_files(self, src: Path, key: str) -> dict[str, Path]: ...

    def encode_streams(
        self, inputs: Mapping[str, Tensor], keys: Sequence[str], variants: Sequence[str]
    ) -> Tensor: ...

    def decode(self, output: Tensor) -> Tensor: ...

    def run(self, x: Tensor, keys: Sequence[str]) -> Tensor: ...

    def describe_mode(self) -> str: ...


@dataclass
class Prepared:
    """A decoded input (all its streams), padded to the generator's multiple, or kept as
    decoded in a canvas for the tiled pass; not yet decoded when deferred (too large to decode
    ahead of its turn)."""

    job: Job
    streams: dict[str, Tensor] | None  # name -> C x H x W, padded; the first is the input
    # file's. None: deferred, or in the canvas
    size: tuple[int, int]  # (h, w) to crop back to
    canvas: Canvas | None = None  # over the pixel budget: translated in tiles from here
    restore: tuple[int, int] | None = None  # (h, w) the output is resized back to

    @property
    def deferred(self) -> bool:
        """Not decoded yet."""
        return self.streams is None and self.canvas is None

    @property
    def batch_key(self) -> tuple:
        """Inputs that can share a batch: the same streams of the same shapes."""
        assert self.streams is not None
        return tuple((name, *t.shape) for name, t in self.streams.items())

    @property
    def pixels(self) -> int:
        """Pixels the network sees (the padded input)."""
        if self.canvas is not None:
            return self.canvas.pixels
        assert self.streams is not None
        first = next(iter(self.streams.values()))
        return int(first.shape[-2]) * int(first.shape[-1])


def min_size(model: Translatable) -> int:
    """The smallest side ``model``'s networks take (inputs are padded up to it)."""
    return int(getattr(model, "min_size", 1))


def prepare(
    job: Job, model: Translatable, decoded: Mapping[str, Tensor],
    resizing: Resizing | None, side: str | None, tile_over: int | None = None,
) -> Prepared:
    """Cut the ``side`` half of the first stream, resize every stream to its size (or the size
    ``resizing`` gives it) and reflect-pad them to ``model.size_multiple`` (and at least the
    network's smallest side).

    Args:
        job: the input.
        model: the model the input is for (its streams' kinds and size multiple).
        decoded: ``{stream name: C x H x W}``, the input file's stream first; pictures as
            float32 in ``[0, 1]`` or uint8 0..255 (:func:`~img2img.data.io.read_pixels`).
        resizing: the size to translate at (:class:`~img2img.infer.resizing.Resizing`),
            and whether the output goes back to the input's; None keeps the first stream's.
        side: ``"A"`` or ``"B"``: the first stream is a side-by-side AB image; take that half.
        tile_over: an input whose padded size has more pixels than this is not padded: it is
            kept as decoded (resized if need be) in a :class:`~img2img.infer.canvas.Canvas`,
            for :meth:`Translator.in_tiles`. None: never.
    """
    (first, image), *companions = decoded.items()
    if side is not None:
        image = split_ab(image, job.src)[SIDES.index(side)]
    resizing = resizing or NO_RESIZING
    own = (int(image.shape[-2]), int(image.shape[-1]))
    hw = resizing.target(*own)
    restore = own if resizing.restore and hw != own else None
    kinds = {s.name: s.kind for s in model.input_streams}
    smallest = min_size(model)
    named = [(first, image), *companions]
    hp, wp = padded_size(*hw, model.size_multiple, smallest)
    if tile_over and hp * wp > tile_over:
        kept = {name: t if tuple(t.shape[-2:]) == hw
                else resize_stream(as_network_input(t, kinds[name]), hw, kinds[name])
                for name, t in named}
        return Prepared(job, None, hw, Canvas.padded(kept, kinds, model.size_multiple, smallest),
                        restore)
    streams, crop = {}, hw
    for name, tensor in named:
        resized = resize_stream(as_network_input(tensor, kinds[name]), hw, kinds[name])
        padded, crop = pad_to_multiple(resized.unsqueeze(0), model.size_multiple, smallest)
        del resized
        streams[name] = padded[0].contiguous()
    return Prepared(job, streams, crop, restore=restore)


#: what a translation gives for one input: the output, or why there is none
Result = tuple[Job, "Tensor | str"]


class Translator:
    """Runs batches of prepared inputs through the model on ``device`` at ``precision``; an
    input too large for one pass, or one that runs out of memory, goes through in tiles.

    Attributes:
        tiled: the inputs that were translated in tiles.
    """

    def __init__(self, model: Translatable, device: torch.device, precision: str,
                 overlap: bool | None = None) -> None:
        self.model = model
        #: batches through :meth:`launch` overlap (reused host buffers, side-stream copies
        #: back): on CUDA by default; on the CPU each batch is done before the next starts
        self.overlap = device.type == "cuda" if overlap is None else overlap
        self.staging = Staging(device) if self.overlap else None
        self.device = device
        self.precision = precision
        self.multiple = model.size_multiple
        self.min_size = min_size(model)
        smallest = next_multiple(self.min_size, self.multiple)
        self.smallest_tile = smallest * smallest
        nets = list(model.networks.values())
        self.image_statistics = uses_image_statistics(nets, getattr(model, "test_mode", None))
        self.kinds = {stream.name: stream.kind for stream in model.input_streams}
        self.tiled: list[Path] = []

    def _compute(self, inputs: Mapping[str, Tensor], keys: Sequence[str],
                 variants: Sequence[str], stage: bool) -> Tensor:
        """The model's test-time output for a batch, in ``[0, 1]``, left on the device;
        uploaded through :attr:`staging` when ``stage``."""
        if stage and self.staging is not None:
            moved = self.staging.upload(inputs)
        else:
            moved = {name: batch.to(self.device) for name, batch in inputs.items()}
        with torch.inference_mode(), autocast(self.device, self.precision):
            x = self.model.encode_streams(moved, keys, variants)
            y = self.model.run(x, keys)
        y = self.model.decode(y).clamp_(0.0, 1.0)
        out_channels = self.model.out_channels
        shape = next(iter(inputs.values())).shape
        if y.shape[1] != out_channels or y.shape[-2:] != shape[-2:]:
            raise RuntimeError(
                f"the generator turned a batch {tuple(shape)} into {tuple(y.shape)}; "
                f"expected {out_channels} channels and the same height and width"
            )
        return y

    def forward(self, inputs: Mapping[str, Tensor], keys: Sequence[str],
                variants: Sequence[str]) -> Tensor:
        """The model's test-time output for a batch of streams (``[N, C, H, W]`` each, images
        in ``[0, 1]``): ``[N, C', H, W]`` in ``[0, 1]``, float32 on the CPU, in memory of its
        own (tiles: each pass is done before the next)."""
        return self._compute(inputs, keys, variants, stage=False).cpu()

    def launch(self, items: Sequence[Prepared]) -> Launched:
        """Start translating ``items`` (all of one :attr:`Prepared.batch_key`); with
        :attr:`overlap`, the output is still on its way back when this returns, and the next
        batch can start: take the results (:meth:`Launched.results`) before launching the
        one after it. Without, the results are there already."""
        try:
            inputs = {name: torch.stack([item.streams[name] for item in items])  # type: ignore[index]
                      for name in items[0].streams or {}}
            y = self._compute(inputs, [item.job.key for item in items],
                              [item.job.variant for item in items], stage=True)
            if self.staging is None:
                return Launched(items, output=y.cpu())
            return Launched(items, download=self.staging.download(y))
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            reason = first_line(exc)
        return Launched(items, results=self._out_of_memory(items, reason))

    def __call__(self, items: Sequence[Prepared]) -> list[Result]:
        """Translate ``items`` (all of one :attr:`Prepared.batch_key`); each result cropped
        back to its input's size, ``out_channels x h x w`` on the CPU (float32 in ``[0, 1]``,
        or uint8 0..255 when it went through in tiles), or the reason there is none."""
        return self.launch(items).results()

    def _out_of_memory(self, items: Sequence[Prepared], reason: str) -> list[Result]:
        """``items`` again after an out-of-memory: one by one, a single one in tiles."""
        release_memory(self.device)
        if len(items) > 1:
            log.warning("out of memory on a batch of %d images; translating them one by one",
                        len(items))
            return [result for item in items for result in self([item])]
        item = items[0]
        log.warning("%s: out of memory (%s); translating it in tiles", item.job.src, reason)
        return [(item.job, self.in_tiles(item, item.pixels // 4, reason))]

    def tiled_output(self, item: Prepared, budget: int) -> Tensor | str:
        """:meth:`in_tiles`, resized back to the input's size if ``item`` asks for it."""
        out = self.in_tiles(item, budget)
        return out if isinstance(out, str) else restored(out, item.restore)

    def in_tiles(self, item: Prepared, budget: int, reason: str = "") -> Tensor | str:
        """``item`` translated in tiles of at most ``budget`` pixels, a quarter of that after
        each out-of-memory; the reason it failed once even the smallest tiles do not fit.

        The output is uint8 ``out_channels x h x w`` (0..255, the values
        :func:`~img2img.data.io.write_image` stores): a huge output is never held as floats.
        """
        canvas = item.canvas
        if canvas is None:
            assert item.streams is not None
            canvas = Canvas.of_padded(item.streams, self.kinds, item.size)
        variant = item.job.variant

        def run(tiles: Mapping[str, Tensor], keys: Sequence[str]) -> Tensor:
            return self.forward(tiles, keys, [variant] * len(keys))

        tile_side = 0
        while budget >= self.smallest_tile:
            try:
                out = translate_tiled(
                    canvas, run, item.job.key, max_pixels=budget, multiple=self.multiple,
                    min_size=self.min_size, image_statistics=self.image_statistics,
                )
                self.tiled.append(item.job.src)
                return out
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                reason = first_line(exc)
            release_memory(self.device)
            tile_side = math.isqrt(budget)
            budget //= 4
            log.warning("%s: out of memory in tiles of about %dx%d; trying smaller ones",
                        item.job.src, tile_side, tile_side)
        return (
            f"out of memory even in tiles of about {tile_side}x{tile_side} pixels ({reason}); "
            "lower --batch-size or --max-pixels, or translate on another device"
        )


class Launched:
    """A batch :meth:`Translator.launch` started: its output on the CPU, on its way back
    there (``download``, in a reused buffer), or its results already."""

    def __init__(self, items: Sequence[Prepared], *, output: Tensor | None = None,
                 download: Download | None = None, results: list[Result] | None = None) -> None:
        self.items = items
        self.output = output
        self.download = download
        self._results = results

    def results(self) -> list[Result]:
        """Each input's output cropped back to its size (in memory of its own), or the
        reason there is none; waits for the copy back."""
        if self._results is None:
            if self.download is not None:  # the buffer is reused: copy each crop out of it
                y = self.download.wait()
                crops = [crop_back(out, item.size).clone(memory_format=torch.contiguous_format)
                         for item, out in zip(self.items, y, strict=True)]
            else:
                assert self.output is not None
                crops = [crop_back(out, item.size).contiguous()
                         for item, out in zip(self.items, self.output, strict=True)]
            self._results = [(item.job, restored(crop, item.restore))
                             for item, crop in zip(self.items, crops, strict=True)]
            self.output = self.download = None
        return self._results


def restored(image: Tensor, size: tuple[int, int] | None) -> Tensor:
    """``image`` (``C x H x W``, float in ``[0, 1]`` or uint8) resized bicubic to ``size``
    (float in ``[0, 1]``); unchanged for None."""
    if size is None or tuple(image.shape[-2:]) == size:
        return image
    if image.dtype == torch.uint8:
        image = image.float().div_(255.0)
    return resize_bicubic(image, size)


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
