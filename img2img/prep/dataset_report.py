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
    """

    split: str
    layout: str
    examples: int
    streams: list[StreamSummary]
    unmatched: int = 0
    unreadable: int = 0


@dataclass
class CheckReport:
    """The result of a dataset check.

    Attributes:
        root: the dataset folder.
        family: the family whose discovery read it ("" when none could).
        thorough: every example was decoded (not only the file headers).
        splits: one summary per split found.
        problems: everything found wrong, by file.
        also_readable_by: other families whose discovery also accepts the folder.
        label_nc: the label count label values were checked against, if any.
    """

    root: Path
    family: str
    thorough: bool
    splits: list[SplitSummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    also_readable_by: list[str] = field(default_factory=list)
    label_nc: int | None = None

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

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for ``--json``."""
        return {
            "root": str(self.root),
            "family": self.family,
            "thorough": self.thorough,
            "ok": self.ok,
            "label_nc": self.label_nc,
            "also_readable_by": self.also_readable_by,
            "splits": [
                {
                    "split": s.split, "layout": s.layout, "examples": s.examples,
                    "unmatched": s.unmatched, "unreadable": s.unreadable,
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
