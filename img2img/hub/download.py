"""Download one file over HTTP(S): resumable, atomic, checksummed, through a mirror if asked.

Shared by everything that fetches published files (model weights, dataset archives). A
transfer goes into a hidden ``.NAME.part`` file next to the destination; an interrupted one is
continued with an HTTP ``Range`` request the next time, and the destination appears in one
rename only once it is whole (and matches its SHA-256 when one is known). The digest of every
finished file is recorded beside it (``NAME.sha256``, in ``sha256sum`` format), and only once
its first bytes show it is what it should be (``kind``: weights or an archive, never an HTML
page a server sent instead). A failed transfer keeps the data that arrived for the next
attempt, but never an empty partial file; a file of the wrong kind is removed.

``IMG2IMG_MIRROR`` (e.g. ``http://127.0.0.1:8000/base``) replaces the scheme, host and any
prefix of every URL while keeping its path, for closed networks and for tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import img2img
from img2img.atomic import atomic_write
from img2img.flock import try_lock
from img2img.hub import filekind
from img2img.hub.space import format_bytes, free_bytes, is_disk_full

log = logging.getLogger(__name__)

MIRROR_ENV = "IMG2IMG_MIRROR"
CHUNK_BYTES = 1 << 20

#: ``progress(done_bytes, total_bytes_or_None)``, called as bytes arrive
ProgressFn = Callable[[int, int | None], None]


class DownloadError(RuntimeError):
    """A download that could not be completed; the message names the URL and what happened."""


@dataclass(frozen=True)
class Downloaded:
    """A finished download.

    Attributes:
        path: the destination file, complete.
        sha256: its SHA-256, lowercase hex.
        size: its size in bytes.
        resumed_from: bytes an earlier, interrupted attempt had already fetched (0 if none).
        url: the URL actually fetched (after the mirror).
    """

    path: Path
    sha256: str
    size: int
    resumed_from: int
    url: str


def mirror_url(url: str, mirror: str | None = None) -> str:
    """``url`` with scheme, host and prefix replaced by ``mirror`` (default ``$IMG2IMG_MIRROR``).

    ``http://host/a/b.pth`` with mirror ``http://127.0.0.1:8000/base`` becomes
    ``http://127.0.0.1:8000/base/a/b.pth``. Without a mirror, ``url`` is returned unchanged.

    Raises:
        DownloadError: the mirror is not an ``http(s)://host[:port][/prefix]`` URL.
    """
    mirror = os.environ.get(MIRROR_ENV, "") if mirror is None else mirror
    if not mirror:
        return url
    m = urlsplit(mirror)
    if m.scheme not in ("http", "https") or not m.netloc:
        raise DownloadError(
            f"{MIRROR_ENV}={mirror!r} is not valid; expected a URL such as "
            "http://127.0.0.1:8000/prefix"
        )
    u = urlsplit(url)
    return urlunsplit((m.scheme, m.netloc, m.path.rstrip("/") + u.path, u.query, ""))


def partial_path(dest: str | os.PathLike) -> Path:
    """Where the unfinished transfer of ``dest`` is kept."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.part")


def checksum_path(path: str | os.PathLike) -> Path:
    """The file recording ``path``'s SHA-256 (``NAME.sha256``)."""
    path = Path(path)
    return path.with_name(f"{path.name}.sha256")


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's contents, lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def record_sha256(path: str | os.PathLike, digest: str) -> Path:
    """Write ``digest`` beside ``path`` in ``sha256sum`` format; returns the record's path."""
    path = Path(path)
    record = checksum_path(path)
    line = f"{digest}  {path.name}\n"
    atomic_write(record, lambda f: f.write(line), "w")
    return record


def recorded_sha256(path: str | os.PathLike) -> str | None:
    """The SHA-256 recorded for ``path`` by a finished download, or None."""
    try:
        text = checksum_path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    match = re.match(r"\s*([0-9a-fA-F]{64})\b", text)
    return match.group(1).lower() if match else None


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    kind: str | None = None,
    progress: ProgressFn | None = None,
    timeout: float = 60.0,
    mirror: str | None = None,
) -> Downloaded:
    """Fetch ``url`` into ``dest`` (replacing it), resuming an earlier interrupted transfer.

    Args:
        url: the file's published URL; ``mirror`` (default ``$IMG2IMG_MIRROR``) may redirect it.
        dest: the file to create; its folder is created if needed.
        sha256: the expected digest, when known: a mismatch removes the transfer and fails.
        kind: what the file must be (a key of :data:`img2img.hub.filekind.KINDS`), checked
            from its first bytes; None accepts anything.
        progress: called with (bytes done, total bytes or None) as data arrives.
        timeout: seconds to wait for the server on connect and on each read.

    Returns:
        What was downloaded. The digest is also recorded in ``NAME.sha256`` beside ``dest``.

    Raises:
        DownloadError: the server refused, the connection failed or broke off (what arrived is
            kept and the next call resumes from there), the disk is too full for the rest,
            the file is not of ``kind`` (an HTML page ...) or its size or checksum is wrong,
            or another process is downloading the same file.
    """
    source = mirror_url(url, mirror)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(dest)
    with _locked(part, source) as f:
        have = f.seek(0, os.SEEK_END)
        resumed_from, digest = _fetch(source, f, have, progress, timeout)
        try:
            f.flush()
            os.fsync(f.fileno())
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            raise _disk_full(source, part, None) from exc
        size = f.tell()
        _check_kind(source, part, kind)
        if sha256 is not None and digest != sha256.lower():
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{source}: checksum mismatch: expected sha256 {sha256.lower()}, got {digest}; "
                "the download was removed (a damaged transfer or a changed file on the server)"
            )
        os.replace(part, dest)
    record_sha256(dest, digest)
    log.info("downloaded %s -> %s (%d bytes, sha256 %s)", source, dest, size, digest)
    return Downloaded(dest, digest, size, resumed_from, source)


