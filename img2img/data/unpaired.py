"""Unpaired data (CycleGAN): a set of A images and a set of B images, drawn independently.

:func:`find_unpaired` accepts every layout :func:`~img2img.data.discover.find_pairs` does
(``trainA/`` + ``trainB/``, ``train/A`` + ``train/B``, ``A/`` + ``B/`` ...) without matching
names; side-by-side files give their left halves as A and their right halves as B, so paired
data trains an unpaired model too (the pairing is ignored).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from img2img.config import DataConfig, RunConfig
from img2img.data.dataset import (
    Sample,
    StreamDataset,
    StreamFiles,
    check_image_options,
    parse_sample_key,
)
from img2img.data.discover import DatasetLayoutError, SplitFiles, locate_split, split_ab
from img2img.data.io import ImageReadError
from img2img.data.seeding import mix_seed
from img2img.data.streams import Stream
from img2img.data.transforms import StreamTransform

log = logging.getLogger(__name__)

#: which half of a side-by-side file each side is
_HALF = {"A": 0, "B": 1}


def find_unpaired(root: str | os.PathLike[str], phase: str) -> SplitFiles:
    """The A images and the B images of the ``phase`` split, not paired.

    Layouts are tried in the order of :func:`~img2img.data.discover.accepted_layouts`; the A
    and B folders need not share a single file name.

    Raises:
        DatasetLayoutError: no images in any accepted layout, or one of the two folders holds
            none.
    """
    split = locate_split(root, phase)
    if split.dir_b is not None and not (split.files_a and split.files_b):
        empty = split.dir_b if split.files_a else split.dir_a
        raise DatasetLayoutError(
            f"{empty} holds no images ({len(split.files_a)} A and {len(split.files_b)} B images "
            f"in layout {split.layout}); expected images on both sides",
            split.root,
            phase,
        )
    return split


class _HalfImages(StreamDataset):
    """One side of side-by-side files: the left (A) or right (B) half of each file."""

    def __init__(self, items: Sequence[StreamFiles], stream: Stream, half: int,
                 transform: StreamTransform, source: str) -> None:
        super().__init__(items, (stream,), transform, source=source)
        self.half = half

    def load(self, item: StreamFiles) -> dict[str, torch.Tensor]:
        stream = self.streams[0]
        path = item.files[stream.name]
        image = stream.read(path)
        try:
            halves = split_ab(image, path)
        except ValueError as exc:
            raise ImageReadError(Path(path), str(exc)) from exc
        return {stream.name: halves[self.half]}


class UnpairedImageDataset(Dataset[Sample]):
    """A images and B images, each example an A image with a B image drawn for it.

    An epoch holds ``max(|A|, |B|)`` examples: example ``i`` is A image ``i mod |A|`` with a B
    image drawn at random (from the example's seed, so the draw is reproducible and resumes
    exactly), or B image ``i mod |B|`` with ``serial_batches``. A and B get their own random
    crop and flip. ``max_dataset_size`` caps each side. Unreadable files are skipped as in
    :class:`~img2img.data.dataset.StreamDataset`.

    Args:
        cfg: where the data is and how to preprocess it; ``direction="BtoA"`` swaps the sides.
        input_nc: channels of the returned ``"A"``, 1 or 3.
        output_nc: channels of the returned ``"B"``, 1 or 3.
        seed: base seed for integer keys.
        serial_batches: take B images in order instead of at random.

    Returns from ``__getitem__``: ``{"A": input_nc x H x W, "B": output_nc x H' x W'`` float32
    in ``[-1, 1]``, ``"key"``: the A image's relative stem, ``"key_B"``: the B image's``}``.
    """

    def __init__(self, cfg: DataConfig, input_nc: int = 3, output_nc: int = 3, seed: int = 0,
                 serial_batches: bool = False) -> None:
        check_image_options(cfg, input_nc, output_nc)
        self.cfg = cfg
        self.seed = seed
        self.serial_batches = serial_batches
        self.files = find_unpaired(Path(cfg.root), cfg.phase)
        transform = StreamTransform(cfg.preprocess, cfg.load_size, cfg.crop_size, cfg.flip)
        sides = {"A": "A", "B": "B"}
        if cfg.direction == "BtoA":
            sides = {"A": "B", "B": "A"}
        channels = {"A": input_nc, "B": output_nc}
        self.sides = {
            name: self._side(Stream(name, "image", channels[name]), sides[name], transform)
            for name in ("A", "B")
        }
        log.info(
            "%s [%s]: %d A and %d B images, layout %s", cfg.root, cfg.phase,
            len(self.sides["A"]), len(self.sides["B"]), self.files.layout,
        )

    def _side(self, stream: Stream, side: str, transform: StreamTransform) -> StreamDataset:
        """The dataset of ``side``'s files (``A`` or ``B`` of the layout), read as ``stream``."""
        files, base = self.files.files_a, self.files.dir_a
        if side == "B" and self.files.dir_b is not None:
            files, base = self.files.files_b, self.files.dir_b
        files = files[: self.cfg.max_dataset_size]
        items = [
            StreamFiles(p.relative_to(base).with_suffix("").as_posix(), {stream.name: p})
            for p in files
        ]
        source = f"{self.cfg.root} [{self.cfg.phase}, {side}]"
        if self.files.side_by_side:
            return _HalfImages(items, stream, _HALF[side], transform, source)
        return StreamDataset(items, (stream,), transform, source=source)

    @property
    def layout(self) -> str:
        """The layout the files were found in."""
        return self.files.layout

    @property
    def streams(self) -> tuple[Stream, ...]:
        """The ``A`` and ``B`` streams."""
        return tuple(side.streams[0] for side in self.sides.values())

    @property
    def items(self) -> list[StreamFiles]:
        """Every file once, as in :class:`~img2img.data.dataset.StreamDataset` (what
        ``datasets check`` reads): A files, then B files; a side-by-side file is one item
        holding both streams."""
        a, b = self.sides["A"].items, self.sides["B"].items
        if self.files.side_by_side:
            return [StreamFiles(i.key, {**i.files, **j.files}) for i, j in zip(a, b, strict=True)]
        return [*a, *b]

    def load(self, item: StreamFiles) -> dict[str, torch.Tensor]:
        """Decode the streams ``item`` holds, before the transform (as its side reads them)."""
        decoded: dict[str, torch.Tensor] = {}
        for name in item.files:
            decoded.update(self.sides[name].load(StreamFiles(item.key, {name: item.files[name]})))
        return decoded

    @property
    def skipped(self) -> list[Path]:
        """Files that failed to decode in this process, A side first."""
        return [*self.sides["A"].skipped, *self.sides["B"].skipped]

    def __len__(self) -> int:
        return max(len(side) for side in self.sides.values())

    def b_index(self, index: int, sample_seed: int) -> int:
        """The B image drawn for example ``index`` with seed ``sample_seed``."""
        count = len(self.sides["B"])
        if self.serial_batches:
            return index % count
        generator = torch.Generator().manual_seed(mix_seed(sample_seed, 1))
        return int(torch.randint(count, (1,), generator=generator))

    def __getitem__(self, key: int | tuple[int, int]) -> Sample:
        index, sample_seed = parse_sample_key(key, len(self), self.seed)
        a = self.sides["A"][(index % len(self.sides["A"]), mix_seed(sample_seed, 0))]
        b = self.sides["B"][(self.b_index(index, sample_seed), mix_seed(sample_seed, 2))]
        return {"A": a["A"], "B": b["B"], "key": a["key"], "key_B": b["key"]}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={self.cfg.root!r}, phase={self.cfg.phase!r}, "
            f"A={len(self.sides['A'])}, B={len(self.sides['B'])}, layout={self.layout!r})"
        )


def run_unpaired_dataset(config: RunConfig, phase: str | None = None) -> UnpairedImageDataset:
    """The unpaired dataset of a run (its ``phase`` split unless one is given), for a model
    config with ``input_nc``, ``output_nc`` and ``serial_batches`` (CycleGAN, CUT)."""
    m = config.model
    data = config.data if phase is None else dataclasses.replace(config.data, phase=phase)
    return UnpairedImageDataset(data, input_nc=m.input_nc, output_nc=m.output_nc,
                                seed=config.train.seed, serial_batches=m.serial_batches)

