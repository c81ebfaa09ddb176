"""Image files out: :func:`write_image` writes a ``[0, 1]`` tensor (or an ``H x W x C`` array)
atomically, encoding straight into the temp file (no second copy of the encoded image in
memory, and no copy of a huge PNG's pixels either); :func:`to_uint8` is the 8-bit array it
would store.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image

from img2img.atomic import atomic_write
from img2img.data.png import write_png

__all__ = ["PNG_COMPRESS_LEVEL", "check_writable_suffix", "encode_image", "to_uint8",
           "write_image", "writes_16_bit"]

_WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".ppm": "PPM",
    ".pgm": "PPM",
}
_SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")

#: zlib level of written PNGs: 3x faster to encode than PIL's default 6, files ~5% larger
PNG_COMPRESS_LEVEL = 1
#: PNGs of more pixels are encoded a band of rows at a time (:mod:`img2img.data.png`), without
#: PIL's copy of the whole image
STREAMED_PNG_PIXELS = 1 << 24


def write_image(
    path: str | os.PathLike[str],
    image: torch.Tensor | np.ndarray,
    bits: int = 8,
    quality: int = 95,
    *,
    replace: bool = True,
) -> Path:
    """Write an image atomically (temp file in the same folder, fsync, rename).

    Args:
        path: destination; the extension picks the format (PNG, JPEG, WEBP, BMP, TIFF, PPM/PGM).
            Missing parent folders are created.
        image: a torch tensor ``C x H x W`` or ``H x W``, or a numpy array ``H x W x C`` or
            ``H x W``, with C in (1, 3). Floats are read as ``[0, 1]`` (clamped); uint8 and
            uint16 arrays (and tensors) are taken as they are.
        bits: 8, or 16 for PNG/TIFF.
        quality: JPEG/WEBP quality (1-100).
        replace: replace an existing file; with False an existing one (even one another
            process writes meanwhile) is kept and :class:`FileExistsError` raised.

    Returns:
        The written path.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    array = _checked_array(image, path, suffix, bits)
    if array.dtype == np.uint16:
        data = _encode_16bit(array, suffix)
        atomic_write(path, lambda f: f.write(data), replace=replace)
    else:
        atomic_write(path, lambda f: _encode_8bit(f, array, suffix, quality), replace=replace)
    return path


def encode_image(
    image: torch.Tensor | np.ndarray, suffix: str, bits: int = 8, quality: int = 95
) -> bytes:
    """The bytes :func:`write_image` would write to a file ending in ``suffix``, in memory:
    the same quantisation and the same encoder settings.

    Raises:
        ValueError: ``suffix`` is not a format :func:`write_image` writes, 16 bits in a format
            without them, or ``image`` has no image's shape.
    """
    suffix = suffix.lower()
    array = _checked_array(image, Path(f"<image{suffix}>"), suffix, bits)
    if array.dtype == np.uint16:
        return _encode_16bit(array, suffix)
    buffer = io.BytesIO()
    _encode_8bit(buffer, array, suffix, quality)
    return buffer.getvalue()

def _checked_array(
    image: torch.Tensor | np.ndarray, where: Path, suffix: str, bits: int
) -> np.ndarray:
    """``image`` as an ``H x W x C`` array of ``bits`` bits, once the format and depth are
    known to be writable (errors name ``where``)."""
    check_writable_suffix(str(where), suffix)
    if bits not in (8, 16):
        raise ValueError(f"bits: {bits!r} is not valid; expected 8 or 16")
    if bits == 16 and suffix not in _SIXTEEN_BIT_SUFFIXES:
        raise ValueError(
            f"{where}: 16-bit output needs one of {', '.join(_SIXTEEN_BIT_SUFFIXES)}, not {suffix}"
        )
    return _quantize(_as_hwc(image, where), bits, where)



def check_writable_suffix(what: str, suffix: str) -> None:
    """Fail naming ``what`` unless ``suffix`` (``.png`` ...) is a format :func:`write_image`
    writes."""
    if suffix.lower() not in _WRITE_FORMATS:
        raise ValueError(
            f"{what}: cannot write {suffix or 'files without an extension'}; expected one of: "
            f"{', '.join(sorted(_WRITE_FORMATS))}"
        )


def writes_16_bit(path: str | os.PathLike[str]) -> bool:
    """Whether :func:`write_image` can store 16-bit data in ``path``'s format (PNG, TIFF)."""
    return Path(path).suffix.lower() in _SIXTEEN_BIT_SUFFIXES


def to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """The ``H x W x C`` uint8 array :func:`write_image` would store for ``image`` (8 bits).

    ``image`` is a ``C x H x W`` tensor or ``H x W x C`` array in ``[0, 1]`` (or already uint8).
    """
    where = Path("<image>")
    return _quantize(_as_hwc(image, where), 8, where)


def _as_hwc(image: torch.Tensor | np.ndarray, path: Path) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.ndim == 3:
            tensor = tensor.permute(1, 2, 0)
        array = tensor.numpy()
    else:
        array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise ValueError(
            f"{path}: image of shape {tuple(image.shape)} cannot be written; expected C x H x W "
            "(tensor) or H x W x C (array) with 1 or 3 channels, or H x W"
        )
    return array


def _quantize(array: np.ndarray, bits: int, path: Path) -> np.ndarray:
    target = np.uint8 if bits == 8 else np.uint16
    if array.dtype == target:
        return array
    if array.dtype.kind == "f":
        top = 255.0 if bits == 8 else 65535.0
        scaled = array.astype(np.float32)  # the one float copy, scaled in place
        np.nan_to_num(scaled, copy=False, nan=0.0)
        np.clip(scaled, 0.0, 1.0, out=scaled)
        scaled *= np.float32(top)
        np.rint(scaled, out=scaled)
        return scaled.astype(target)
    raise ValueError(
        f"{path}: cannot write {array.dtype} data with bits={bits}; expected floats in [0, 1] "
        f"or {np.dtype(target).name}"
    )


def _encode_16bit(array: np.ndarray, suffix: str) -> bytes:
    # PIL has no 16-bit colour; OpenCV writes 16-bit gray and colour PNG/TIFF.
    import cv2

    bgr = array[..., ::-1] if array.shape[2] == 3 else array[..., 0]
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(bgr))
    if not ok:
        raise OSError(f"encoding a 16-bit {suffix} image failed")
    return buf.tobytes()


def _encode_8bit(file: IO[bytes], array: np.ndarray, suffix: str, quality: int) -> None:
    fmt = _WRITE_FORMATS[suffix]
    if fmt == "PNG" and array.shape[0] * array.shape[1] > STREAMED_PNG_PIXELS:
        write_png(file, array, PNG_COMPRESS_LEVEL)
        return
    pil = Image.fromarray(np.ascontiguousarray(array[..., 0] if array.shape[2] == 1 else array))
    options: dict[str, object] = {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    elif fmt == "PNG":
        options["compress_level"] = PNG_COMPRESS_LEVEL
    pil.save(file, format=fmt, **options)
