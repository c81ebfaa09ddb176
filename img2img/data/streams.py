"""Named streams: the parts of a sample (photo, label map, instance map) and how each is read.

A stream's kind decides everything kind-specific: ``image`` streams are read as floats in
``[0, 1]``, resized bicubic and handed to the networks in ``[-1, 1]``; ``label`` and ``instance``
streams are read as raw integer ids, resized nearest and handed over as int64, ids unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch

from img2img.config import check_channels
from img2img.data.io import read_ids, read_image, read_pixels
from img2img.data.ranges import to_model_range

StreamKind = Literal["image", "label", "instance"]

#: every stream kind, in the order of :data:`StreamKind`
STREAM_KINDS: tuple[str, ...] = get_args(StreamKind)
#: kinds whose values are integer ids (resized nearest, never blended)
ID_KINDS: frozenset[str] = frozenset({"label", "instance"})
#: names a stream cannot take (``key`` is the sample's own entry)
RESERVED_NAMES: frozenset[str] = frozenset({"key", "skipped"})


def is_id_kind(kind: str) -> bool:
    """True for kinds whose values are integer ids (``label``, ``instance``)."""
    return kind in ID_KINDS


@dataclass(frozen=True)
class Stream:
    """One named part of a sample.

    Attributes:
        name: the key of the stream in a sample, e.g. ``"A"``, ``"label"``, ``"instance"``.
        kind: ``image`` (float pixels), ``label`` (class ids) or ``instance`` (instance ids).
        channels: channels of an ``image`` stream, 1 (gray) or 3 (RGB); id streams always have
            one channel and ignore it.
    """

    name: str
    kind: StreamKind = "image"
    channels: int = 3

    def __post_init__(self) -> None:
        if not self.name or self.name in RESERVED_NAMES:
            raise ValueError(
                f"stream name {self.name!r} is not valid; expected a non-empty name other than "
                f"{', '.join(sorted(RESERVED_NAMES))}"
            )
        if self.kind not in STREAM_KINDS:
            raise ValueError(
                f"stream {self.name!r}: kind {self.kind!r} is not valid; expected one of "
                f"{', '.join(STREAM_KINDS)}"
            )
        if self.kind == "image":
            check_channels(f"stream {self.name!r}: channels", self.channels)

    @property
    def is_ids(self) -> bool:
        """True when the stream holds integer ids rather than pixels."""
        return is_id_kind(self.kind)

    def read(
        self, path: str | os.PathLike[str], *, compact: bool = False, data: bytes | None = None
    ) -> torch.Tensor:
        """Decode this stream's file: float ``C x H x W`` in ``[0, 1]``, or int64 ``1 x H x W`` ids.

        Args:
            path: the file.
            compact: 8-bit pictures come as uint8 0..255 (:func:`~img2img.data.io.read_pixels`).
            data: the file's bytes, already in memory; ``path`` then only names it in errors.

        Raises:
            ImageReadError: the file cannot be read.
        """
        if self.is_ids:
            return read_ids(path, data=data)
        read = read_pixels if compact else read_image
        return read(path, channels=self.channels, data=data)

    def to_sample(self, tensor: torch.Tensor) -> torch.Tensor:
        """Bring a transformed tensor to its sample form: ``[-1, 1]`` floats, or int64 ids."""
        return tensor.long() if self.is_ids else to_model_range(tensor)


def stream_kinds(streams: Sequence[Stream]) -> dict[str, StreamKind]:
    """``{name: kind}`` of ``streams``, in order.

    Raises:
        ValueError: no streams, or two streams share a name.
    """
    if not streams:
        raise ValueError("streams: expected at least one stream")
    kinds: dict[str, StreamKind] = {}
    for stream in streams:
        if stream.name in kinds:
            raise ValueError(f"stream name {stream.name!r} is used twice; expected unique names")
        kinds[stream.name] = stream.kind
    return kinds
