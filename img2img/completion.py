"""Shell completion of option values: the words a ``TAB`` after ``--netG``, ``--model`` or
``--data`` offers.

Each completer takes what has been typed so far and returns the candidates that start with it.
Choices come from the registries they are checked against (networks, published models and
datasets), runs from the run folders on disk, and paths from the file system. Nothing here
prints, downloads or fails: a completer that cannot read something offers less.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

#: a completer: ``complete(incomplete) -> candidates``
Completer = Callable[[str], list[str]]

#: where ``img2img train`` writes runs by default (``--runs-dir``)
RUNS_DIR = Path("runs")


def starting_with(incomplete: str, words: Iterable[str]) -> list[str]:
    """``words`` that start with ``incomplete``, each once, in their order."""
    return list(dict.fromkeys(w for w in words if w.startswith(incomplete)))


def choices(values: Callable[[], Sequence[str]] | Sequence[str]) -> Completer:
    """A completer offering ``values`` (or what the function returns when asked)."""

    def complete(incomplete: str) -> list[str]:
        return starting_with(incomplete, values() if callable(values) else values)

    return complete


def paths(incomplete: str, *, keep: Callable[[Path], bool] = lambda p: True) -> list[str]:
    """Files and folders whose path starts with ``incomplete`` (folders end in ``/``)."""
    slash = incomplete.rfind("/")
    lead, prefix = incomplete[:slash + 1], incomplete[slash + 1:]
    try:
        entries = sorted(Path(os.path.expanduser(lead or ".")).iterdir())
    except OSError:
        return []
    return [f"{lead}{p.name}{'/' if p.is_dir() else ''}" for p in entries
            if p.name.startswith(prefix) and (prefix.startswith(".") or not p.name.startswith("."))
            and (p.is_dir() or keep(p))]


def runs(incomplete: str, runs_dir: Path = RUNS_DIR) -> list[str]:
    """Run folders under ``runs_dir`` (those holding a ``config.json``), as ``runs/NAME``."""
    try:
        found = sorted(p for p in runs_dir.iterdir() if (p / "config.json").is_file())
    except OSError:
        return []
    return starting_with(incomplete, (f"{runs_dir.as_posix()}/{p.name}" for p in found))


def published_models(incomplete: str) -> list[str]:
    """Published model names (``img2img weights list``)."""
    from img2img.hub.weights import list_published

    try:
        return starting_with(incomplete, list_published())
    except (OSError, ValueError):
        return []


def models(incomplete: str) -> list[str]:
    """``--model``: published model names, run folders, then matching model files and folders."""
    from img2img.hub.weights import MODEL_SUFFIXES

    files = paths(incomplete, keep=lambda p: p.suffix in MODEL_SUFFIXES) if incomplete else []
    return list(dict.fromkeys([*published_models(incomplete), *runs(incomplete), *files]))


def run_folders(incomplete: str) -> list[str]:
    """A run argument (``report RUN``): run folders under ``runs/``, then matching folders."""
    folders = paths(incomplete, keep=lambda p: False) if incomplete else []
    return list(dict.fromkeys([*runs(incomplete), *folders]))


def published_datasets(incomplete: str) -> list[str]:
    """Published dataset names (``img2img datasets list``), bare and ``family/name``."""
    from img2img.hub.datasets import published_datasets as registry

    try:
        names = [n for e in registry() for n in (e.name, *e.qualified_names)]
    except (OSError, ValueError):
        return []
    return starting_with(incomplete, names)


def datasets(incomplete: str) -> list[str]:
    """``--data``: installed and published dataset names, then matching folders."""
    from img2img.hub.datasets import local_datasets

    folders = paths(incomplete, keep=lambda p: False) if incomplete else []
    return list(dict.fromkeys([*starting_with(incomplete, local_datasets()),
                               *published_datasets(incomplete), *folders]))
