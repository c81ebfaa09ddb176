"""What a preparation command did: files written, kept, failed, and remarks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from img2img.prep.parallel import Outcome

log = logging.getLogger(__name__)


class PrepJob(Protocol):
    """One unit of preparation work: the file it reads and the output split it writes to."""

    @property
    def source(self) -> Path: ...

    @property
    def split(self) -> str: ...


@dataclass
class PrepReport:
    """The outcome of a preparation command.

    Attributes:
        written: files written per output split (``""`` when the output has no splits).
        kept: outputs that already existed and were left as they were (``overwrite`` replaces
            them).
        failed: ``(input file, reason)`` for every job that failed; the others went on.
        unmatched: input files left out because they have no partner.
        layouts: the input layout found, per output split.
        notes: remarks on how the input was read.
    """

    written: dict[str, int] = field(default_factory=dict)
    kept: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    unmatched: list[Path] = field(default_factory=list)
    layouts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total_written(self) -> int:
        return sum(self.written.values())

    def note(self, text: str, logger: logging.Logger = log) -> None:
        """Add a remark; it is also logged (INFO) to ``logger``."""
        self.notes.append(text)
        logger.info(text)

    def record(self, outcome: Outcome[PrepJob, bool]) -> None:
        """Count one job: its result is True when it wrote its output, False when it kept one."""
        job = outcome.job
        self.written.setdefault(job.split, 0)
        if outcome.error is not None:
            self.failed.append((job.source, str(outcome.error)))
            log.warning("%s: %s", job.source, outcome.error)
        elif outcome.result:
            self.written[job.split] += 1
        else:
            self.kept += 1


def needs_writing(path: Path, overwrite: bool) -> bool:
    """True when ``path`` should be (re)written: it does not exist, or ``overwrite`` is set."""
    return overwrite or not path.exists()
