"""Keep a run's ``report.html`` up to date while it trains."""

from __future__ import annotations

import logging
from pathlib import Path

from img2img.engine.observers import Observer
from img2img.report.page import write_report

log = logging.getLogger(__name__)


class ReportObserver(Observer):
    """Rewrites the report every ``every`` steps (0: never during training) and at the end."""

    def __init__(self, run_dir: str | Path, every: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.every = every

    def on_step(self, step: int) -> None:
        if self.every and step % self.every == 0:
            self.write()

    def on_end(self, step: int) -> None:
        self.write()

    def write(self) -> None:
        try:
            write_report(self.run_dir)
        except (OSError, ValueError) as exc:  # a report never stops training
            log.warning("report not written: %s", exc)
