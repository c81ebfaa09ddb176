"""An 8-bit PNG encoder that streams: :func:`write_png` compresses an ``H x W x C`` uint8 array a
band of rows at a time straight into a file.

PIL copies an image into its own storage (4 bytes a pixel for RGB) before encoding it; for an
image of hundreds of megapixels that copy is larger than the image. Here only one band of
filtered rows exists besides the array. Every row uses the PNG "Up" filter (the difference
with the row above), which compresses photographs about as well as PIL's choice does.
"""

from __future__ import annotations

import struct
import zlib
from typing import IO

import numpy as np

__all__ = ["write_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types by channel count: gray, RGB
_COLOUR_TYPES = {1: 0, 3: 2}
#: the "Up" filter's type byte
_UP = 2
#: bytes of image data filtered and compressed at a time
_BAND_BYTES = 1 << 22


def _chunk(file: IO[bytes], kind: bytes, data: bytes) -> None:
    file.write(struct.pack(">I", len(data)) + kind + data)
    file.write(struct.pack(">I", zlib.crc32(data, zlib.crc32(kind))))


def write_png(file: IO[bytes], array: np.ndarray, level: int = 1) -> None:
    """Write ``array`` (``H x W x C`` uint8, C in 1, 3) as an 8-bit PNG to ``file``.

    Args:
        file: a binary file open for writing.
        array: the pixels.
        level: the zlib compression level (0-9).

    Raises:
        ValueError: ``array`` is not uint8 ``H x W x 1`` or ``H x W x 3``.
    """
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in _COLOUR_TYPES:
        raise ValueError(f"write_png: expected an H x W x 1 or 3 uint8 array, got "
                         f"{array.dtype} {tuple(array.shape)}")
    height, width, channels = array.shape
    file.write(_SIGNATURE)
    _chunk(file, b"IHDR", struct.pack(">IIBBBBB", width, height, 8,
                                      _COLOUR_TYPES[channels], 0, 0, 0))
    rows = array.reshape(height, width * channels)
    step = max(1, _BAND_BYTES // max(1, width * channels))
    compressor = zlib.compressobj(level)
    band = np.empty((min(step, height), width * channels + 1), dtype=np.uint8)
    band[:, 0] = _UP
    for top in range(0, height, step):
        count = min(step, height - top)
        out = band[:count, 1:]
        out[:] = rows[top : top + count]
        out[1:] -= rows[top : top + count - 1]  # uint8: modulo 256, as PNG filters are
        if top:  # the image's first row has zeros above it
            out[0] -= rows[top - 1]
        data = compressor.compress(band[:count].tobytes())
        if data:
            _chunk(file, b"IDAT", data)
    _chunk(file, b"IDAT", compressor.flush())
    _chunk(file, b"IEND", b"")
