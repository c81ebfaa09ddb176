"""Which family's discovery explains a dataset folder, judged on all of its splits at once.

Each registered family's own discovery reads the folder for every split name the folder
suggests (:func:`~img2img.data.splits.split_names`). The family that finds the most splits
wins; between equals, one that leaves more files without a partner than it pairs loses (two
unrelated CycleGAN folders that happen to share a few names are not pairs), and then the
registry's order decides (paired before unpaired). Nothing is decoded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from img2img.config import DataConfig, RunConfig
from img2img.data.dataset import dataset_files
from img2img.families import get_family, list_families, run_config


@dataclass
class FoundSplit:
    """One split a family's discovery found.

    Attributes:
        name: the split (the first name that found these files).
        dataset: the family's dataset of it.
        phases: every split name that finds these same files; several when the layout has no
            split folders (``A/`` + ``B/``, or images directly in the folder).
    """

    name: str
    dataset: Any
    phases: list[str]

    @property
    def flat(self) -> bool:
        """True when the layout has no split folders: every split name finds these files."""
        return len(self.phases) > 1

    @property
    def used(self) -> int:
        """Files its examples read (each file of a pair counted)."""
        return sum(len(item.files) for item in self.dataset.items)

    @property
    def unmatched(self) -> int:
        """Files discovery left out for want of a partner."""
        return len(getattr(self.dataset, "unmatched", ()))


@dataclass
class Reading:
    """What one family's discovery found in a folder.

    Attributes:
        family: the family.
        splits: the splits found, in the order of the names tried.
        failures: ``"[split] why"`` for each name that found nothing.
        records: what discovery logged meanwhile (held back; see :meth:`replay_logs`).
    """

    family: str
    splits: list[FoundSplit] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    records: list[logging.LogRecord] = field(default_factory=list)

    def fit(self) -> tuple[int, bool]:
        """How well the family explains the folder, higher being better: the splits it finds,
        then whether it pairs most of their files (more files without a partner than with one
        says the folder is not paired data)."""
        used = sum(split.used for split in self.splits)
        unmatched = sum(split.unmatched for split in self.splits)
        return len(self.splits), unmatched <= used

    def split_names(self) -> set[str]:
        return {phase for split in self.splits for phase in split.phases}

    def replay_logs(self) -> None:
        """Log what discovery logged while this family read the folder."""
        for record in self.records:
            logging.getLogger(record.name).handle(record)


def family_config(family: str, root: Path, label_nc: int | None = None) -> RunConfig:
    """A run configuration of ``family`` with its default model options, reading ``root``.

    ``label_nc`` is set on the model options when the family has that option.
    """
    model = get_family(family).config()
    if label_nc is not None and "label_nc" in {f.name for f in dataclasses.fields(model)}:
        model = dataclasses.replace(model, label_nc=label_nc)
    return run_config(family, model, data=DataConfig(root=str(root)))


def read_as(family: str, root: Path, names: Sequence[str], label_nc: int | None = None
            ) -> Reading:
    """Read ``root`` with ``family``'s discovery for each split name in ``names``.

    Names that find the same files as an earlier one join its split (a layout without split
    folders is one split). What discovery logs is held in the reading.
    """
    config = family_config(family, root, label_nc)
    description = get_family(family).description_class()
    reading = Reading(family)
    by_files: dict[frozenset[Path], FoundSplit] = {}
    with held_logs(reading.records):
        for name in names:
            try:
                dataset = description.build_dataset(config, name)
            except (ValueError, OSError) as exc:
                reading.failures.append(f"[{name}] {exc}")
                continue
            checkable(dataset, family)
            files = dataset_files(dataset)
            if files in by_files:
                by_files[files].phases.append(name)
                continue
            by_files[files] = FoundSplit(name, dataset, [name])
            reading.splits.append(by_files[files])
    return reading


def detect_layout(root: Path, names: Sequence[str], family: str | None = None,
                  label_nc: int | None = None) -> tuple[Reading | None, list[Reading]]:
    """The reading of the family that explains ``root`` best (None when none finds any
    split), and the readings of every family tried (only ``family`` when one is given)."""
    readings = [read_as(name, root, names, label_nc)
                for name in ([family] if family else list_families())]
    found = [r for r in readings if r.splits]
    best = max(found, key=Reading.fit, default=None)  # the first of equals
    return best, readings


def also_readable_by(best: Reading, readings: Sequence[Reading]) -> list[str]:
    """The other families whose discovery finds every split ``best`` found, pairing most of
    their files."""
    wanted = best.split_names()
    return [r.family for r in readings if r is not best and r.splits
            and wanted <= r.split_names() and r.fit()[1]]


def checkable(dataset: Any, family: str) -> Any:
    """``dataset`` if it offers what the check reads (as a StreamDataset does), else a TypeError."""
    missing = [name for name in ("streams", "items", "load") if not hasattr(dataset, name)]
    if missing:
        raise TypeError(
            f"family {family!r}: its dataset ({type(dataset).__name__}) lacks "
            f"{', '.join(missing)}; datasets check reads a family's data through the "
            "StreamDataset interface (img2img.data.dataset)"
        )
    return dataset


class _Hold(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def held_logs(records: list[logging.LogRecord]) -> Iterator[None]:
    """Hold what img2img logs (instead of showing it) until the block ends."""
    logger = logging.getLogger("img2img")
    handler, propagate = _Hold(records), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
