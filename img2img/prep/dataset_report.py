"""What ``datasets check`` (and ``train``'s check of its data) found: the problems, by file,
and a summary of each split and stream."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset.

    Attributes:
        severity: ``error`` (training would fail) or ``warning``.
        message: what is wrong and what it means for training.
        path: the file concerned, if one.
        split: the split it was found in.
    """

    severity: Severity
    message: str
    path: Path | None = None
    split: str = ""


@dataclass
class StreamSummary:
    """What the files of one stream of one split look like.

    Attributes:
        name: the stream (``A``, ``B``, ``label`` ...).
        kind: ``image``, ``label`` or ``instance``.
        files: files read (a side-by-side file counts once per stream it holds).
        formats: ``"PNG L 8-bit"`` -> count.
        sizes: ``(height, width)`` -> count, as the stream sees them (half a side-by-side file).
        label_values: every value found in a label stream (thorough check only).
    """

    name: str
    kind: str
    files: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)
    label_values: set[int] = field(default_factory=set)


@dataclass
class SplitSummary:
    """One split of the dataset.

    Attributes:
        split: its name (``train``, ``val``, ``test``).
        layout: the layout discovery recognised.
        examples: examples found.
        streams: one summary per stream.
        unmatched: files left out for want of a partner.
        unreadable: examples that cannot be read.
        checked: its files were read (else it is listed with the counts discovery found).
        flat: the layout has no split folders, so every split name finds these files.
        files: distinct files its examples read (a side-by-side file once); checked splits.
        read: files of the examples that could be read (decoded, or their headers read with
            the fast check).
        failed: files that could not be read or decoded.
    """

    split: str
    layout: str
    examples: int
    streams: list[StreamSummary]
    unmatched: int = 0
    unreadable: int = 0
    checked: bool = True
    flat: bool = False
    files: int = 0
    read: int = 0
    failed: list[Path] = field(default_factory=list)


@dataclass
class CheckReport:
    """The result of a dataset check.

    Attributes:
        root: the dataset folder.
        family: the family whose discovery read it ("" when none could).
        thorough: every example was decoded (not only the file headers).
        splits: one summary per split found.
        problems: everything found wrong, by file.
        also_readable_by: other families whose discovery finds the same splits.
        label_nc: the label count label values were checked against, if any.
        trust_side_by_side: side-by-side files that do not look like A|B pairs were
            accepted (a warning, not an error).
    """

    root: Path
    family: str
    thorough: bool
    splits: list[SplitSummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    also_readable_by: list[str] = field(default_factory=list)
    label_nc: int | None = None
    trust_side_by_side: bool = False

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when training would not fail on this data."""
        return not self.errors

    @property
    def files(self) -> int:
        """Files the checked splits hold."""
        return sum(s.files for s in self.splits if s.checked)

    @property
    def read(self) -> int:
        """Files of the checked splits whose examples could be read."""
        return sum(s.read for s in self.splits if s.checked)

    @property
    def failed(self) -> list[Path]:
        """Files that could not be read or decoded, in every checked split."""
        return [p for s in self.splits for p in s.failed]

    @property
    def passed(self) -> bool:
        """True when training would not fail and every file could be read."""
        return self.ok and not self.failed

    def file_counts(self) -> str:
        """How many files were read and how many failed, in words."""
        done = "decoded" if self.thorough else "read (headers only, --fast)"
        parts = [f"{self.read} {done}"]
        if self.failed:
            parts.append(f"{len(self.failed)} cannot be {'decoded' if self.thorough else 'read'}")
        skipped = self.files - self.read - len(self.failed)
        if skipped > 0:
            parts.append(f"{skipped} left unread with a partner that failed")
        return f"{self.files} files: " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for ``--json``."""
        return {
            "root": str(self.root),
            "family": self.family,
            "thorough": self.thorough,
            "ok": self.ok,
            "passed": self.passed,
            "files": self.files,
            "read": self.read,
            "failed": [str(p) for p in self.failed],
            "trust_side_by_side": self.trust_side_by_side,
            "label_nc": self.label_nc,
            "also_readable_by": self.also_readable_by,
            "splits": [
                {
                    "split": s.split, "layout": s.layout, "examples": s.examples,
                    "unmatched": s.unmatched, "unreadable": s.unreadable,
                    "checked": s.checked, "flat": s.flat, "files": s.files, "read": s.read,
                    "failed": [str(p) for p in s.failed],
                    "streams": [
                        {
                            "name": st.name, "kind": st.kind, "files": st.files,
                            "formats": dict(st.formats),
                            "sizes": {f"{h}x{w}": n for (h, w), n in st.sizes.items()},
                            "label_values": sorted(st.label_values),
                        }
                        for st in s.streams
                    ],
                }
                for s in self.splits
            ],
            "problems": [
                {"severity": p.severity, "split": p.split, "message": p.message,
                 "path": None if p.path is None else str(p.path)}
                for p in self.problems
            ],
        }



def value_ranges(values: Iterable[int]) -> str:
    """The values as ranges, e.g. ``0..33`` or ``3, 7..9, 40``; ``-`` when there are none."""
    ordered = sorted(set(values))
    if not ordered:
        return "-"
    parts: list[str] = []
    start = prev = ordered[0]
    for v in [*ordered[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}..{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(parts)
