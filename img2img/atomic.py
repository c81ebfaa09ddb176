"""Atomic file writes: a temp file in the target's folder, flushed, fsynced and renamed.

Shared by everything that writes results (images, configs, checkpoints); imports nothing
from the rest of the package. Files get the permissions a plain ``open()`` gives them
(``0o666`` less the process umask), applied by the kernel when the temp file is created, so
no thread ever has to read or change the umask.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")

_CREATE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_NEW_FILE_MODE = 0o666  # the kernel removes the umask bits, as for open(path, "w")
_NAME_ATTEMPTS = 100


def _claim_temp(
    path: Path, create: Callable[[Path], T], *, keep_suffix: bool = False
) -> tuple[T, Path]:
    """Call ``create`` on fresh temp names next to ``path`` until one is free.

    The names are hidden and end in ``.tmp``, or in ``.tmp`` plus ``path``'s suffix with
    ``keep_suffix`` (for writers that choose a format by the suffix).
    """
    for _ in range(_NAME_ATTEMPTS):
        token = secrets.token_hex(4)
        tail = f".tmp{path.suffix}" if keep_suffix else ".tmp"
        tmp = path.with_name(f".{path.stem if keep_suffix else path.name}.{token}{tail}")
        try:
            return create(tmp), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: could not create a temp file for {path.name}")


def _open_new(tmp: Path) -> int:
    return os.open(tmp, _CREATE_FLAGS, _NEW_FILE_MODE)


@contextlib.contextmanager
def _temp_then_rename(
    path: Path, *, keep_suffix: bool, sync_dir: bool
) -> Iterator[tuple[int, Path]]:
    """A new temp file next to ``path`` (its descriptor and name) that replaces ``path`` when
    the block ends normally and is removed when it raises."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _claim_temp(path, _open_new, keep_suffix=keep_suffix)
    try:
        yield fd, tmp
        os.replace(tmp, path)
        if sync_dir:
            _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, mode: str = "wb", *, sync_dir: bool = False
) -> Iterator[IO]:
    """Open a temp file next to ``path``; on success it replaces ``path`` in one rename.

    On any exception the temp file is removed and ``path`` is untouched. ``sync_dir`` also
    fsyncs the folder, so the rename itself survives a power cut (worth it for checkpoints,
    not for each of a thousand translated images).
    """
    with (_temp_then_rename(Path(path), keep_suffix=False, sync_dir=sync_dir) as (fd, _),
          os.fdopen(fd, mode) as f):
        yield f
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, sync_dir: bool = False) -> Iterator[Path]:
    """A fresh temp file next to ``path``, with ``path``'s suffix, for writers that take a
    file name (a video encoder picks its container by the suffix).

    When the block ends without an exception the finished file is fsynced and replaces
    ``path`` in one rename; otherwise it is removed and ``path`` is untouched.
    """
    with _temp_then_rename(Path(path), keep_suffix=True, sync_dir=sync_dir) as (fd, tmp):
        os.close(fd)
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[IO], object],
    mode: str = "wb",
    *,
    sync_dir: bool = False,
) -> None:
    """Call ``write(file)`` on a temp file and move it into place atomically."""
    with atomic_open(path, mode, sync_dir=sync_dir) as f:
        write(f)


def atomic_link(
    source: str | os.PathLike, target: str | os.PathLike, *, sync_dir: bool = False
) -> Path:
    """Give the finished file ``source`` a second name ``target``, replacing ``target``.

    A hard link where the file system allows one (no extra space, no extra write), else a
    copy; either way ``target`` appears in one rename, whole or not at all. ``source`` must
    never be rewritten in place afterwards (files written by :func:`atomic_write` are not).
    """
    source, target = Path(source), Path(target)
    try:
        _, tmp = _claim_temp(target, lambda tmp: os.link(source, tmp))
    except OSError:  # no hard links here (some network and FAT file systems)
        atomic_write(target, lambda f: _copy_into(source, f), sync_dir=sync_dir)
        return target
    try:
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if sync_dir:
        _fsync_dir(target.parent)
    return target


def _copy_into(source: Path, f: IO) -> None:
    with open(source, "rb") as src:
        shutil.copyfileobj(src, f)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
