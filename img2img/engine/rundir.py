"""Run directories: ``runs/<name>/`` with config, metrics, samples and checkpoints.

A run directory is never reused: when ``runs/<name>`` exists, ``runs/<name>-1``,
``runs/<name>-2`` ... is created instead. One process at a time trains in a run directory: it
holds the directory's lock (``.lock``, an advisory ``flock`` the system releases when the
process ends, however it ends) while it writes there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from img2img.atomic import atomic_write, remove_stale_temps
from img2img.checkpoints import CHECKPOINT_DIR, LATEST
from img2img.flock import try_lock

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"
LOCK_FILE = ".lock"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class RunInUseError(OSError):
    """Another process is training in the run directory."""


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

    def truncate_metrics(self, step: int) -> int:
        """Keep only the metric lines of steps up to ``step`` (atomically); return how many went.

        A run resumed from a checkpoint older than its last log lines (killed between two
        checkpoints) logs those steps again; this keeps the file at one line per logged step.
        A line cut short by a kill is dropped too.
        """
        if not self.metrics.is_file():
            return 0
        lines = self.metrics.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if _metric_step(line) is not None
                and _metric_step(line) <= step and line.endswith("\n")]
        if len(kept) != len(lines):
            atomic_write(self.metrics, lambda f: f.writelines(kept), mode="w")
        return len(lines) - len(kept)

    def remove_stale_temps(self) -> list[Path]:
        """Delete temp files that writes interrupted by a kill left behind (hold the lock)."""
        removed = []
        for folder in (self.path, self.checkpoints, self.samples):
            removed += remove_stale_temps(folder)
        for path in removed:
            log.info("removed an unfinished write: %s", path)
        return removed

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold this run's lock for the block; fail at once if another process holds it.

        Raises:
            RunInUseError: another live process is training in this directory.
        """
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            if not try_lock(fd):
                owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise RunInUseError(
                    f"{self.path}: another process (pid {owner}) is training in this run "
                    "directory; wait for it to finish or stop it first"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())  # at 0: the file was just opened
            yield
        finally:
            os.close(fd)  # releases the lock


def _metric_step(line: str) -> int | None:
    try:
        step = json.loads(line).get("step")
    except (ValueError, AttributeError):
        return None
    return step if isinstance(step, int) else None


def safe_run_name(text: str, fallback: str = "run") -> str:
    """A valid run name made from ``text`` (a dataset folder's name, say).

    Accents are dropped (``é`` -> ``e``), every other character outside letters, digits,
    ``.``, ``_`` and ``-`` becomes ``_``, and the name starts with a letter or digit;
    ``fallback`` when nothing usable is left.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_text).strip("._-")
    return name if name and _NAME.match(name) else fallback


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
