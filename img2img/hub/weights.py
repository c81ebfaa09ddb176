"""Published generator weights by name: the registry, the weights folder, download on first use.

The registry is a data file shipped inside the package (``img2img/hub/weights.json``): for
each published generator, its name, family, source URL, the generator it loads into
(``network`` and ``options``, as :func:`img2img.nn.create_generator` takes them) and the
reference code's test-time settings. A name published by two families (``sat2map`` ...) is
qualified with the family (``pix2pix/sat2map``); the bare name then fails, listing both.

Downloaded files live in the weights folder (``--weights-dir``, else ``$IMG2IMG_WEIGHTS``,
else ``./weights`` as in a clone) as ``<family>/<name>.pth``, with the SHA-256 recorded
beside each (``<name>.pth.sha256``); the ``weights/`` folder of the img2img checkout is also
searched for files already there. Downloads resume, write atomically, go through
``$IMG2IMG_MIRROR`` when it is set, and are checked against the registry's SHA-256 when it
knows one (see :mod:`img2img.hub.download`).

Models published together in one archive (the CUT and FastCUT generators) share its URL, and
their entries name the folder in it holding each file (``archive_folder``). The first fetch of
one of them downloads the archive once and keeps the file of every such entry not yet local,
then removes the archive (see :mod:`img2img.hub.bundles`).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import img2img
from img2img.hub.bundles import unpack_members
from img2img.hub.download import (
    ProgressFn,
    download,
    mirror_url,
    recorded_sha256,
    sha256_file,
)

log = logging.getLogger(__name__)

WEIGHTS_ENV = "IMG2IMG_WEIGHTS"
REGISTRY_FILE = "weights.json"
SUFFIX = ".pth"
_REQUIRED = ("name", "family", "url", "network", "options", "description")

#: the file taken from an entry's ``archive_folder`` (the reference code's generator file)
ARCHIVE_MEMBER = "latest_net_G.pth"


class WeightsError(ValueError):
    """A published-model name that is unknown or ambiguous, or weights that cannot be had."""


@dataclass(frozen=True)
class PublishedWeights:
    """One published generator.

    Attributes:
        name: the name it is published under (``horse2zebra``).
        family: the family that trained it (``cyclegan``, ``pix2pix``, ``pix2pixhd``).
        url: where the publishers serve it.
        description: what it translates, in words.
        network: the registry name of its generator (``resnet_9blocks`` ...).
        options: the generator's options (channels, ngf, norm, dropout).
        test: the reference code's test-time options (``test_mode`` ...).
        size: the file size in bytes, when published; else None.
        sha256: the file's SHA-256, when published; else None.
        manual: the file cannot be downloaded by a program (``note`` says how to get it).
        note: how to get a ``manual`` file, or anything else a user must know.
        archive_folder: for a file published inside an archive (``url``), the name of the
            folder in it holding the file (:data:`ARCHIVE_MEMBER`), at any depth; else None.
    """

    name: str
    family: str
    url: str
    description: str
    network: str
    options: Mapping[str, Any]
    test: Mapping[str, Any] = field(default_factory=dict)
    size: int | None = None
    sha256: str | None = None
    manual: bool = False
    note: str = ""
    archive_folder: str | None = None

    @property
    def qualified_name(self) -> str:
        """``family/name``: unique in the registry."""
        return f"{self.family}/{self.name}"

    @property
    def relative_path(self) -> Path:
        """Where the file lives inside a weights folder: ``<family>/<name>.pth``."""
        return Path(self.family) / f"{self.name}{SUFFIX}"


def _entry(raw: Mapping[str, Any], index: int) -> PublishedWeights:
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise WeightsError(
            f"{REGISTRY_FILE}: model {index} ({raw.get('name', '?')}) lacks {', '.join(missing)}"
        )
    known = set(PublishedWeights.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise WeightsError(
            f"{REGISTRY_FILE}: model {raw['name']!r} has unknown fields {', '.join(unknown)}"
        )
    entry = PublishedWeights(**raw)
    if entry.manual and not entry.note:
        raise WeightsError(f"{REGISTRY_FILE}: {entry.qualified_name} is manual but has no note")
    folder = entry.archive_folder
    if folder is not None and (not folder or "/" in folder or folder in (".", "..")):
        raise WeightsError(
            f"{REGISTRY_FILE}: {entry.qualified_name}: archive_folder {folder!r} is not the "
            "name of one folder"
        )
    return entry


@cache
def load_registry() -> tuple[PublishedWeights, ...]:
    """Every published generator, in the registry file's order.

    Raises:
        WeightsError: the file is malformed or names a model twice.
    """
    text = resources.files("img2img.hub").joinpath(REGISTRY_FILE).read_text(encoding="utf-8")
    raw = json.loads(text)
    entries = tuple(_entry(item, i) for i, item in enumerate(raw["models"]))
    names = [e.qualified_name for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise WeightsError(f"{REGISTRY_FILE}: {', '.join(twice)} listed more than once")
    return entries


def display_name(entry: PublishedWeights) -> str:
    """The shortest name that picks ``entry``: bare when unique, else ``family/name``."""
    shared = sum(e.name == entry.name for e in load_registry()) > 1
    return entry.qualified_name if shared else entry.name


def list_published() -> list[str]:
    """The names :func:`get_published` accepts, in registry order (qualified where shared)."""
    return [display_name(e) for e in load_registry()]


def is_published_name(name: str) -> bool:
    """Whether ``name`` names a registry entry (bare, or ``family/name``)."""
    return any(name in (e.name, e.qualified_name) for e in load_registry())


def get_published(name: str) -> PublishedWeights:
    """The registry entry called ``name`` (``horse2zebra`` or ``pix2pix/sat2map``).

    Raises:
        WeightsError: no such name (the message lists the known ones), or a bare name that
            two families publish (the message lists the qualified names).
    """
    matches = [e for e in load_registry() if name in (e.name, e.qualified_name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        both = " or ".join(e.qualified_name for e in matches)
        raise WeightsError(f"{name!r} is published by more than one family; use {both}")
    raise WeightsError(
        f"{name!r} is not a published model; expected one of: {', '.join(list_published())}"
    )


def weights_root(weights_dir: str | os.PathLike | None = None) -> Path:
    """Where weights go: ``weights_dir``, else ``$IMG2IMG_WEIGHTS``, else ``./weights``."""
    if weights_dir is not None:
        return Path(weights_dir).expanduser()
    return Path(os.environ.get(WEIGHTS_ENV, "weights")).expanduser()


def checkout_weights_root() -> Path:
    """The ``weights/`` folder next to the installed package (the repository checkout)."""
    return Path(img2img.__file__).resolve().parents[1] / "weights"


def weights_roots(weights_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for downloaded weights, in order, each real folder once.

    An explicit ``weights_dir`` is the only one searched.
    """
    if weights_dir is not None:
        return [weights_root(weights_dir)]
    roots: list[Path] = []
    for root in (weights_root(), checkout_weights_root()):
        if root.resolve() not in {r.resolve() for r in roots}:
            roots.append(root)
    return roots


