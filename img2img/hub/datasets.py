"""Datasets by name: the registry of published datasets, and ``--data NAME|PATH`` resolution.

The registry is a data file shipped inside the package (``img2img/hub/datasets.json``). A
published dataset is named plainly (``horse2zebra``) or, where two families publish a dataset
of the same name, qualified by family (``pix2pix/facades``, ``cyclegan/facades``); a family
given with the name (``train cyclegan --data facades``) picks its own.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import img2img

DATASETS_ENV = "IMG2IMG_DATASETS"
REGISTRY_FILE = "datasets.json"


@dataclass(frozen=True)
class PublishedDataset:
    """One entry of the registry of published datasets.

    Attributes:
        name: the published name (``facades``).
        families: the families it is meant for.
        layout: ``paired`` (A|B side by side per split), ``unpaired`` (``trainA``/``trainB``
            ...) or ``cityscapes`` (made by ``datasets prepare cityscapes``).
        folder: the folder it is installed in, under a datasets root.
        url: where its archive is published; None when it may not be redistributed.
        sha256: the archive's SHA-256 when known (checked after download).
        images: image counts as published, in words; None when not stated.
        description: what the images show.
        licence: the terms its publishers give, in short.
        homepage: where to obtain it when it cannot be downloaded.
        obtain: the steps to obtain it by hand (``{dir}`` stands for its target folder).
    """

    name: str
    families: tuple[str, ...]
    layout: str
    folder: str
    url: str | None
    sha256: str | None
    images: str | None
    description: str
    licence: str
    homepage: str | None = None
    obtain: tuple[str, ...] = ()

    @property
    def downloadable(self) -> bool:
        return self.url is not None

    @property
    def qualified_names(self) -> list[str]:
        """``family/name`` for each of its families."""
        return [f"{family}/{self.name}" for family in self.families]

    @property
    def archive_name(self) -> str:
        """The file name of its archive (``facades.tar.gz``)."""
        if self.url is None:
            raise ValueError(f"{self.name}: no archive is published")
        return Path(urlsplit(self.url).path).name

    def how_to_obtain(self, target: str | os.PathLike[str]) -> str:
        """The steps to obtain it by hand, with ``target`` as the folder to prepare it in."""
        return "\n".join(line.format(dir=target) for line in self.obtain)


class UnknownDatasetError(ValueError):
    """A dataset name that the registry does not hold, or that is ambiguous."""


@functools.cache
def published_datasets() -> tuple[PublishedDataset, ...]:
    """Every entry of the registry, in its order."""
    text = resources.files("img2img.hub").joinpath(REGISTRY_FILE).read_text(encoding="utf-8")
    return tuple(
        PublishedDataset(**{**entry, "families": tuple(entry["families"]),
                            "obtain": tuple(entry.get("obtain", ()))})
        for entry in json.loads(text)["datasets"]
    )


def find_published(name: str, family: str | None = None) -> PublishedDataset | None:
    """The registry entry called ``name`` (``NAME`` or ``FAMILY/NAME``), or None.

    Args:
        name: a published name, optionally qualified by family.
        family: the family asking; picks its own entry when several share the name.

    Raises:
        UnknownDatasetError: several entries share ``name`` and neither the name nor
            ``family`` says which one is meant.
    """
    qualifier, _, plain = name.rpartition("/")
    if qualifier and "/" in qualifier:
        return None
    wanted = qualifier or family
    matches = [d for d in published_datasets() if d.name == plain]
    if wanted is not None:
        matches = [d for d in matches if wanted in d.families]
    if len(matches) > 1:
        names = ", ".join(n for d in matches for n in d.qualified_names)
        raise UnknownDatasetError(
            f"{name!r} names {len(matches)} published datasets; expected one of: {names}"
        )
    return matches[0] if matches else None


def registry_name(entry: PublishedDataset) -> str:
    """The shortest name that picks ``entry``: ``NAME``, or ``FAMILY/NAME`` when it is shared."""
    shared = sum(d.name == entry.name for d in published_datasets()) > 1
    return entry.qualified_names[0] if shared else entry.name


def get_published(name: str, family: str | None = None) -> PublishedDataset:
    """Like :func:`find_published`, failing with the known names when ``name`` is unknown."""
    entry = find_published(name, family)
    if entry is None:
        known = ", ".join(sorted({d.name for d in published_datasets()}))
        raise UnknownDatasetError(
            f"{name!r} is not a published dataset; expected one of: {known} "
            "(see img2img datasets list)"
        )
    return entry


def installed_path(entry: PublishedDataset) -> Path | None:
    """Where ``entry`` is installed (the first dataset root holding its folder), or None."""
    for root in dataset_roots():
        if (root / entry.folder).is_dir():
            return root / entry.folder
    return None


class DatasetNotInstalledError(FileNotFoundError):
    """``--data NAME`` names a published dataset that is not installed (yet).

    Attributes:
        entry: the registry entry.
        target: where a download would install it.
    """

    def __init__(self, message: str, entry: PublishedDataset, target: Path) -> None:
        super().__init__(message)
        self.entry = entry
        self.target = target

    def __str__(self) -> str:
        return self.args[0]


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


def resolve_dataset(name_or_path: str, family: str | None = None) -> Path:
    """The dataset folder for ``--data``: an existing path, else a dataset installed by name.

    Tried in order: ``name_or_path`` itself; when it names a published dataset (of ``family``,
    if given), that dataset's folder in the dataset roots; then ``NAME`` in each dataset
    root: ``$IMG2IMG_DATASETS`` (``./datasets`` when the variable is unset) and ``datasets/``
    next to the installed package.

    Raises:
        DatasetNotInstalledError: it names a published dataset that is not installed; the
            message says how to download (or obtain) it.
        FileNotFoundError: none of them is a directory; the message lists every place tried
            and the dataset names found.
    """
    path = Path(name_or_path).expanduser()
    tried = [path]
    if path.is_dir():
        return path
    try:
        entry = find_published(name_or_path, family)
    except UnknownDatasetError:
        entry = None
    if entry is not None:
        found = installed_path(entry)
        if found is not None:
            return found
        raise _not_installed(name_or_path, entry)
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


def _not_installed(name: str, entry: PublishedDataset) -> DatasetNotInstalledError:
    target = datasets_root() / entry.folder
    places = ", ".join(str(root / entry.folder) for root in dataset_roots())
    if entry.downloadable:
        how = f"download it with 'img2img datasets download {registry_name(entry)}'"
    else:
        how = entry.how_to_obtain(target)
    return DatasetNotInstalledError(
        f"--data {name!r}: the published dataset {entry.name!r} is not installed (looked in "
        f"{places}); {how}",
        entry,
        target,
    )
