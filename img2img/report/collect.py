"""Read what a run directory holds for its report: config, metrics, samples, evaluations."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from img2img.engine.rundir import RunDir
from img2img.evaluation.run import EVAL_DIR

log = logging.getLogger(__name__)

_SAMPLE = re.compile(r"^step_(\d+)\.png$")
#: metrics.jsonl fields that are not losses
BOOKKEEPING = ("step", "epoch", "lr", "images_per_s", "data_time", "time")


@dataclass
class RunContents:
    """Everything the report shows, read from one run directory.

    Attributes:
        run: the run directory.
        config: ``config.json``.
        records: the ``metrics.jsonl`` lines, in order.
        samples: ``(step, path)`` of each sample grid, by step.
        evaluations: ``(phase, record)`` of each ``eval/<phase>.json``.
        checkpoint_step: the latest checkpoint's step, if known.
    """

    run: RunDir
    config: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    samples: list[tuple[int, Path]] = field(default_factory=list)
    evaluations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def losses(self) -> list[str]:
        """Loss names in the order they first appear."""
        names: dict[str, None] = {}
        for record in self.records:
            names.update((k, None) for k in record if k not in BOOKKEEPING)
        return list(names)

    def series(self, name: str) -> list[tuple[float, float]]:
        """``(step, value)`` of one logged quantity."""
        return [(float(r["step"]), _float(r[name])) for r in self.records if name in r]


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl``; a line being written (incomplete) is skipped."""
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s:%d: not a JSON record; skipped", path, number)
            continue
        if isinstance(record, dict) and "step" in record:
            records.append(record)
    return records


def collect(run: RunDir) -> RunContents:
    """Read a run directory (its config must exist)."""
    config = json.loads(run.config.read_text(encoding="utf-8"))
    samples = []
    if run.samples.is_dir():
        for path in run.samples.iterdir():
            match = _SAMPLE.match(path.name)
            if match and path.is_file():
                samples.append((int(match.group(1)), path))
    evaluations = []
    eval_dir = run.path / EVAL_DIR
    if eval_dir.is_dir():
        for path in sorted(eval_dir.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                log.warning("%s: unreadable evaluation record (%s); left out", path, exc)
                continue
            evaluations.append((path.stem, record))
    return RunContents(run, config, read_metrics(run.metrics), sorted(samples), evaluations)
