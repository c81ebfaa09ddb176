"""Progress reporting: the only place in the engine that draws on the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class Reporter(Protocol):
    """Receives training progress; implementations decide how to show it."""

    def start(self, total_steps: int, initial_step: int) -> None: ...

    def update(
        self, step: int, epoch: int, losses: Mapping[str, float], images_per_s: float
    ) -> None: ...

    def message(self, text: str) -> None: ...

    def close(self) -> None: ...


class NullReporter:
    """Shows nothing (library use and tests)."""

    def start(self, total_steps: int, initial_step: int) -> None:
        pass

    def update(
        self, step: int, epoch: int, losses: Mapping[str, float], images_per_s: float
    ) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class RichReporter:
    """A rich progress bar with the latest losses and throughput."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[ips]:.1f} img/s"),
            TextColumn("{task.fields[losses]}"),
            console=self.console,
            transient=False,
        )
        self.task = None

    def start(self, total_steps: int, initial_step: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=total_steps, completed=initial_step, epoch=0, ips=0.0, losses=""
        )

    def update(
        self, step: int, epoch: int, losses: Mapping[str, float], images_per_s: float
    ) -> None:
        text = " ".join(f"{k} {v:.2f}" for k, v in losses.items())
        self.progress.update(self.task, completed=step, epoch=epoch, ips=images_per_s, losses=text)

    def message(self, text: str) -> None:
        self.progress.console.print(text)

    def close(self) -> None:
        self.progress.stop()
