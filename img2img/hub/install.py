"""Install a published dataset: download its archive, extract it safely, put it in place.

The archive is fetched by :func:`img2img.hub.download.download` (resumable, atomic, checksummed,
through ``IMG2IMG_MIRROR`` when set) into the datasets root, unpacked by
:func:`img2img.hub.archive.extract_archive` (nothing may land outside the target) into a
hidden folder, and renamed into place, so ``ROOT/FOLDER`` either does not exist or holds the
whole dataset. A finished archive (its recorded SHA-256 matching its bytes) is reused when an
earlier install was interrupted after the download; it is removed once the dataset is in
place unless asked to keep it. Each installed dataset records where it came from in
``FOLDER/.img2img-dataset.json``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from img2img.atomic import atomic_write
from img2img.hub.archive import (
    MAX_BYTES,
    MAX_MEMBERS,
    ExtractProgress,
    UnsafeArchiveError,
    extract_archive,
)
from img2img.hub.datasets import PublishedDataset, datasets_root
from img2img.hub.download import (
    ProgressFn,
    checksum_path,
    download,
    recorded_sha256,
    sha256_file,
)
from img2img.hub.space import disk_full, is_disk_full

log = logging.getLogger(__name__)

#: provenance record written into every installed dataset (hidden: discovery skips it)
MARKER = ".img2img-dataset.json"


class NotDownloadableError(RuntimeError):
    """A published dataset that may not be redistributed; the message says how to obtain it."""


@dataclass(frozen=True)
class Archive:
    """A complete, verified dataset archive.

    Attributes:
        path: the archive file, in the datasets root.
        sha256: its SHA-256.
        size: its size in bytes.
        resumed_from: bytes an interrupted earlier download had already fetched.
        reused: it was complete already (nothing downloaded).
    """

    path: Path
    sha256: str
    size: int
    resumed_from: int
    reused: bool


@dataclass(frozen=True)
class Installed:
    """A dataset put in place by :func:`unpack_dataset`.

    Attributes:
        path: the dataset folder.
        archive: the archive it came from (removed unless kept).
        members: archive members unpacked.
    """

    path: Path
    archive: Archive
    members: int


def install_dataset(
    entry: PublishedDataset,
    root: str | os.PathLike[str] | None = None,
    *,
    keep_archive: bool = False,
    download_progress: ProgressFn | None = None,
    extract_progress: ExtractProgress | None = None,
    mirror: str | None = None,
    max_members: int = MAX_MEMBERS,
    max_bytes: int = MAX_BYTES,
) -> Installed:
    """Download and unpack ``entry`` into ``root/entry.folder`` (``root``: the datasets root).

    :func:`fetch_archive` then :func:`unpack_dataset`; see them for the errors raised.
    """
    archive = fetch_archive(entry, root, progress=download_progress, mirror=mirror)
    return unpack_dataset(entry, archive, keep_archive=keep_archive, progress=extract_progress,
                          max_members=max_members, max_bytes=max_bytes)


def target_folder(entry: PublishedDataset, root: str | os.PathLike[str] | None = None) -> Path:
    """Where ``entry`` is installed under ``root`` (default: the datasets root)."""
    return (Path(root) if root is not None else datasets_root()) / entry.folder


def fetch_archive(
    entry: PublishedDataset,
    root: str | os.PathLike[str] | None = None,
    *,
    progress: ProgressFn | None = None,
    mirror: str | None = None,
) -> Archive:
    """The archive of ``entry`` in ``root``: reused when an earlier download completed it
    (its recorded or published SHA-256 matches), else downloaded (resuming a partial one).

    Raises:
        NotDownloadableError: ``entry`` may not be redistributed.
        FileExistsError: the dataset is installed already (nothing is fetched).
        DownloadError: the download failed (run again to resume it), is not an archive (an
            HTML page ...) or its checksum is wrong.
    """
    target = target_folder(entry, root)
    if entry.url is None:
        raise NotDownloadableError(entry.how_to_obtain(target))
    if target.exists():
        raise FileExistsError(
            f"{target} already exists; {entry.name} is installed there (remove the folder to "
            "download it again)"
        )
    path = target.parent / entry.archive_name
    if path.is_file():
        recorded = recorded_sha256(path)
        expected = entry.sha256.lower() if entry.sha256 else recorded
        if expected is not None and sha256_file(path) == expected:
            log.info("%s: using the archive downloaded before", path)
            return Archive(path, expected, path.stat().st_size, 0, True)
        log.info("%s: not a verified download; downloading it again", path)
    got = download(entry.url, path, sha256=entry.sha256, kind="archive", progress=progress,
                   mirror=mirror)
    return Archive(path, got.sha256, got.size, got.resumed_from, False)


def unpack_dataset(
    entry: PublishedDataset,
    archive: Archive,
    *,
    keep_archive: bool = False,
    progress: ExtractProgress | None = None,
    max_members: int = MAX_MEMBERS,
    max_bytes: int = MAX_BYTES,
) -> Installed:
    """Extract ``archive`` safely and move the dataset into place beside it.

    The archive's single top-level folder (``facades/``), or everything when it has several,
    becomes ``entry.folder``. The archive and its checksum record are removed afterwards
    unless ``keep_archive``.

    Raises:
        FileExistsError: the dataset folder exists already (nothing is replaced).
        UnsafeArchiveError: a member is a link or would escape the target, or the archive is
            over the limits; nothing is unpacked and the archive is removed.
        DiskFullError: the dataset does not fit the free space, or the disk filled while
            unpacking; nothing is unpacked and the archive is kept for the next attempt.
        ValueError: the archive is damaged (it is removed, so the next attempt downloads it
            again).
    """
    root = archive.path.parent
    target = root / entry.folder
    if target.exists():
        raise FileExistsError(f"{target} already exists; nothing was unpacked")
    unpack = root / f".{entry.folder}.unpack"
    if unpack.exists():
        shutil.rmtree(unpack)  # left by an interrupted earlier attempt
    try:
        names = _extract(archive.path, unpack, max_members, max_bytes, progress)
        source = _single_folder(unpack)
        try:
            _write_marker(source, entry, archive)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            raise disk_full(root, f"the record of {entry.name} ({MARKER})", None) from exc
        os.replace(source, target)
    finally:
        shutil.rmtree(unpack, ignore_errors=True)
    if not keep_archive:
        _remove(archive.path)
    log.info("installed %s in %s (%d members)", entry.name, target, len(names))
    return Installed(target, archive, len(names))


def _extract(
    archive: Path, unpack: Path, max_members: int, max_bytes: int,
    progress: ExtractProgress | None,
) -> list[str]:
    """Extract safely; an archive that is refused or damaged is removed (never used again)."""
    try:
        return extract_archive(archive, unpack, max_members=max_members, max_bytes=max_bytes,
                               progress=progress)
    except UnsafeArchiveError:
        _remove(archive)
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        _remove(archive)
        raise ValueError(
            f"{archive}: the archive is damaged ({exc}); it was removed, run the command again "
            "to download it anew"
        ) from exc


def _remove(archive: Path) -> None:
    archive.unlink(missing_ok=True)
    checksum_path(archive).unlink(missing_ok=True)


def _single_folder(unpack: Path) -> Path:
    """The archive's one top-level folder (``facades/``), or the unpacked folder itself.

    Hidden entries and the ``__MACOSX`` folder macOS adds to zip files do not count.
    """
    entries = [p for p in unpack.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return unpack


def _write_marker(folder: Path, entry: PublishedDataset, archive: Archive) -> None:
    record = {
        "name": entry.name,
        "families": list(entry.families),
        "url": entry.url,
        "archive_sha256": archive.sha256,
        "archive_bytes": archive.size,
        "installed": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write(folder / MARKER, lambda f: f.write(json.dumps(record, indent=2) + "\n"), "w")
