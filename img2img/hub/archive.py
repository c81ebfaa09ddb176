"""Safe extraction of downloaded ``.zip`` and ``.tar[.gz|.bz2|.xz]`` dataset archives.

Every member is checked before anything is written: no absolute path, no ``..`` that climbs
out, no link at all (published datasets hold plain files and folders only, and a link can
point outside the dataset once it is moved into place), no device file or FIFO, limits on the
member count and the total unpacked size, an unpacked size that fits the free space of the
target's disk and a compression ratio that real image datasets show. Tar members also pass
Python's own ``tarfile.data_filter`` where it exists. The archive is unpacked into a hidden
folder next to the target and renamed into place when complete, so the target either does
not exist or holds the whole archive; no member is written through a link, and none may
unpack to more bytes than it declares.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Self

from img2img.hub.space import (
    DiskFullError,
    disk_full,
    format_bytes,
    free_bytes,
    is_disk_full,
    with_margin,
)

#: default limits: generous for the published datasets (the largest holds ~100k files, ~10 GB)
MAX_MEMBERS = 1_000_000
MAX_BYTES = 64 * 1024**3

#: Most bytes unpacked per archive byte (whole archive, and each zip member). PNG and JPEG
#: images are compressed already: a zip or .tar.gz of photos unpacks to 1.00-1.01 times its
#: size; small flat-colour images and label maps, which repeat from file to file, reach 3 in
#: a zip and 17-42 in a .tar.gz. 200 leaves a wide margin over that, while a zip bomb
#: (deflate of zeros reaches ~1030) fails.
MAX_RATIO = 200

#: archives (and zip members) that unpack to less than this are not held to MAX_RATIO: they
#: cannot fill a disk, and a small folder of text files may compress very well
RATIO_FLOOR = 16 * 1024**2

#: ``progress(members_done, members_total)``
ExtractProgress = Callable[[int, int], None]

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


class UnsafeArchiveError(ValueError):
    """An archive member that would land outside the target, or an archive over the limits."""


@dataclass(frozen=True)
class _Member:
    name: str  # normalised relative POSIX path
    is_dir: bool
    size: int  # declared unpacked size
    packed: int | None  # compressed size, when the archive says (zip)
    info: Any  # the TarInfo or ZipInfo


def archive_kind(path: str | os.PathLike) -> str:
    """``zip`` or ``tar`` from the file's contents.

    A file that starts like a zip is one; any other is taken for a tar archive before a zip,
    because :func:`zipfile.is_zipfile` looks at the end of a file only, where a plain tar
    whose last member is a zip (a ``torch.save`` file ...) looks like that zip.

    Raises:
        UnsafeArchiveError: neither a zip nor a tar archive.
    """
    with open(path, "rb") as f:
        head = f.read(4)
    if head in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    if zipfile.is_zipfile(path):
        return "zip"
    raise UnsafeArchiveError(f"{path}: not a zip or tar archive (.zip, .tar, .tar.gz, .tgz ...)")


def extract_archive(
    archive: str | os.PathLike,
    target: str | os.PathLike,
    *,
    max_members: int = MAX_MEMBERS,
    max_bytes: int = MAX_BYTES,
    progress: ExtractProgress | None = None,
) -> list[str]:
    """Unpack ``archive`` into the new folder ``target``; returns the member names written.

    Raises:
        FileExistsError: ``target`` already exists.
        UnsafeArchiveError: a member would escape ``target`` (absolute path, ``..``), is a
            link, a device or FIFO, or the archive has more than ``max_members`` members,
            unpacks to more than ``max_bytes`` bytes or inflates more than :data:`MAX_RATIO`
            times. Nothing is written in that case.
        DiskFullError: the unpacked size (with a margin) exceeds the free space of the
            target's disk (nothing is written), or the disk filled while unpacking (what was
            written is removed).
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise FileExistsError(f"{target} already exists; remove it or extract elsewhere")
    reader = _ZipReader if archive_kind(archive) == "zip" else _TarReader
    staging = target.with_name(f".{target.name}.extracting")
    with reader(archive) as source:
        members = source.members(target)
        total = _check_limits(archive, members, max_members, max_bytes)
        _check_space(archive, staging.parent, total)
        if staging.exists():
            shutil.rmtree(staging)  # left by an interrupted earlier attempt
        staging.mkdir(parents=True)
        try:
            root = staging.resolve()
            for i, m in enumerate(members):
                source.write(m, _destination(archive, root, m))
                if progress is not None:
                    progress(i + 1, len(members))
            os.replace(staging, target)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if is_disk_full(exc) and not isinstance(exc, DiskFullError):
                raise disk_full(staging.parent, f"the unpacked {archive.name}",
                                with_margin(total)) from exc
            raise
    return [m.name for m in members]


