"""Resolve ``--data NAME|PATH`` to a dataset directory."""

from __future__ import annotations

import os
from pathlib import Path

import img2img

DATASETS_ENV = "IMG2IMG_DATASETS"


def datasets_root() -> Path:
    """Where named datasets are installed: ``$IMG2IMG_DATASETS``, or ``./datasets`` when unset."""
    return Path(os.environ.get(DATASETS_ENV, "datasets"))


def package_datasets_root() -> Path:
    """The ``datasets/`` folder next to the installed package (the repository checkout)."""
    return Path(img2img.__file__).resolve().parents[1] / "datasets"


def dataset_roots() -> list[Path]:
    """The folders searched for a dataset name, in order, each real folder once."""
    roots: list[Path] = []
    seen: set[Path] = set()
    for root in (datasets_root(), package_datasets_root()):
        real = root.resolve()
        if real not in seen:
            seen.add(real)
            roots.append(root)
    return roots


def local_datasets() -> list[str]:
    """Names of the dataset folders under :func:`dataset_roots`, sorted."""
    names: set[str] = set()
    for root in dataset_roots():
        if root.is_dir():
            names.update(
                p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
    return sorted(names)


def resolve_dataset(name_or_path: str) -> Path:
    """The dataset folder for ``--data``: an existing path, else ``NAME`` in a dataset root.

    Tried in order: ``name_or_path`` itself, ``$IMG2IMG_DATASETS/NAME`` (``./datasets/NAME``
    when the variable is unset), then ``datasets/NAME`` next to the installed package.

    Raises:
        FileNotFoundError: none of them is a directory; the message lists every place tried
            and the dataset names found.
    """
    path = Path(name_or_path).expanduser()
    tried = [path]
    if path.is_dir():
        return path
    for root in dataset_roots():
        named = root / name_or_path
        if named.is_dir():
            return named
        tried.append(named)
    known = ", ".join(local_datasets()) or "none"
    raise FileNotFoundError(
        f"--data {name_or_path!r}: no such dataset; tried {', '.join(map(str, tried))} "
        f"(datasets found: {known}); expected a dataset folder, or the name of one installed "
        f"under ${DATASETS_ENV} (default ./datasets) or {package_datasets_root()}"
    )
