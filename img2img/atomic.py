"""Atomic file writes: a temp file in the target's folder, flushed, fsynced and renamed.

Shared by everything that writes results (images, configs, checkpoints); imports nothing
from the rest of the package.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, mode: str = "wb", *, sync_dir: bool = False
) -> Iterator[IO]:
    """Open a temp file next to ``path``; on success it replaces ``path`` in one rename.

    On any exception the temp file is removed and ``path`` is untouched. ``sync_dir`` also
    fsyncs the folder, so the rename itself survives a power cut (worth it for checkpoints,
    not for each of a thousand translated images).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        if sync_dir:
            _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