def _safe_name(archive: Path, raw: str) -> str:
    """``raw`` as a relative POSIX path inside the target, or fail naming it."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or PurePosixPath(name).is_absolute() or _has_drive(name):
        raise UnsafeArchiveError(f"{archive}: member {raw!r} has an absolute path; refused")
    normal = posixpath.normpath(name)
    if normal == ".." or normal.startswith("../"):
        raise UnsafeArchiveError(f"{archive}: member {raw!r} climbs out of the target; refused")
    return "" if normal == "." else normal


def _has_drive(name: str) -> bool:
    return len(name) >= 2 and name[1] == ":" and name[0].isalpha()


def _link_refused(archive: Path, name: str, kind: str, link: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{archive}: member {name!r} is a {kind} link to {link!r}; dataset archives hold "
        "plain files and folders only, so links are refused"
    )


def _check_limits(archive: Path, members: list[_Member], max_members: int,
                  max_bytes: int) -> int:
    """Fail when ``members`` pass the count, size or ratio limits; returns the total size."""
    if len(members) > max_members:
        raise UnsafeArchiveError(
            f"{archive}: {len(members)} members, more than the limit of {max_members}; refused"
        )
    total = sum(m.size for m in members)
    if total > max_bytes:
        raise UnsafeArchiveError(
            f"{archive}: unpacks to {total} bytes, more than the limit of {max_bytes}; refused"
        )
    packed = archive.stat().st_size
    if total > RATIO_FLOOR and total > MAX_RATIO * packed:
        raise UnsafeArchiveError(
            f"{archive}: unpacks to {format_bytes(total)} from {format_bytes(packed)}, "
            f"{total // max(packed, 1)} times its size (image datasets stay near 1, the limit "
            f"is {MAX_RATIO}); refused as a decompression bomb"
        )
    for m in members:
        if m.packed is not None and m.size > RATIO_FLOOR and m.size > MAX_RATIO * m.packed:
            raise UnsafeArchiveError(
                f"{archive}: member {m.name!r} unpacks to {format_bytes(m.size)} from "
                f"{format_bytes(m.packed)} (more than {MAX_RATIO} times); refused as a "
                "decompression bomb"
            )
    return total


def _check_space(archive: Path, folder: Path, total: int) -> None:
    """Fail before writing when ``total`` bytes (with a margin) do not fit ``folder``'s disk."""
    free, needed = free_bytes(folder), with_margin(total)
    if needed > free:
        raise DiskFullError(
            f"{archive}: unpacks to {format_bytes(total)} but {folder} has only "
            f"{format_bytes(free)} free (needs {format_bytes(needed)} with a margin); "
            "nothing was unpacked"
        )


def _destination(archive: Path, root: Path, m: _Member) -> Path:
    """Where ``m`` goes under ``root``, after checking no link leads its folder elsewhere."""
    dest = root / m.name
    parent = Path(os.path.realpath(dest.parent))
    if parent != root and root not in parent.parents:
        raise UnsafeArchiveError(
            f"{archive}: member {m.name!r} would be written through a link to {parent}; refused"
        )
    return dest


