"""An upload read into memory within the size limit, split into the model's streams, decoded.

A request carries one image either as the raw body or as ``multipart/form-data`` with a part
``image`` (and, for models with companion streams, one part per stream by its name, such as
``instance``). Nothing is written to disk: the body is read in chunks up to ``--max-upload-mb``
and decoded from memory by the same reader ``translate`` uses.
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from img2img.serve.errors import ApiError

__all__ = ["IMAGE_PART", "Upload", "parse_upload", "read_body"]

#: the multipart field holding the image (the model's first stream)
IMAGE_PART = "image"
#: the image's name when the request gives none (it seeds dropout as a file name does)
DEFAULT_NAME = "image"


@dataclass
class Upload:
    """One request's image: its name and the bytes of each of its streams.

    Attributes:
        name: the file name it came with (no folders), or ``?name=``: the image's key, which
            seeds its dropout masks as the file's name does in ``translate``.
        parts: ``{stream name: file bytes}``.
    """

    name: str
    parts: dict[str, bytes] = field(default_factory=dict)


async def read_body(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is over ``limit`` bytes.

    ``declared`` is the ``Content-Length`` header, if any: a body declared too large is refused
    before a byte of it is read.
    """
    too_large = ApiError(413, f"the upload is over --max-upload-mb ({limit} bytes); send a "
                              "smaller image or start the server with a larger --max-upload-mb")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _base_name(filename: str | None) -> str | None:
    """The last component of an uploaded file's name (clients may send folders)."""
    if not filename:
        return None
    name = posixpath.basename(filename.replace("\\", "/"))
    return name if name not in ("", ".", "..") else None


def parse_upload(content_type: str | None, body: bytes, streams: Sequence[str],
                 name: str | None) -> Upload:
    """Split a request body into the model's streams.

    Args:
        content_type: the request's ``Content-Type``.
        body: the whole body.
        streams: the model's stream names, the image's first.
        name: ``?name=``, the image's name when the body does not give one.

    Raises:
        ApiError: 400 for an empty body, a multipart body without an ``image`` part, a part
            the model does not take, or a malformed multipart body.
    """
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        files = _multipart(content_type or "", body)
        if IMAGE_PART not in files:
            raise ApiError(400, f"the multipart body has no part {IMAGE_PART!r} (it has: "
                                f"{', '.join(files) or 'none'}); send the image as -F "
                                f"{IMAGE_PART}=@FILE")
        extra = sorted(set(files) - {IMAGE_PART, *streams[1:]})
        if extra:
            taken = ", ".join([IMAGE_PART, *streams[1:]])
            raise ApiError(400, f"multipart part {extra[0]!r} is not taken by this model; "
                                f"it takes: {taken}")
        filename, data = files[IMAGE_PART]
        upload = Upload(name or _base_name(filename) or DEFAULT_NAME, {streams[0]: data})
        for stream in streams[1:]:
            if stream in files:
                upload.parts[stream] = files[stream][1]
    else:
        upload = Upload(name or DEFAULT_NAME, {streams[0]: body})
    if not upload.parts[streams[0]]:
        raise ApiError(400, "the image is empty (0 bytes); expected an image file")
    if PurePath(upload.name).name != upload.name:
        raise ApiError(400, f"name: {upload.name!r} is not valid; expected a file name")
    return upload


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """``{field: (file name, bytes)}`` of a ``multipart/form-data`` body, parsed in memory."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "Content-Type: multipart/form-data without a boundary")
    parts: dict[str, tuple[str | None, bytes]] = {}
    state: dict[str, object] = {}
    headers: dict[bytes, bytes] = {}

    def begin() -> None:
        headers.clear()
        state.update(field=b"", value=b"", data=bytearray())

    def header_field(data: bytes, start: int, end: int) -> None:
        state["field"] = bytes(state["field"]) + data[start:end]  # type: ignore[operator]

    def header_value(data: bytes, start: int, end: int) -> None:
        state["value"] = bytes(state["value"]) + data[start:end]  # type: ignore[operator]

    def header_end() -> None:
        headers[bytes(state["field"]).lower()] = bytes(state["value"])  # type: ignore[arg-type]
        state.update(field=b"", value=b"")

    def part_data(data: bytes, start: int, end: int) -> None:
        state["data"] += data[start:end]  # type: ignore[operator]

    def end() -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        field_name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        parts[field_name] = (None if filename is None else filename.decode("utf-8", "replace"),
                             bytes(state["data"]))  # type: ignore[arg-type]

    parser = MultipartParser(boundary, {
        "on_part_begin": begin, "on_header_field": header_field,
        "on_header_value": header_value, "on_header_end": header_end,
        "on_part_data": part_data, "on_part_end": end,
    })
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # the parser's own errors name no type worth keeping
        raise ApiError(400, f"the multipart body is malformed: {exc}") from exc
    return parts