def local_path(
    entry: PublishedWeights, weights_dir: str | os.PathLike | None = None
) -> Path | None:
    """The downloaded file of ``entry`` in the first weights folder holding it, or None."""
    for root in weights_roots(weights_dir):
        path = root / entry.relative_path
        if path.is_file():
            return path
    return None


def verify(entry: PublishedWeights, path: Path) -> str:
    """The SHA-256 of ``entry``'s file at ``path``, checked against the registry's if known.

    The digest recorded at download time is trusted when it matches the registry; otherwise
    the file is hashed.

    Raises:
        WeightsError: the file's digest differs from the registry's.
    """
    recorded = recorded_sha256(path)
    if entry.sha256 is None:
        return recorded or sha256_file(path)
    digest = recorded if recorded == entry.sha256.lower() else sha256_file(path)
    if digest != entry.sha256.lower():
        raise WeightsError(
            f"{path}: sha256 {digest} differs from the published {entry.sha256.lower()} of "
            f"{entry.qualified_name}; delete the file (or run 'img2img weights download "
            f"{display_name(entry)} --force') to fetch it again"
        )
    return digest


def fetch(
    entry: PublishedWeights,
    weights_dir: str | os.PathLike | None = None,
    *,
    progress: ProgressFn | None = None,
    force: bool = False,
) -> Path:
    """``entry``'s file: the downloaded one if there is one, else downloaded now.

    A download goes to :func:`weights_root`, resumes an earlier partial transfer, appears
    atomically, and has its SHA-256 recorded (and checked, when the registry knows it). An
    entry published inside an archive is taken from it, with the other entries of that
    archive not yet local (see :func:`fetch_from_archive`).

    Args:
        entry: the registry entry.
        weights_dir: the weights folder, instead of ``$IMG2IMG_WEIGHTS`` / ``./weights``.
        progress: called with (bytes done, total bytes or None) while downloading.
        force: download again even when the file is there.

    Raises:
        WeightsError: the entry is manual and its file is absent, a present file's digest
            differs from the registry's, or the entry's archive lacks its folder.
        DownloadError: the download failed (a later call resumes it).
        UnsafeArchiveError: the entry's archive holds a member that would land outside the
            folder it is unpacked into, or a link.
    """
    existing = None if force else local_path(entry, weights_dir)
    if existing is not None:
        verify(entry, existing)
        return existing
    if entry.manual:
        target = weights_root(weights_dir) / entry.relative_path
        raise WeightsError(
            f"{entry.qualified_name} cannot be downloaded automatically: {entry.note} "
            f"(expected at {target}; source: {entry.url})"
        )
    if entry.archive_folder is not None:
        return fetch_from_archive(entry, weights_dir, progress=progress)
    dest = weights_root(weights_dir) / entry.relative_path
    done = download(entry.url, dest, sha256=entry.sha256, kind="weights", progress=progress)
    if done.resumed_from:
        log.info("%s: resumed a partial download at byte %d", dest, done.resumed_from)
    return done.path