def _write_file(source: IO[bytes], dest: Path, declared: int, name: str) -> None:
    """Copy ``source`` into the new file ``dest`` (never through a link), at most
    ``declared`` bytes; a member that unpacks to more is refused."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.is_file():
        dest.unlink()  # a later member of the same name wins, as with tar and unzip
    with open(os.open(dest, _OPEN_FLAGS, 0o644), "wb") as out:
        remaining = declared
        while chunk := source.read(min(1 << 20, remaining + 1)):
            remaining -= len(chunk)
            if remaining < 0:
                raise UnsafeArchiveError(
                    f"member {name!r} unpacks to more than its declared {declared} bytes; "
                    "refused"
                )
            out.write(chunk)


# --- tar -------------------------------------------------------------------------------------
class _Reader:
    """An open archive, closed when its ``with`` block ends."""

    archive: Path
    handle: tarfile.TarFile | zipfile.ZipFile

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


class _TarReader(_Reader):
    """Members of a tar archive: folders and regular files only, each past ``data_filter``."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.tar = self.handle = tarfile.open(archive)  # noqa: SIM115 - closed by __exit__

    def members(self, target: Path) -> list[_Member]:
        out = []
        for info in self.tar.getmembers():
            name = _safe_name(self.archive, info.name)
            if info.issym() or info.islnk():
                kind = "symbolic" if info.issym() else "hard"
                raise _link_refused(self.archive, info.name, kind, info.linkname)
            if not (info.isdir() or info.isreg()):
                raise UnsafeArchiveError(
                    f"{self.archive}: member {info.name!r} is a device, FIFO or other special "
                    "file; refused"
                )
            self._filter(info, target)
            if name:
                out.append(_Member(name, info.isdir(), 0 if info.isdir() else info.size,
                                   None, info))
        return out

    def _filter(self, info: tarfile.TarInfo, target: Path) -> None:
        """Python's own ``data`` extraction filter, as a second line of defence."""
        data_filter = getattr(tarfile, "data_filter", None)
        if data_filter is None:  # pragma: no cover - Python before 3.11.4
            return
        try:
            data_filter(info, str(target))
        except tarfile.FilterError as exc:
            raise UnsafeArchiveError(
                f"{self.archive}: member {info.name!r} is refused by tarfile's data filter "
                f"({exc})"
            ) from exc

    def write(self, m: _Member, dest: Path) -> None:
        if m.is_dir:
            dest.mkdir(parents=True, exist_ok=True)
            return
        source = self.tar.extractfile(m.info)
        if source is None:  # pragma: no cover - regular members always have data
            raise UnsafeArchiveError(f"member {m.info.name!r} has no data")
        with source:
            _write_file(source, dest, m.size, m.info.name)
        os.chmod(dest, (m.info.mode & 0o755) | 0o644)


# --- zip -------------------------------------------------------------------------------------
class _ZipReader(_Reader):
    """Members of a zip archive: folders and files only."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.zf = self.handle = zipfile.ZipFile(archive)  # noqa: SIM115 - closed by __exit__

    def members(self, target: Path) -> list[_Member]:
        del target  # zip members are checked by name only
        out = []
        for info in self.zf.infolist():
            name = _safe_name(self.archive, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                with self.zf.open(info) as data:
                    link = data.read(200).decode("utf-8", "replace")
                raise _link_refused(self.archive, info.filename, "symbolic", link)
            if name:
                is_dir = info.is_dir()
                out.append(_Member(name, is_dir, 0 if is_dir else info.file_size,
                                   None if is_dir else info.compress_size, info))
        return out

    def write(self, m: _Member, dest: Path) -> None:
        if m.is_dir:
            dest.mkdir(parents=True, exist_ok=True)
            return
        with self.zf.open(m.info) as source:
            _write_file(source, dest, m.size, m.info.filename)
