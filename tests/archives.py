"""Build tar and zip archives for tests, well-formed or hostile (links, ``..``, bombs)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from typing import IO

Entry = tarfile.TarInfo | tuple[str, bytes]


def make_tar(dest: str | os.PathLike | IO[bytes], entries: list[Entry], mode: str = "w:gz"):
    """Write ``entries`` (members given as TarInfo, or ``(name, data)`` files) to ``dest``, a
    path or a binary file object; returns ``dest``."""
    opened = {"fileobj": dest} if hasattr(dest, "write") else {"name": dest}
    with tarfile.open(mode=mode, **opened) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return dest


def tar_bytes(entries: list[Entry]) -> bytes:
    """A ``.tar.gz`` of ``entries``, in memory."""
    return make_tar(io.BytesIO(), entries).getvalue()


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    """A symbolic (or, with ``tarfile.LNKTYPE``, hard) link member."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def zip_bytes(entries: list[tuple[str | zipfile.ZipInfo, bytes]],
              compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``(name or ZipInfo, data)`` members, in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buffer.getvalue()


def zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    """A zip member that unzip tools create as a symbolic link to ``target``."""
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()