def remote_size(url: str, *, timeout: float = 10.0, mirror: str | None = None) -> int | None:
    """The size in bytes the server announces for ``url`` (a ``HEAD`` request, through the
    mirror), or None when it says none or cannot be reached (the download will tell)."""
    source = mirror_url(url, mirror)
    request = urllib.request.Request(
        source, method="HEAD", headers={"User-Agent": f"img2img/{img2img.__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            length = response.headers.get("Content-Length")
    except (OSError, urllib.error.URLError, ValueError) as exc:
        log.info("%s: no size known (%s)", source, _reason(exc))
        return None
    return int(length) if length and length.isdigit() else None


def _check_kind(source: str, part: Path, kind: str | None) -> None:
    """Fail, removing the transfer, when ``part`` is not a ``kind`` file."""
    if kind is None:
        return
    why = filekind.mismatch(filekind.read_head(part), kind)
    if why is not None:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{source} answered with {why}; nothing was saved (a login page, an error page or "
            "a moved file: check the URL or use a mirror)"
        )


def _disk_full(source: str, part: Path, needed: int | None) -> DownloadError:
    """The error for a disk that filled (or would fill) while downloading ``source``."""
    need = "the rest of the file" if needed is None else format_bytes(needed)
    return DownloadError(
        f"{part.parent}: not enough free space to download {source}: it needs {need}, "
        f"{format_bytes(free_bytes(part.parent))} are free; free some space and run the "
        "command again (it resumes)"
    )


@contextlib.contextmanager
def _locked(part: Path, source: str) -> Iterator[IO[bytes]]:
    """The partial file opened for appending, locked against other processes.

    When the holder is done, a partial file that is still empty is removed.
    """
    f = open(part, "a+b")  # noqa: SIM115 - closed below, after the lock is released
    try:
        if not try_lock(f.fileno()):  # two processes never append to one partial file
            raise DownloadError(
                f"{source}: another process is downloading it into {part}; wait for it "
                "to finish (or stop it) and try again"
            )
        try:
            yield f
        finally:
            _remove_if_empty(part, f)
    except BaseException:
        with contextlib.suppress(OSError):  # a full disk fails the flush on close as well
            f.close()
        raise
    f.close()


def _remove_if_empty(part: Path, f: IO[bytes]) -> None:
    """Remove ``part`` when it is still the (locked) file ``f`` and holds nothing."""
    mine = os.fstat(f.fileno())
    with contextlib.suppress(FileNotFoundError):
        there = os.stat(part)
        if (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino) and mine.st_size == 0:
            part.unlink()


def _fetch(
    source: str, f: IO[bytes], have: int, progress: ProgressFn | None, timeout: float
) -> tuple[int, str]:
    """Append the rest of ``source`` to ``f`` (holding ``have`` bytes); (resumed from, sha256)."""
    response = _open(source, have, timeout)
    if response is None:  # 416: what we hold is already the whole file
        return have, _hash_prefix(f, have).hexdigest()
    with response:
        if have and response.status != 206:  # the server ignored the range: start over
            log.info("%s: the server does not resume; downloading from the start", source)
            f.seek(0)
            f.truncate()
            have = 0
        elif have:
            _check_range(source, response.headers.get("Content-Range", ""), have)
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        part = Path(f.name)
        if total is not None and total - have > free_bytes(part.parent):
            raise _disk_full(source, part, total - have)
        digest = _hash_prefix(f, have)
        done = have
        if progress is not None:
            progress(done, total)
        try:
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                f.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        except (OSError, urllib.error.URLError) as exc:
            if is_disk_full(exc):
                raise _disk_full(source, part, None if total is None else total - done) from exc
            f.flush()  # keep what arrived for the next attempt
            raise DownloadError(
                f"{source}: the transfer broke off after {done} bytes ({_reason(exc)}); "
                "run the command again to resume it"
            ) from exc
    if total is not None and done != total:
        raise DownloadError(
            f"{source}: the transfer ended after {done} of {total} bytes; "
            "run the command again to resume it"
        )
    return have, digest.hexdigest()


def _open(source: str, have: int, timeout: float):
    headers = {"User-Agent": f"img2img/{img2img.__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(source, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) only
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            return None
        raise DownloadError(f"{source}: the server answered HTTP {exc.code} {exc.reason}") from exc
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise DownloadError(
            f"{source}: cannot connect ({_reason(exc)}); check the network, or set "
            f"{MIRROR_ENV} to a mirror that serves the same paths"
        ) from exc


def _check_range(source: str, content_range: str, have: int) -> None:
    match = re.match(r"bytes (\d+)-", content_range)
    if not match or int(match.group(1)) != have:
        raise DownloadError(
            f"{source}: asked to resume at byte {have} but the server answered "
            f"{content_range or 'no Content-Range'}; delete the partial file and try again"
        )


def _hash_prefix(f: IO[bytes], length: int) -> hashlib._Hash:
    """SHA-256 state over the first ``length`` bytes of ``f``, read in chunks; ``f`` ends at EOF."""
    digest = hashlib.sha256()
    f.seek(0)
    remaining = length
    while remaining:
        chunk = f.read(min(CHUNK_BYTES, remaining))
        if not chunk:
            break
        digest.update(chunk)
        remaining -= len(chunk)
    f.seek(0, os.SEEK_END)
    return digest


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason) or type(exc).__name__
