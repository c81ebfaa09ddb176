"""Observers of a training run: told of each log record, sample grid and step, and the end.

The trainer calls every observer it was given at these points and knows nothing else about
them; TensorBoard events and the run's HTML report are observers. An observer's failure to
write never stops training: it is logged and training goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor


class Observer:
    """Base class: every hook does nothing; override the ones you need."""

    def on_start(self, step: int) -> None:
        """Training starts (or resumes) at ``step``."""

    def on_log(self, record: dict[str, Any]) -> None:
        """A line was appended to ``metrics.jsonl``: step, epoch (1-based) and lr its last
        step ran with, images_per_s, losses."""

    def on_samples(self, step: int, path: Path, grid: Tensor) -> None:
        """A sample grid (``[3, H, W]`` in [0, 1]) was written to ``path``."""

    def on_step(self, step: int) -> None:
        """An optimisation step finished."""

    def on_end(self, step: int) -> None:
        """Training stopped at ``step`` (finished or interrupted) after its last checkpoint."""
