"""Run directories: ``runs/<name>/`` with config, metrics, samples and checkpoints.

A run directory is never reused: when ``runs/<name>`` exists, ``runs/<name>-1``,
``runs/<name>-2`` ... is created instead.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from img2img.atomic import atomic_write
from img2img.engine.checkpoint import CHECKPOINT_DIR, LATEST

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def samples(self) -> Path:
        return self.path / SAMPLES_DIR

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def latest_checkpoint(self) -> Path:
        return self.checkpoints / LATEST

    def write_config(self, config: dict[str, Any]) -> None:
        text = json.dumps(config, indent=2, sort_keys=False) + "\n"
        atomic_write(self.config, lambda f: f.write(text), mode="w")

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def check_run_name(name: str) -> str:
    """Run names are single path components of letters, digits, ``.``, ``_`` and ``-``."""
    if not _NAME.match(name):
        raise ValueError(
            f"--name: {name!r} is not valid; expected letters, digits, '.', '_' or '-' "
            "(no slashes), starting with a letter or digit"
        )
    return name


def create_run_dir(runs_dir: str | os.PathLike, name: str) -> RunDir:
    """Create a fresh run directory under ``runs_dir``, adding a suffix if ``name`` is taken."""
    check_run_name(name)
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    for suffix in range(10_000):
        candidate = root / (name if suffix == 0 else f"{name}-{suffix}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return RunDir(candidate)
    raise RuntimeError(f"{root}: could not find a free run directory name for {name!r}")


def open_run_dir(path: str | os.PathLike) -> RunDir:
    """An existing run directory (for ``--resume`` and ``info``)."""
    run = RunDir(Path(path))
    if not run.config.is_file():
        raise FileNotFoundError(
            f"{path}: not a run directory; expected a folder holding {CONFIG_FILE} "
            f"(made by 'img2img train')"
        )
    return run
