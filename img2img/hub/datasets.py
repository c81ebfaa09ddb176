"""Resolve ``--data NAME|PATH`` to a dataset directory."""

from __future__ import annotations

import os
from pathlib import Path

DATASETS_ENV = "IMG2IMG_DATASETS"


def datasets_root() -> Path:
    """Where named datasets live: ``$IMG2IMG_DATASETS`` or ``./datasets``."""
    return Path(os.environ.get(DATASETS_ENV, "datasets"))


def local_datasets() -> list[str]:
    """Names of the dataset folders under :func:`datasets_root`."""
    root = datasets_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def resolve_dataset(name_or_path: str) -> Path:
    """A path that exists, else ``datasets/NAME``; fails naming both and the known datasets."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    named = datasets_root() / name_or_path
    if named.is_dir():
        return named
    known = ", ".join(local_datasets()) or "none"
    raise FileNotFoundError(
        f"--data {name_or_path!r}: no such directory, and no dataset of that name in "
        f"{datasets_root()}/ (available: {known}); expected a dataset folder or a dataset name"
    )
