"""Progress reporting: the only place in the engine that draws on the terminal.

:class:`RichReporter` draws a live bar for people watching a terminal; :class:`PlainReporter`
prints one flushed line per log step for logs (``nohup``, SLURM, CI). :func:`make_reporter`
picks the one that suits where the output goes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TextIO

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn
from rich.text import Text


class Reporter(Protocol):
    """Receives training progress; implementations decide how to show it."""

    def start(self, total_steps: int, initial_step: int, epoch: int = 0) -> None: ...

    def update(
        self, step: int, epoch: int, losses: Mapping[str, float], images_per_s: float,
        *, data_time: float | None = None,
    ) -> None:
        """A log line: mean losses, throughput and the seconds per step spent waiting for data."""
        ...

    def message(self, text: str) -> None: ...

    def close(self) -> None: ...


def loss_pairs(losses: Mapping[str, float]) -> list[str]:
    """``["G_GAN 0.712", "G_L1 23.4"]``: three significant digits each."""
    return [f"{name} {value:.3g}" for name, value in losses.items()]


def format_losses(losses: Mapping[str, float]) -> str:
    """``G_GAN 0.712 G_L1 23.4``."""
    return " ".join(loss_pairs(losses))


def data_text(data_time: float | None) -> list[str]:
    """``["data 12 ms/step"]``: the mean wait for the next batch (nothing when unknown)."""
    return [] if data_time is None else [f"data {1000 * data_time:.0f} ms/step"]


def format_duration(seconds: float) -> str:
    """A short duration: ``42s``, ``7m40s``, ``3h05m``, ``2d04h``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


class _Eta:
    """Time left, from the average pace since :meth:`start`."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.total = self.first_step = 0
        self.started = 0.0

    def start(self, total_steps: int, initial_step: int) -> None:
        self.total, self.first_step, self.started = total_steps, initial_step, self.clock()

    def text(self, step: int) -> str:
        done, elapsed = step - self.first_step, self.clock() - self.started
        if step >= self.total:
            return "0s"
        if done <= 0 or elapsed <= 0:
            return "?"
        return format_duration((self.total - step) * elapsed / done)


class NullReporter:
    """Shows nothing (library use and tests)."""

    def start(self, total_steps: int, initial_step: int, epoch: int = 0) -> None:
        pass

    def update(
        self, step: int, epoch: int, losses: Mapping[str, float], images_per_s: float,
        *, data_time: float | None = None,
    ) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class PlainReporter:
    """One line per log step, flushed at once, for output that is not a terminal.

    ``step 120/2000 (6%)  epoch 3  G_GAN 0.71 G_L1 23.4  4.1 img/s  ETA 7m40s``
    """

    def __init__(
        self, stream: TextIO | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = stream
        self.eta = _Eta(clock)

    @property
    def stream(self) -> TextIO:
        """The stream given, else the current ``sys.stderr``."""
        return self._stream if self._stream is not None else sys.stderr

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, total_steps: int, initial_step: int, epoch: int = 0) -> None:
        self.eta.start(total_steps, initial_step)

    def update(
        self, step: int, epoch: int, losses: Mapping[str, float], images_per_s: float,
        *, data_time: float | None = None,
    ) -> None:
        total = self.eta.total
        percent = 100 * step // total if total else 100
        parts = [f"step {step}/{total} ({percent}%)", f"epoch {epoch}"]
        if losses:
            parts.append(format_losses(losses))
        parts += [f"{images_per_s:.1f} img/s", *data_text(data_time),
                  f"ETA {self.eta.text(step)}"]
        self._print("  ".join(parts))

    def message(self, text: str) -> None:
        self._print(text)

    def close(self) -> None:
        pass


class RichReporter:
    """A live rich bar (epoch, step count, percent, ETA, throughput) over a line of losses.

    The bar line stays within 80 columns; the losses wrap onto lines of their own.
    """

    BAR_WIDTH = 20

    def __init__(
        self, console: Console | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.console = console or Console(stderr=True)
        self.eta = _Eta(clock)
        self.progress = _ProgressWithLosses(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(bar_width=self.BAR_WIDTH),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            TextColumn("{task.fields[ips]:.1f} img/s"),
            console=self.console,
            transient=False,
        )
        self.task = None

    def start(self, total_steps: int, initial_step: int, epoch: int = 0) -> None:
        self.eta.start(total_steps, initial_step)
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=total_steps, completed=initial_step, epoch=epoch, ips=0.0, eta="?"
        )

    def update(
        self, step: int, epoch: int, losses: Mapping[str, float], images_per_s: float,
        *, data_time: float | None = None,
    ) -> None:
        self.progress.losses = [*loss_pairs(losses), *data_text(data_time)]
        self.progress.update(
            self.task, completed=step, epoch=epoch, ips=images_per_s, eta=self.eta.text(step)
        )

    def message(self, text: str) -> None:
        self.progress.console.print(text, markup=False)  # text, not rich markup

    def close(self) -> None:
        self.progress.stop()


class _ProgressWithLosses(Progress):
    """A rich ``Progress`` that draws the latest losses under its bar."""

    losses: Sequence[str] = ()

    def get_renderables(self) -> Iterable[RenderableType]:
        yield from super().get_renderables()
        if self.losses:
            yield _Pairs(self.losses)


class _Pairs:
    """``name value`` pairs packed into lines of the console's width, never split."""

    def __init__(self, pairs: Sequence[str]) -> None:
        self.pairs = pairs

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line = ""
        for pair in self.pairs:
            if line and len(line) + 1 + len(pair) > options.max_width:
                yield Text(line, style="dim")
                line = pair
            else:
                line = f"{line} {pair}" if line else pair
        yield Text(line, style="dim")


def make_reporter(stream: TextIO | None = None) -> Reporter:
    """A :class:`RichReporter` when ``stream`` (default ``sys.stderr``) is a terminal, else a
    :class:`PlainReporter` writing to it."""
    if not (stream if stream is not None else sys.stderr).isatty():
        return PlainReporter(stream)
    return RichReporter(Console(file=stream) if stream is not None else None)
