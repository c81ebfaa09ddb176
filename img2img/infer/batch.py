"""One batch through an inference model: what translating images and video frames shares.

:func:`prepare` turns an input's decoded streams into the network's input (one half of an AB
image, resized, reflect-padded to the generator's multiple); :class:`Translator` runs prepared
inputs of one padded size as a batch, in the model's test-time mode and at a precision, and
crops each result back to its input's size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn

from img2img.data.discover import split_ab
from img2img.data.streams import Stream
from img2img.data.transforms import resize_stream
from img2img.engine.device import autocast
from img2img.infer.padding import crop_back, pad_to_multiple

__all__ = ["SIDES", "Job", "Prepared", "Translatable", "Translator", "prepare"]

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


@dataclass(frozen=True)
class Job:
    """One image (or video) to translate.

    Attributes:
        src: the input file.
        dst: the output file.
        key: the input's path relative to the input folder, with ``/`` separators; it names
            the input in logs and seeds its dropout masks
            (:func:`~img2img.infer.stochastic.image_seed`).
        variant: which of the model's outputs for this input it is (``""``: the only one).
    """

    src: Path
    dst: Path
    key: str
    variant: str = ""


@dataclass
class Prepared:
    """A decoded input (all its streams), padded to the generator's multiple."""

    job: Job
    streams: dict[str, Tensor]  # name -> C x H x W, padded; the first is the input file's
    size: tuple[int, int]  # (h, w) to crop back to

    @property
    def batch_key(self) -> tuple:
        """Inputs that can share a batch: the same streams of the same shapes."""
        return tuple((name, *t.shape) for name, t in self.streams.items())


def prepare(
    job: Job, model: Translatable, decoded: Mapping[str, Tensor], size: int | None,
    side: str | None,
) -> Prepared:
    """Cut the ``side`` half of the first stream, resize every stream to its size (or ``size``
    x ``size``) and reflect-pad them to ``model.size_multiple``.

    Args:
        job: the input.
        model: the model the input is for (its streams' kinds and size multiple).
        decoded: ``{stream name: C x H x W}``, the input file's stream first.
        size: resize to ``size`` x ``size``; None keeps the first stream's size.
        side: ``"A"`` or ``"B"``: the first stream is a side-by-side AB image; take that half.
    """
    (first, image), *companions = decoded.items()
    if side is not None:
        image = split_ab(image, job.src)[SIDES.index(side)]
    hw = (size, size) if size is not None else tuple(image.shape[-2:])
    kinds = {s.name: s.kind for s in model.input_streams}
    streams, crop = {}, hw
    for name, tensor in [(first, image), *companions]:
        resized = resize_stream(tensor, hw, kinds[name])
        padded, crop = pad_to_multiple(resized.unsqueeze(0), model.size_multiple)
        streams[name] = padded[0].contiguous()
    return Prepared(job, streams, crop)


class Translator:
    """Runs batches of prepared inputs through the model on ``device`` at ``precision``."""

    def __init__(self, model: Translatable, device: torch.device, precision: str) -> None:
        self.model = model
        self.device = device
        self.precision = precision

    def __call__(self, items: Sequence[Prepared]) -> Iterator[tuple[Job, Tensor]]:
        """Translate ``items`` (all of one :attr:`Prepared.batch_key`) and yield each cropped
        result, ``out_channels x h x w`` in ``[0, 1]`` on the CPU."""
        inputs = {}
        for name in items[0].streams:
            batch = torch.stack([item.streams[name] for item in items])
            if self.device.type == "cuda":
                batch = batch.pin_memory()
            inputs[name] = batch.to(self.device, non_blocking=True)
        keys = [item.job.key for item in items]
        variants = [item.job.variant for item in items]
        with torch.inference_mode(), autocast(self.device, self.precision):
            x = self.model.encode_streams(inputs, keys, variants)
            y = self.model.run(x, keys)
        y = self.model.decode(y).clamp_(0.0, 1.0).cpu()
        out_channels = self.model.out_channels
        shape = next(iter(inputs.values())).shape
        if y.shape[1] != out_channels or y.shape[-2:] != shape[-2:]:
            raise RuntimeError(
                f"the generator turned a batch {tuple(shape)} into {tuple(y.shape)}; "
                f"expected {out_channels} channels and the same height and width"
            )
        for item, out in zip(items, y, strict=True):
            yield item.job, crop_back(out, item.size).contiguous()
