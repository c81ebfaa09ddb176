"""Datasets of named streams, and the paired (A, B) dataset behind pix2pix built on them."""

from __future__ import annotations

import logging
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from img2img.config import DataConfig, check_channels
from img2img.data.discover import Pair, PairedFiles, find_pairs, split_ab
from img2img.data.io import ImageReadError, read_image, to_channels
from img2img.data.seeding import mix_seed
from img2img.data.streams import Stream, stream_kinds
from img2img.data.transforms import StreamTransform, resize_bicubic

log = logging.getLogger(__name__)

Sample = dict[str, Any]

class UnreadableDatasetError(ValueError):
    """Not one example of a dataset could be decoded."""


@dataclass(frozen=True)
class StreamFiles:
    """The files of one example.

    Attributes:
        key: the example's name (usually its relative stem), returned as the sample's ``"key"``.
        files: the file of each stream, by stream name.
    """

    key: str
    files: Mapping[str, Path]


def dataset_files(dataset: Any) -> frozenset[Path]:
    """Every file a dataset reads: one offering ``items`` of :class:`StreamFiles` (a
    :class:`StreamDataset`, or any family's dataset that lists its files so)."""
    return frozenset(p for item in dataset.items for p in item.files.values())


def parse_sample_key(key: int | tuple[int, int], count: int, seed: int) -> tuple[int, int]:
    """``(index, sample_seed)`` of a dataset key: an index, or ``(index, sample_seed)``.

    A plain index (negative ones count from the end) gets the seed ``mix_seed(seed, index)``.

    Raises:
        TypeError: a tuple that is not a pair.
        IndexError: the index is outside a dataset of ``count`` examples.
    """
    if isinstance(key, tuple):
        if len(key) != 2:
            raise TypeError(f"expected an index or (index, sample_seed), got {key!r}")
        index, sample_seed = operator.index(key[0]), operator.index(key[1])
    else:
        index = operator.index(key)
        sample_seed = None
    if index < 0:
        index += count
    if not 0 <= index < count:
        raise IndexError(f"index {key!r} is out of range for a dataset of {count} examples")
    if sample_seed is None:
        sample_seed = mix_seed(seed, index)
    return index, sample_seed


class StreamDataset(Dataset[Sample]):
    """Examples made of named streams, read by kind and augmented with one shared transform.

    Construction only stores the file lists. ``dataset[i]`` or ``dataset[(i, sample_seed)]``
    decodes example ``i`` and transforms all its streams with one generator seeded by
    ``sample_seed`` (for a plain ``i``, a seed derived from the dataset seed and ``i``), so a
    sample is a pure function of its key.

    A file that fails to decode is logged once, remembered, listed in :attr:`skipped`, and the
    sample is replaced by the next readable example (wrapping around), with the same seed. A
    loader's workers report the files their copies skipped (see
    :attr:`~img2img.data.sampler.Loader.skipped`).

    Args:
        items: one :class:`StreamFiles` per example, e.g. from a discovery step.
        streams: the streams of a sample, in order; the first one's size is the reference the
            others are resized to.
        transform: the resize / crop / flip shared by the streams.
        seed: base seed for integer keys.
        source: names the data in log and error messages, e.g. ``"datasets/facades [train]"``.
        layout: how discovery found the files, in words (shown by ``datasets check``).
        unmatched: files discovery left out because they have no partner (reported by
            ``datasets check``).

    Returns from ``__getitem__``: ``{stream name: tensor, "key": the example's key}``. Image
    streams are float32 ``C x H x W`` in ``[-1, 1]``, id streams int64 ``1 x H x W``.

    Raises:
        ValueError: streams are missing or share a name, or an example lacks a stream's file.
    """

    def __init__(
        self,
        items: Sequence[StreamFiles],
        streams: Sequence[Stream],
        transform: StreamTransform,
        seed: int = 0,
        source: str = "dataset",
        layout: str = "",
        unmatched: Sequence[Path] = (),
    ) -> None:
        self.kinds = stream_kinds(streams)
        self.streams = tuple(streams)
        self.items = list(items)
        self.transform = transform
        self.seed = seed
        self.source = source
        self.layout = layout
        self.unmatched = list(unmatched)
        for item in self.items:
            missing = [name for name in self.kinds if name not in item.files]
            if missing:
                raise ValueError(
                    f"{source}: example {item.key!r} has no file for stream(s) "
                    f"{', '.join(missing)}; expected one file per stream ({', '.join(self.kinds)})"
                )
        self._bad: set[int] = set()  # examples with a file that failed
        self._skipped: dict[Path, str] = {}

    @property
    def skipped(self) -> list[Path]:
        """Files that failed to decode in this process, in the order they were met."""
        return list(self._skipped)

    def __len__(self) -> int:
        return len(self.items)

    def load(self, item: StreamFiles) -> dict[str, torch.Tensor]:
        """Decode one example's streams, before the transform.

        Raises:
            ImageReadError: a file cannot be read.
        """
        return {stream.name: stream.read(item.files[stream.name]) for stream in self.streams}

    def __getitem__(self, key: int | tuple[int, int]) -> Sample:
        index, sample_seed = self._parse_key(key)
        count = len(self.items)
        for offset in range(count):
            i = (index + offset) % count
            if i in self._bad:
                continue
            item = self.items[i]
            try:
                decoded = self.load(item)
            except ImageReadError as exc:
                self._mark_bad(i, exc)
                continue
            generator = torch.Generator().manual_seed(sample_seed)
            out = self.transform(decoded, self.kinds, generator)
            sample: Sample = {s.name: s.to_sample(out[s.name]) for s in self.streams}
            sample["key"] = item.key
            return sample
        first = "; ".join(f"{p}: {reason}" for p, reason in list(self._skipped.items())[:3])
        raise UnreadableDatasetError(
            f"{self.source}: none of the {count} examples could be read; first failures: "
            f"{first}"
        )

    def _parse_key(self, key: int | tuple[int, int]) -> tuple[int, int]:
        return parse_sample_key(key, len(self.items), self.seed)

    def _mark_bad(self, index: int, exc: ImageReadError) -> None:
        self._bad.add(index)
        if exc.path not in self._skipped:
            self._skipped[exc.path] = exc.reason
            log.warning("skipping %s: %s", exc.path, exc.reason)

    def __repr__(self) -> str:
        streams = ", ".join(f"{s.name}:{s.kind}" for s in self.streams)
        return f"{type(self).__name__}(source={self.source!r}, examples={len(self)}, {streams})"


