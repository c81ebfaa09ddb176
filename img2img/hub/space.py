"""Free disk space: probe it before a large write, and name the folder when a disk fills.

A refused write and a disk that fills anyway both raise :class:`DiskFullError`, an
``OSError`` whose message names the folder and the space needed instead of ``[Errno 28]``.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

#: room left over on top of what an archive declares (file system overhead, other writers)
MARGIN_FRACTION = 0.05
MARGIN_BYTES = 100 * 1024**2


class DiskFullError(OSError):
    """Not enough free space for a write; the message names the folder and the space needed."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror or ""


def format_bytes(size: int) -> str:
    """``size`` in words: ``512 bytes``, ``3.4 MB``, ``2.0 GB`` (powers of 1000)."""
    if size < 1000:
        return f"{size} bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def free_bytes(folder: str | os.PathLike) -> int:
    """Free bytes on the file system that holds ``folder`` (or its nearest existing parent)."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def with_margin(size: int) -> int:
    """``size`` plus the safety margin kept free when unpacking it."""
    return size + int(size * MARGIN_FRACTION) + MARGIN_BYTES


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full(folder: str | os.PathLike, what: str, needed: int | None) -> DiskFullError:
    """The error for a disk that filled while writing ``what`` into ``folder``."""
    free = free_bytes(folder)
    need = "more space" if needed is None else f"{format_bytes(needed)}"
    return DiskFullError(
        f"{folder}: no space left on its disk while writing {what}; it needs {need} "
        f"({format_bytes(free)} free now)"
    )
