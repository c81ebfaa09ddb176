"""Files published together in one archive: download it once, keep the files wanted, drop it.

Some publishers serve several models in a single archive, each in a folder of its own
(``checkpoints/horse2zebra_cut_pretrained/latest_net_G.pth`` ...). :func:`unpack_members`
downloads such an archive next to where its files go (resumable, atomic and through
``$IMG2IMG_MIRROR``, as every download: :mod:`img2img.hub.download`), unpacks it safely
(:mod:`img2img.hub.archive`) into a hidden folder beside it, moves the file of each wanted
folder into place in one rename with its SHA-256 recorded beside it (as a downloaded file's
is), and removes the unpacked folder and the archive.

A wanted folder is found by its name anywhere in the archive, whatever folders lead to it.
A transfer that breaks off keeps what arrived for the next call to resume; a complete archive
that could not be unpacked for want of space is kept too, and used by the next call without
downloading it again. An archive refused as unsafe is removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from img2img.flock import try_lock
from img2img.hub.archive import UnsafeArchiveError, extract_archive
from img2img.hub.download import (
    DownloadError,
    ProgressFn,
    checksum_path,
    download,
    record_sha256,
    recorded_sha256,
    sha256_file,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unpacked:
    """What an archive held.

    Attributes:
        paths: each wanted folder found (exactly once) in the archive -> where its file is now.
        folders: every folder of the archive holding the file asked for, as relative POSIX
            paths, sorted (a wanted folder missing from ``paths`` is absent from these, or
            appears more than once).
    """

    paths: dict[str, Path]
    folders: tuple[str, ...]


def unpacked_folder(archive: str | os.PathLike) -> Path:
    """The hidden folder ``archive`` is unpacked into while its files are taken out."""
    archive = Path(archive)
    return archive.with_name(f".{archive.name}.unpacked")


def unpack_members(
    url: str,
    archive: str | os.PathLike,
    wanted: Mapping[str, Path],
    member: str,
    *,
    progress: ProgressFn | None = None,
) -> Unpacked:
    """Fetch the archive at ``url`` and move ``FOLDER/member`` of each wanted folder into place.

    Args:
        url: the archive's published URL (``$IMG2IMG_MIRROR`` applies).
        archive: where the archive is downloaded to; removed once its files are taken out.
        wanted: folder name (found at any depth in the archive) -> the file its ``member``
            becomes (replaced if present; its folder is created).
        member: the file taken from each wanted folder (``latest_net_G.pth``).
        progress: called with (bytes done, total bytes or None) while downloading.

    Returns:
        The files moved into place, and the folders the archive holds (see :class:`Unpacked`).
        A wanted folder the archive lacks is left out; saying so is the caller's business.

    Raises:
        DownloadError: the download failed (a later call resumes it), or another process is
            unpacking into the same folder.
        UnsafeArchiveError: a member would land outside the unpacked folder, is a link ...
            (see :func:`img2img.hub.archive.extract_archive`); the archive is removed.
        DiskFullError: the unpacked archive does not fit (the archive is kept for next time).
    """
    archive = Path(archive)
    tree = unpacked_folder(archive)
    with _locked(archive.parent, url):
        if recorded_sha256(archive) is None or not archive.is_file():
            download(url, archive, kind="archive", progress=progress)
        else:
            log.info("%s: using the archive downloaded before", archive)
        if tree.exists():
            shutil.rmtree(tree)  # left by an interrupted earlier call
        try:
            extract_archive(archive, tree)
        except UnsafeArchiveError:
            _remove_archive(archive)
            raise
        try:
            folders = _folders_holding(tree, member)
            paths = {}
            for name, dest in wanted.items():
                places = [f for f in folders if f.name == name]
                if len(places) == 1:
                    paths[name] = _move(tree / places[0] / member, Path(dest))
        finally:
            shutil.rmtree(tree, ignore_errors=True)
        _remove_archive(archive)
    return Unpacked(paths, tuple(str(f) for f in folders))


def _folders_holding(tree: Path, member: str) -> list[PurePosixPath]:
    """The folders below ``tree`` (not ``tree`` itself) holding a plain file ``member``."""
    found = []
    for folder, _, files in os.walk(tree):
        path = Path(folder, member)
        if folder != str(tree) and member in files and path.is_file() and not path.is_symlink():
            found.append(PurePosixPath(Path(folder).relative_to(tree).as_posix()))
    return sorted(found)


def _move(source: Path, dest: Path) -> Path:
    """Rename ``source`` to ``dest`` once it is on disk, and record its SHA-256 beside it."""
    digest = sha256_file(source)
    with open(source, "rb") as f:
        os.fsync(f.fileno())
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, dest)
    record_sha256(dest, digest)
    log.info("unpacked %s (sha256 %s)", dest, digest)
    return dest


def _remove_archive(archive: Path) -> None:
    archive.unlink(missing_ok=True)
    checksum_path(archive).unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(folder: Path, url: str) -> Iterator[None]:
    """Hold ``folder`` (created if needed) against other processes unpacking into it."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        if not try_lock(fd):
            raise DownloadError(
                f"{url}: another process is downloading or unpacking it in {folder}; wait for "
                "it to finish (or stop it) and try again"
            )
        yield
    finally:
        os.close(fd)
