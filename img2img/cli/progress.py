"""Progress of per-file and download work in the CLI: a rich bar on a terminal, plain lines off one.

Off a terminal (logs, CI, ``nohup``) long work prints a line every ten seconds and one at the
end, so logs show progress without a line per file; short work prints nothing.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from img2img.cli.console import console as make_console

#: ``update(done, total)``; a total of None means unknown (a download without a length)
Update = Callable[[int, int | None], None]
#: ``update(stage, done, total)``: work in named stages, one bar (or line series) each
StagedUpdate = Callable[[str, int, int], None]

_PLAIN_EVERY_S = 10.0


@contextlib.contextmanager
def progress_bar(
    description: str, *, unit: str = "files", stream: TextIO | None = None
) -> Iterator[Update]:
    """Show the progress of one task; yields the function that reports it.

    Args:
        description: what is being done, e.g. ``"combining"``.
        unit: ``files`` (counts) or ``bytes`` (sizes and speed).
        stream: where to draw (default ``sys.stderr``).
    """
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        with _rich(description, unit, out) as update:
            yield update
    else:
        plain = _Plain(description, unit, out)
        yield plain.update
        plain.finish()


@contextlib.contextmanager
def staged_progress(*, plain: bool = True, stream: TextIO | None = None) -> Iterator[StagedUpdate]:
    """Like :func:`progress_bar` for work in stages (``"train: files"``, ``"train: pixels"``):
    a bar per stage on a terminal; off one, plain lines when ``plain``, else nothing."""
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        with Progress(*_columns("files"), console=make_console(file=out)) as bar:
            tasks: dict[str, object] = {}

            def update(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            yield update
        return
    stages: dict[str, _Plain] = {}

    def update_plain(stage: str, done: int, total: int) -> None:
        if plain:
            stages.setdefault(stage, _Plain(stage, "files", out)).update(done, total)

    yield update_plain
    for stage in stages.values():
        stage.finish()


def _columns(unit: str) -> list:
    counts = (
        [DownloadColumn(), TransferSpeedColumn()] if unit == "bytes" else [MofNCompleteColumn()]
    )
    return [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), *counts,
            TimeRemainingColumn()]


@contextlib.contextmanager
def _rich(description: str, unit: str, out: TextIO) -> Iterator[Update]:
    with Progress(*_columns(unit), console=make_console(file=out)) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


class _Plain:
    """Lines for logs: none for work that ends within a few seconds, then one every
    :data:`_PLAIN_EVERY_S` seconds and a last one at the end."""

    def __init__(self, description: str, unit: str, out: TextIO,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.description, self.unit, self.out, self.clock = description, unit, out, clock
        self.done: int = 0
        self.total: int | None = None
        self.last = clock()  # the start counts as a line, so the first one comes a bit later
        self.printed = False

    def update(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        if self.clock() - self.last >= _PLAIN_EVERY_S:
            self._print()

    def finish(self) -> None:
        """The final amount, if progress was shown at all."""
        if self.printed:
            self._print()

    def _print(self) -> None:
        amount = _amount(self.done, self.unit)
        if self.total:
            line = (f"{self.description}: {100 * self.done // self.total}% "
                    f"({amount} of {_amount(self.total, self.unit)})")
        else:
            line = f"{self.description}: {amount}"
        if self.unit != "bytes":
            line += f" {self.unit}"
        print(line, file=self.out, flush=True)
        self.last, self.printed = self.clock(), True


def _amount(n: int, unit: str) -> str:
    if unit != "bytes":
        return str(n)
    for suffix, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {suffix}"
    return f"{n} B"
