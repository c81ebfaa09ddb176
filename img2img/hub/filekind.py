"""What a downloaded file is, from its first bytes: weights, an archive, or an HTML page.

A server may answer a download with a login wall or an error page and status 200; such a
file must never be saved under a model's or a dataset's name. :func:`mismatch` tells from a
file's first :data:`HEAD_BYTES` whether it is what its kind says.
"""

from __future__ import annotations

import os

#: bytes read from the start of a file to tell its kind (a tar header is 512 bytes)
HEAD_BYTES = 1024

#: what each kind is, in words
KINDS = {
    "weights": "PyTorch checkpoint (.pth/.pt) or .safetensors file",
    "archive": "zip or tar archive",
}

_ARCHIVE_MAGIC = (
    b"PK\x03\x04",  # zip
    b"PK\x05\x06",  # empty zip
    b"\x1f\x8b",  # gzip (.tar.gz, .tgz)
    b"BZh",  # bzip2
    b"\xfd7zXZ\x00",  # xz
)


def read_head(path: str | os.PathLike) -> bytes:
    """The first :data:`HEAD_BYTES` of the file at ``path``."""
    with open(path, "rb") as f:
        return f.read(HEAD_BYTES)


def is_html(head: bytes) -> bool:
    """Whether ``head`` starts an HTML (or XML) page."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<!--", b"<?xml")) or (
        text.startswith(b"<") and b"<html" in text
    )


def is_weights(head: bytes) -> bool:
    """A torch zip checkpoint, a pickled (legacy ``torch.save``) file, or ``.safetensors``."""
    if head.startswith(b"PK\x03\x04"):
        return True
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # pickle protocol 2-5
        return True
    if len(head) >= 9:  # safetensors: u64 little-endian header length, then a JSON object
        header = int.from_bytes(head[:8], "little")
        return 2 <= header < 100 * 1024**2 and head[8:9] == b"{"
    return False


def is_archive(head: bytes) -> bool:
    """A zip, gzip, bzip2 or xz stream, or a plain (POSIX or GNU) tar archive."""
    return head.startswith(_ARCHIVE_MAGIC) or head[257:262] == b"ustar"


_CHECKS = {"weights": is_weights, "archive": is_archive}


def mismatch(head: bytes, kind: str) -> str | None:
    """Why a file starting with ``head`` is not a ``kind`` file, or None when it is.

    Raises:
        KeyError: ``kind`` is not one of :data:`KINDS`.
    """
    wanted = KINDS[kind]
    if _CHECKS[kind](head):
        return None
    if is_html(head):
        return f"an HTML page (not a {wanted})"
    if not head:
        return f"an empty file (not a {wanted})"
    return f"a file that is not a {wanted} (it starts with {head[:16]!r})"