def check_image_options(cfg: DataConfig, input_nc: int, output_nc: int) -> None:
    """Fail on channel counts other than 1 or 3, or a ``max_dataset_size`` below 1."""
    check_channels("input_nc", input_nc)
    check_channels("output_nc", output_nc)
    if cfg.max_dataset_size is not None and cfg.max_dataset_size < 1:
        raise ValueError(
            f"max_dataset_size: {cfg.max_dataset_size!r} is not valid; expected >= 1 or None"
        )


class PairedImageDataset(StreamDataset):
    """Aligned image pairs from any layout :func:`~img2img.data.discover.find_pairs` accepts.

    Two image streams, ``"A"`` (the network input) and ``"B"`` (the target), with the behaviour
    of :class:`StreamDataset`. A side-by-side file is split at ``W // 2``; when its width is odd,
    the B part is resized to A's size.

    Args:
        cfg: where the data is and how to preprocess it; ``direction="BtoA"`` swaps the sides.
        input_nc: channels of the returned ``"A"`` (the network input), 1 or 3.
        output_nc: channels of the returned ``"B"`` (the target), 1 or 3.
        seed: base seed for integer keys.

    Returns from ``__getitem__``: ``{"A": input_nc x H x W, "B": output_nc x H x W`` float32 in
    ``[-1, 1]``, ``"key": relative stem}``; unreadable files are listed in :attr:`skipped`.
    """

    def __init__(
        self, cfg: DataConfig, input_nc: int = 3, output_nc: int = 3, seed: int = 0
    ) -> None:
        check_image_options(cfg, input_nc, output_nc)
        self.cfg = cfg
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.swap = cfg.direction == "BtoA"
        self.files: PairedFiles = find_pairs(Path(cfg.root), cfg.phase)
        self.pairs: list[Pair] = self.files.pairs[: cfg.max_dataset_size]
        super().__init__(
            [self._stream_files(pair) for pair in self.pairs],
            (Stream("A", "image", input_nc), Stream("B", "image", output_nc)),
            StreamTransform(cfg.preprocess, cfg.load_size, cfg.crop_size, cfg.flip),
            seed=seed,
            source=f"{cfg.root} [{cfg.phase}]",
            layout=self.files.layout,
            unmatched=self.files.unpaired_a + self.files.unpaired_b,
        )
        log.info(
            "%s [%s]: %d pairs, layout %s", cfg.root, cfg.phase, len(self.pairs), self.files.layout
        )

    def _stream_files(self, pair: Pair) -> StreamFiles:
        b = pair.a if pair.b is None else pair.b  # side by side: both streams in one file
        a, b = (b, pair.a) if self.swap else (pair.a, b)
        return StreamFiles(pair.key, {"A": a, "B": b})

    def load(self, item: StreamFiles) -> dict[str, torch.Tensor]:
        """Decode a pair; a side-by-side file is read once and split."""
        if not self.files.side_by_side:
            return super().load(item)
        path = item.files["A"]
        gray = self.input_nc == self.output_nc == 1
        both = read_image(path, channels=1 if gray else 3)
        try:
            left, right = split_ab(both, path)
        except ValueError as exc:
            raise ImageReadError(path, str(exc)) from exc
        right = resize_bicubic(right, (left.shape[-2], left.shape[-1]))
        a, b = (right, left) if self.swap else (left, right)
        return {"A": to_channels(a, self.input_nc), "B": to_channels(b, self.output_nc)}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={self.cfg.root!r}, phase={self.cfg.phase!r}, "
            f"pairs={len(self)}, layout={self.layout!r})"
        )