def archive_path(entry: PublishedWeights, weights_dir: str | os.PathLike | None = None) -> Path:
    """Where the archive holding ``entry`` is downloaded to: beside the entry's file, under
    the archive's published name (``weights/cut/pretrained_models.tar``)."""
    name = Path(urlsplit(entry.url).path).name or "archive"
    return weights_root(weights_dir) / entry.family / name


def fetch_from_archive(
    entry: PublishedWeights,
    weights_dir: str | os.PathLike | None = None,
    *,
    progress: ProgressFn | None = None,
) -> Path:
    """Download ``entry``'s archive and take out its file (replacing one already there).

    The files of the other entries in the same archive that are not local yet are kept too
    (each at its own place in the weights folder), so the archive is downloaded once; it is
    removed afterwards.

    Raises:
        WeightsError: the archive has no folder ``entry.archive_folder`` holding
            :data:`ARCHIVE_MEMBER` (or more than one); the message lists those it has.
        DownloadError: the download failed (a later call resumes it).
        UnsafeArchiveError: the archive holds a member that would land outside the folder it
            is unpacked into, or a link; it is removed.
    """
    if entry.archive_folder is None:
        raise WeightsError(f"{entry.qualified_name} is not published inside an archive")
    root = weights_root(weights_dir)
    entries = {entry.archive_folder: entry}
    for other in load_registry():
        if (other.url == entry.url and other.archive_folder is not None
                and other.archive_folder not in entries and local_path(other, weights_dir) is None):
            entries[other.archive_folder] = other
    wanted = {folder: root / e.relative_path for folder, e in entries.items()}
    unpacked = unpack_members(entry.url, archive_path(entry, weights_dir), wanted,
                              ARCHIVE_MEMBER, progress=progress)
    for folder, other in entries.items():
        if other is not entry and folder not in unpacked.paths:
            log.warning("%s", _missing(other, unpacked.folders))
    if entry.archive_folder not in unpacked.paths:
        raise WeightsError(_missing(entry, unpacked.folders))
    path = unpacked.paths[entry.archive_folder]
    verify(entry, path)
    return path


