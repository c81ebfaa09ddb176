"""One batch through an inference model: what translating images and video frames shares.

:func:`prepare` turns a decoded image into the network's input (one half of an AB image,
resized, reflect-padded to the generator's multiple); :class:`Translator` runs prepared images
of one padded size as a batch, in the model's test-time mode and at a precision, and crops
each result back to its image's size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn

from img2img.data.discover import split_ab
from img2img.data.streams import Stream
from img2img.data.transforms import resize_bicubic, resize_nearest
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
    def input_stream(self) -> Stream: ...

    @property
    def size_multiple(self) -> int: ...

    @property
    def networks(self) -> dict[str, nn.Module]: ...

    def encode(self, images: Tensor) -> Tensor: ...

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
            the image in logs and seeds its dropout masks
            (:func:`~img2img.infer.stochastic.image_seed`).
    """

    src: Path
    dst: Path
    key: str


@dataclass
class Prepared:
    """A decoded image, padded to the generator's multiple."""

    job: Job
    image: Tensor  # C x H x W, padded
    size: tuple[int, int]  # (h, w) to crop back to


def prepare(
    image: Tensor, job: Job, stream: Stream, size_multiple: int, size: int | None,
    side: str | None,
) -> Prepared:
    """Cut the ``side`` half of ``image`` (``C x H x W``), resize it to ``size`` x ``size`` and
    reflect-pad it to ``size_multiple``."""
    if side is not None:
        image = split_ab(image, job.src)[SIDES.index(side)]
    if size is not None:
        image = (resize_nearest if stream.is_ids else resize_bicubic)(image, (size, size))
    padded, hw = pad_to_multiple(image.unsqueeze(0), size_multiple)
    return Prepared(job, padded[0].contiguous(), hw)


class Translator:
    """Runs batches of prepared images through the model on ``device`` at ``precision``."""

    def __init__(self, model: Translatable, device: torch.device, precision: str) -> None:
        self.model = model
        self.device = device
        self.precision = precision

    def __call__(self, items: Sequence[Prepared]) -> Iterator[tuple[Job, Tensor]]:
        """Translate ``items`` (all of one padded size) and yield each cropped result,
        ``out_channels x h x w`` in ``[0, 1]`` on the CPU."""
        batch = torch.stack([item.image for item in items])
        if self.device.type == "cuda":
            batch = batch.pin_memory()
        keys = [item.job.key for item in items]
        with torch.inference_mode(), autocast(self.device, self.precision):
            x = self.model.encode(batch.to(self.device, non_blocking=True))
            y = self.model.run(x, keys)
        y = self.model.decode(y).clamp_(0.0, 1.0).cpu()
        out_channels = self.model.out_channels
        if y.shape[1] != out_channels or y.shape[-2:] != batch.shape[-2:]:
            raise RuntimeError(
                f"the generator turned a batch {tuple(batch.shape)} into {tuple(y.shape)}; "
                f"expected {out_channels} channels and the same height and width"
            )
        for item, out in zip(items, y, strict=True):
            yield item.job, crop_back(out, item.size).contiguous()
