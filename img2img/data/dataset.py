"""The paired dataset behind pix2pix: (A, B) images with identical augmentation."""

from __future__ import annotations

import logging
import operator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from img2img.config import DataConfig
from img2img.data.discover import Pair, PairedFiles, find_pairs, split_ab
from img2img.data.io import ImageReadError, read_image, to_channels
from img2img.data.ranges import to_model_range
from img2img.data.seeding import mix_seed
from img2img.data.transforms import PairedTransform

log = logging.getLogger(__name__)

Sample = dict[str, Any]

#: joins the unreadable files a sample was substituted for, in its ``"skipped"`` entry
SKIPPED_SEPARATOR = "\n"


class PairedImageDataset(Dataset[Sample]):
    """Aligned image pairs from any layout :func:`~img2img.data.discover.find_pairs` accepts.

    Construction only lists files. ``dataset[i]`` or ``dataset[(i, sample_seed)]`` decodes pair
    ``i`` and augments it with a generator seeded by ``sample_seed`` (for a plain ``i``, a seed
    derived from the dataset seed and ``i``), so a sample is a pure function of its key.

    A file that fails to decode is logged once, remembered, listed in :attr:`skipped`, and the
    sample is replaced by the next readable pair (wrapping around), with the same seed.

    Args:
        cfg: where the data is and how to preprocess it; ``direction="BtoA"`` swaps the sides.
        input_nc: channels of the returned ``"A"`` (the network input), 1 or 3.
        output_nc: channels of the returned ``"B"`` (the target), 1 or 3.
        seed: base seed for integer keys.

    Returns from ``__getitem__``: ``{"A": input_nc x H x W, "B": output_nc x H x W`` float32 in
    ``[-1, 1]``, ``"key": relative stem, "skipped": unreadable files passed over to reach this
    pair, joined by SKIPPED_SEPARATOR (usually "")}``; the trainer reports them, also when
    they were met in a loader worker.
    """

    def __init__(
        self, cfg: DataConfig, input_nc: int = 3, output_nc: int = 3, seed: int = 0
    ) -> None:
        for name, value in (("input_nc", input_nc), ("output_nc", output_nc)):
            if value not in (1, 3):
                raise ValueError(f"{name}: {value!r} is not valid; expected 1 or 3 channels")
        if cfg.max_dataset_size is not None and cfg.max_dataset_size < 1:
            raise ValueError(
                f"max_dataset_size: {cfg.max_dataset_size!r} is not valid; expected >= 1 or None"
            )
        self.cfg = cfg
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.seed = seed
        self.files: PairedFiles = find_pairs(Path(cfg.root), cfg.phase)
        self.pairs: list[Pair] = self.files.pairs[: cfg.max_dataset_size]
        self.transform = PairedTransform(cfg.preprocess, cfg.load_size, cfg.crop_size, cfg.flip)
        self._bad: dict[int, str] = {}  # index -> the file that failed
        self._skipped: dict[Path, str] = {}
        log.info(
            "%s [%s]: %d pairs, layout %s", cfg.root, cfg.phase, len(self.pairs), self.files.layout
        )

    @property
    def layout(self) -> str:
        """The layout :func:`find_pairs` recognised."""
        return self.files.layout

    @property
    def skipped(self) -> list[Path]:
        """Files that failed to decode in this process, in the order they were met."""
        return list(self._skipped)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: int | tuple[int, int]) -> Sample:
        index, sample_seed = self._parse_key(key)
        count = len(self.pairs)
        passed_over: list[str] = []
        for offset in range(count):
            i = (index + offset) % count
            if i in self._bad:
                passed_over.append(self._bad[i])
                continue
            pair = self.pairs[i]
            try:
                a, b = self._load(pair)
            except ImageReadError as exc:
                self._mark_bad(i, exc)
                passed_over.append(self._bad[i])
                continue
            generator = torch.Generator().manual_seed(sample_seed)
            a, b = self.transform(a, b, generator)
            return {
                "A": to_model_range(a),
                "B": to_model_range(b),
                "key": pair.key,
                "skipped": SKIPPED_SEPARATOR.join(passed_over),
            }
        raise RuntimeError(
            f"{self.cfg.root} [{self.cfg.phase}]: none of the {count} pairs could be read; "
            f"first failures: {', '.join(str(p) for p in self.skipped[:3])}"
        )

    def _parse_key(self, key: int | tuple[int, int]) -> tuple[int, int]:
        if isinstance(key, tuple):
            if len(key) != 2:
                raise TypeError(f"expected an index or (index, sample_seed), got {key!r}")
            index, sample_seed = operator.index(key[0]), operator.index(key[1])
        else:
            index = operator.index(key)
            sample_seed = None
        count = len(self.pairs)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"index {key!r} is out of range for a dataset of {count} pairs")
        if sample_seed is None:
            sample_seed = mix_seed(self.seed, index)
        return index, sample_seed

    def _load(self, pair: Pair) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode one pair as (network input, target) in ``[0, 1]``."""
        swap = self.cfg.direction == "BtoA"
        nc_a, nc_b = (self.output_nc, self.input_nc) if swap else (self.input_nc, self.output_nc)
        if pair.b is None:
            both = read_image(pair.a, channels=1 if nc_a == nc_b == 1 else 3)
            try:
                a, b = split_ab(both)
            except ValueError as exc:
                raise ImageReadError(pair.a, str(exc)) from exc
            a, b = to_channels(a, nc_a), to_channels(b, nc_b)
        else:
            a, b = read_image(pair.a, channels=nc_a), read_image(pair.b, channels=nc_b)
        return (b, a) if swap else (a, b)

    def _mark_bad(self, index: int, exc: ImageReadError) -> None:
        self._bad[index] = str(exc.path)
        if exc.path not in self._skipped:
            self._skipped[exc.path] = exc.reason
            log.warning("skipping %s: %s", exc.path, exc.reason)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={self.cfg.root!r}, phase={self.cfg.phase!r}, "
            f"pairs={len(self)}, layout={self.layout!r})"
        )