def _missing(entry: PublishedWeights, folders: tuple[str, ...]) -> str:
    """Why ``entry``'s archive gave no file for it, with the folders the archive has."""
    folder = entry.archive_folder
    source = f"{entry.qualified_name}: the archive {mirror_url(entry.url)}"
    twice = [f for f in folders if f.rpartition("/")[2] == folder]
    if twice:
        return (f"{source} holds {folder}/{ARCHIVE_MEMBER} more than once ({', '.join(twice)}); "
                "none was taken")
    found = ", ".join(folders) if folders else "none"
    return (f"{source} has no folder {folder!r} holding {ARCHIVE_MEMBER} (folders holding "
            f"one: {found})")


def describe_published(
    entry: PublishedWeights, weights_dir: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Everything known about ``entry``, as plain values: the registry's fields, the URL a
    download would use (after ``$IMG2IMG_MIRROR``), and the local file if there is one
    (``path``, its ``file_size`` and the SHA-256 recorded when it was downloaded)."""
    path = local_path(entry, weights_dir)
    return {
        "name": display_name(entry),
        "qualified_name": entry.qualified_name,
        "family": entry.family,
        "description": entry.description,
        "network": entry.network,
        "options": dict(entry.options),
        "test": dict(entry.test),
        "url": entry.url,
        "download_url": mirror_url(entry.url),
        "size": entry.size,
        "sha256": entry.sha256,
        "manual": entry.manual,
        "note": entry.note,
        "archive_folder": entry.archive_folder,
        "path": None if path is None else str(path),
        "file_size": None if path is None else path.stat().st_size,
        "recorded_sha256": None if path is None else recorded_sha256(path),
        "target": str(weights_root(weights_dir) / entry.relative_path),
    }


def resolve_model(
    model: str | os.PathLike,
    weights_dir: str | os.PathLike | None = None,
    *,
    progress: ProgressFn | None = None,
) -> tuple[Path, PublishedWeights | None]:
    """The file or folder ``model`` names, and its registry entry when it is a published name.

    An existing path wins over a published name; a published name is downloaded on first use
    (:func:`fetch`).

    Raises:
        WeightsError: ``model`` is neither an existing path nor a published name.
    """
    path = Path(model).expanduser()
    if path.exists():
        return path, None
    name = str(model)
    if is_published_name(name):
        entry = get_published(name)
        return fetch(entry, weights_dir, progress=progress), entry
    raise WeightsError(not_found(name, path))


#: how model files end (a name ending so is meant as a path, not a published name)
MODEL_SUFFIXES = (".pt", ".pth", ".safetensors", ".onnx")

#: entries of a folder listed when a path in it is not found
SHOWN_ENTRIES = 12


def not_found(name: str, path: Path, option: str = "--model") -> str:
    """Why ``option name`` (neither an existing ``path`` nor a published name) was not
    found, with what is there or what was probably meant (``option`` "" for an argument)."""
    named = f"{option} {name!r}".lstrip()
    folder = path.parent
    if path.suffix in MODEL_SUFFIXES or (len(path.parts) > 1 and folder.is_dir()):
        if not folder.is_dir():
            return f"{named}: no such file (and no folder {str(folder)!r})"
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()
                         if p.is_dir() or p.suffix in MODEL_SUFFIXES)
        if not entries:
            return (f"{named}: no such checkpoint, run directory or file; "
                    f"{str(folder)!r} holds no folder or model file")
        more = ", ..." if len(entries) > SHOWN_ENTRIES else ""
        return (f"{named}: no such checkpoint, run directory or file; "
                f"{str(folder)!r} holds: {', '.join(entries[:SHOWN_ENTRIES])}{more}")
    close = difflib.get_close_matches(name, list_published(), n=3, cutoff=0.6)
    guess = f"did you mean {' or '.join(close)}? " if close else ""
    return (f"{named}: no such checkpoint, run directory or file, and not a published "
            f"model name ({guess}see 'img2img weights list'; known: "
            f"{', '.join(list_published())})")
