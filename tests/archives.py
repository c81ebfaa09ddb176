"""Build tar archives for tests, well-formed or hostile (links, ``..``, absolute paths)."""

from __future__ import annotations

import io
import os
import tarfile
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
