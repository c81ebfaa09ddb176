"""Safe extraction of downloaded ``.zip`` and ``.tar[.gz|.bz2|.xz]`` archives.

Every member is checked before anything is written: no absolute path, no ``..`` that climbs
out, no link (symbolic or hard) that points outside the target, no device file or FIFO, and
limits on the member count and the total unpacked size. The archive is unpacked into a hidden
folder next to the target and renamed into place when complete, so the target either does
not exist or holds the whole archive.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: default limits: generous for the published datasets (the largest holds ~100k files, ~10 GB)
MAX_MEMBERS = 1_000_000
MAX_BYTES = 64 * 1024**3

#: ``progress(members_done, members_total)``
ExtractProgress = Callable[[int, int], None]


class UnsafeArchiveError(ValueError):
    """An archive member that would land outside the target, or an archive over the limits."""


@dataclass(frozen=True)
class _Member:
    name: str  # normalised relative POSIX path
    kind: str  # "file", "dir", "symlink", "hardlink"
    size: int
    link: str = ""  # normalised link target (relative to the target folder) for links


def archive_kind(path: str | os.PathLike) -> str:
    """``zip`` or ``tar`` from the file's contents.

    Raises:
        UnsafeArchiveError: neither a zip nor a tar archive.
    """
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
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
        UnsafeArchiveError: a member would escape ``target`` (absolute path, ``..``, a link
            pointing outside), is a device or FIFO, or the archive has more than
            ``max_members`` members or unpacks to more than ``max_bytes`` bytes. Nothing is
            written in that case.
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise FileExistsError(f"{target} already exists; remove it or extract elsewhere")
    kind = archive_kind(archive)
    staging = target.with_name(f".{target.name}.extracting")
    if staging.exists():
        shutil.rmtree(staging)  # left by an interrupted earlier attempt
    staging.mkdir(parents=True)
    try:
        if kind == "zip":
            names = _extract_zip(archive, staging, max_members, max_bytes, progress)
        else:
            names = _extract_tar(archive, staging, max_members, max_bytes, progress)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return names


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


def _link_target(archive: Path, member: str, link: str, *, relative_to_member: bool) -> str:
    """The normalised in-target path a link points to, or fail when it leaves the target."""
    link = link.replace("\\", "/")
    if link.startswith("/") or _has_drive(link):
        raise UnsafeArchiveError(
            f"{archive}: member {member!r} links to the absolute path {link!r}; refused"
        )
    base = posixpath.dirname(member) if relative_to_member else ""
    resolved = posixpath.normpath(posixpath.join(base, link))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchiveError(
            f"{archive}: member {member!r} links to {link!r}, outside the target; refused"
        )
    return resolved


def _check_limits(archive: Path, members: list[_Member], max_members: int, max_bytes: int):
    if len(members) > max_members:
        raise UnsafeArchiveError(
            f"{archive}: {len(members)} members, more than the limit of {max_members}; refused"
        )
    total = sum(m.size for m in members)
    if total > max_bytes:
        raise UnsafeArchiveError(
            f"{archive}: unpacks to {total} bytes, more than the limit of {max_bytes}; refused"
        )


def _check_symlink_chains(archive: Path, members: Iterable[_Member]) -> None:
    """A member may not be written through a symbolic link the archive itself creates."""
    links = {m.name for m in members if m.kind == "symlink"}
    for m in members:
        parts = m.name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in links:
                raise UnsafeArchiveError(
                    f"{archive}: member {m.name!r} is written through the link "
                    f"{'/'.join(parts[:i])!r}; refused"
                )


# --- tar -------------------------------------------------------------------------------------
def _tar_members(archive: Path, tar: tarfile.TarFile) -> tuple[list[_Member], list]:
    members, infos = [], []
    for info in tar.getmembers():
        name = _safe_name(archive, info.name)
        if not name:
            continue
        if info.isdir():
            members.append(_Member(name, "dir", 0))
        elif info.isreg():
            members.append(_Member(name, "file", info.size))
        elif info.issym():
            link = _link_target(archive, name, info.linkname, relative_to_member=True)
            members.append(_Member(name, "symlink", 0, link))
        elif info.islnk():
            link = _link_target(archive, name, info.linkname, relative_to_member=False)
            members.append(_Member(name, "hardlink", 0, link))
        else:
            raise UnsafeArchiveError(
                f"{archive}: member {info.name!r} is a device, FIFO or other special file; refused"
            )
        infos.append(info)
    return members, infos


def _extract_tar(
    archive: Path, staging: Path, max_members: int, max_bytes: int,
    progress: ExtractProgress | None,
) -> list[str]:
    with tarfile.open(archive) as tar:
        members, infos = _tar_members(archive, tar)
        _check_limits(archive, members, max_members, max_bytes)
        _check_symlink_chains(archive, members)
        hard_sources = {m.name for m in members if m.kind != "hardlink"}
        for m in members:
            if m.kind == "hardlink" and m.link not in hard_sources:
                raise UnsafeArchiveError(
                    f"{archive}: member {m.name!r} is a hard link to {m.link!r}, which the "
                    "archive does not hold; refused"
                )
        for i, (m, info) in enumerate(zip(members, infos, strict=True)):
            _extract_tar_member(tar, info, m, staging)
            if progress is not None:
                progress(i + 1, len(members))
    return [m.name for m in members]


def _extract_tar_member(tar: tarfile.TarFile, info: tarfile.TarInfo, m: _Member, root: Path):
    dest = root / m.name
    if m.kind == "dir":
        dest.mkdir(parents=True, exist_ok=True)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        dest.unlink()  # a later member of the same name wins, as with tar itself
    if m.kind == "symlink":
        os.symlink(info.linkname, dest)
    elif m.kind == "hardlink":
        shutil.copyfile(root / m.link, dest)
    else:
        source = tar.extractfile(info)
        if source is None:  # pragma: no cover - regular members always have data
            raise UnsafeArchiveError(f"member {info.name!r} has no data")
        with source, open(dest, "wb") as out:
            _copy_limited(source, out, m.size, info.name)
        os.chmod(dest, (info.mode & 0o755) | 0o644)


# --- zip -------------------------------------------------------------------------------------
def _zip_members(archive: Path, zf: zipfile.ZipFile) -> list[tuple[_Member, zipfile.ZipInfo]]:
    out = []
    for info in zf.infolist():
        name = _safe_name(archive, info.filename)
        if not name:
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(
                f"{archive}: member {info.filename!r} is a symbolic link; links are not "
                "extracted from zip archives"
            )
        kind = "dir" if info.is_dir() else "file"
        out.append((_Member(name, kind, 0 if kind == "dir" else info.file_size), info))
    return out


def _extract_zip(
    archive: Path, staging: Path, max_members: int, max_bytes: int,
    progress: ExtractProgress | None,
) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        pairs = _zip_members(archive, zf)
        members = [m for m, _ in pairs]
        _check_limits(archive, members, max_members, max_bytes)
        for i, (m, info) in enumerate(pairs):
            dest = staging / m.name
            if m.kind == "dir":
                dest.mkdir(parents=True, exist_ok=True)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as source, open(dest, "wb") as out:
                    _copy_limited(source, out, m.size, info.filename)
            if progress is not None:
                progress(i + 1, len(members))
    return [m.name for m in members]


def _copy_limited(source, out, declared: int, name: str) -> None:
    """Copy at most ``declared`` bytes; a member that unpacks to more is refused."""
    remaining = declared
    while True:
        chunk = source.read(min(1 << 20, remaining + 1))
        if not chunk:
            return
        remaining -= len(chunk)
        if remaining < 0:
            raise UnsafeArchiveError(
                f"member {name!r} unpacks to more than its declared {declared} bytes; refused"
            )
        out.write(chunk)
