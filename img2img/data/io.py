"""Image files in and out: the project's one reader and one writer.

:func:`read_image` turns any supported file (8/16/32-bit, gray, palette, alpha, CMYK, EXIF-rotated)
into a float32 ``C x H x W`` tensor in ``[0, 1]``; :func:`read_pixels` keeps 8-bit data as uint8
(a quarter of the memory, for images too large to hold as floats); :func:`read_ids` reads a
label or instance map as its raw integer ids; :func:`write_image`
(:mod:`img2img.data.image_write`) writes a ``[0, 1]`` tensor (or an ``H x W x C`` array)
atomically.

An image over the pixel limit (:func:`set_max_image_pixels`; by its header, before anything is
decoded) is refused as a possible decompression bomb, naming the option that lifts the limit;
this check replaces Pillow's own (its ``DecompressionBombWarning`` and error), so every reader
in the process follows the one limit.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps

from img2img.config import check_channels
from img2img.data.extensions import IMAGE_EXTENSIONS, is_image_file
from img2img.data.image_write import PNG_COMPRESS_LEVEL, to_uint8, write_image

__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "IMAGE_EXTENSIONS",
    "LUMA_WEIGHTS",
    "PNG_COMPRESS_LEVEL",
    "ImageHeader",
    "ImageReadError",
    "ImageTooLargeError",
    "is_image_file",
    "open_regular_file",
    "pixels_to_float",
    "read_header",
    "read_ids",
    "read_image",
    "read_pixels",
    "set_max_image_pixels",
    "to_channels",
    "to_uint8",
    "write_image",
]

# ITU-R BT.601 luma weights, the ones PIL's "L" conversion uses.
LUMA_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)

_INT32_MAX = float(np.iinfo(np.int32).max)
#: pixels converted at a time from a decoded image to an array, and from uint8 to float:
#: converting a whole huge image at once would hold two more copies of it
_BAND_PIXELS = 1 << 22
#: the default pixel limit (:func:`set_max_image_pixels`): Pillow's own refusal threshold
#: (twice the size at which it starts to warn)
DEFAULT_MAX_IMAGE_PIXELS = 2 * 89_478_485
_max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS
Image.MAX_IMAGE_PIXELS = None  # Pillow's own check: replaced by _check_size
_T = TypeVar("_T")
# PIL modes read_ids accepts besides the I;16 family
_ID_MODES = frozenset({"1", "L", "LA", "La", "P", "PA", "I", "F", "RGB", "RGBA"})


class ImageReadError(OSError, ValueError):
    """A file that could not be read as an image.

    Attributes:
        path: the file.
        reason: what went wrong, in words.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")

    def __str__(self) -> str:
        return f"cannot read image {self.path}: {self.reason}"

    def __reduce__(self) -> tuple[type, tuple[Path, str]]:
        return (type(self), (self.path, self.reason))


class ImageTooLargeError(ImageReadError):
    """An image with more pixels than :func:`set_max_image_pixels` allows (refused unread).

    Attributes:
        pixels: the image's pixel count, by its header.
        limit: the limit it is over.
    """

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, limit: int) -> None:
        self.pixels = width * height
        self.limit = limit
        super().__init__(
            path,
            f"refused as a possible decompression bomb: {width}x{height} is {self.pixels} "
            f"pixels, over the limit of {limit}; pass --max-image-pixels {self.pixels} to "
            "read it",
        )

    def __reduce__(self) -> tuple[type, tuple[Path, str]]:  # pickles as its base
        return (ImageReadError, (self.path, self.reason))


def set_max_image_pixels(limit: int | None) -> None:
    """Set the most pixels an image read in this process may have; 0 or None: no limit.

    Raises:
        ValueError: ``limit`` is negative.
    """
    global _max_image_pixels
    if limit is not None and limit < 0:
        raise ValueError(
            f"--max-image-pixels: {limit} is not valid; expected a number >= 0 (0: no limit)"
        )
    _max_image_pixels = limit or None


def _check_size(img: Image.Image, path: Path) -> None:
    limit = _max_image_pixels
    width, height = img.size
    if limit is not None and width * height > limit:
        raise ImageTooLargeError(path, width, height, limit)


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding its pixels.

    Attributes:
        path: the file.
        width: width as :func:`read_image` returns it (EXIF rotation applied).
        height: height, likewise.
        format: the file format PIL found (``PNG``, ``JPEG`` ...).
        mode: the PIL mode (``RGB``, ``L``, ``P``, ``I;16`` ...).
        channels: colour channels of the stored data, alpha not counted (1 gray, 3 colour;
            palettes count as 3).
        bits: bits per channel value: 1, 8, 16 or 32.
    """

    path: Path
    width: int
    height: int
    format: str
    mode: str
    channels: int
    bits: int

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)``, the order of tensor shapes."""
        return self.height, self.width


_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F"})


def read_header(path: str | os.PathLike[str], *, data: bytes | None = None) -> ImageHeader:
    """Read an image's size, mode, channels and bit depth from its header (pixels not decoded).

    ``data``: the file's bytes, already in memory (``path`` then only names it in errors).

    Raises:
        ImageReadError: the file is missing or not an image PIL can open.
    """
    return _open_and_decode(Path(path), _header, data)


def _header(img: Image.Image, path: Path, file: BinaryIO | None = None) -> ImageHeader:
    width, height = img.size
    # PIL decodes a whole PNG to look for an EXIF chunk after the pixels; only one found
    # before them (in ``info``) is read here, which is where writers put it
    has_exif = img.format != "PNG" or "exif" in img.info
    if has_exif and img.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8):
        width, height = height, width
    mode = img.mode
    gray = mode in _GRAY_MODES or mode.startswith("I;16")
    if mode == "1":
        bits = 1
    elif mode.startswith("I;16") or _is_16bit_colour(img):
        bits = 16
    elif mode in ("I", "F"):
        bits = 16 if mode == "I" and img.format == "PNG" else 32  # PNG stores at most 16

    else:
        bits = 8
    return ImageHeader(path, width, height, img.format or "", mode, 1 if gray else 3, bits)


def read_image(
    path: str | os.PathLike[str], channels: int = 3, *, data: bytes | None = None
) -> torch.Tensor:
    """Read an image file as a float32 ``channels x H x W`` tensor in ``[0, 1]``.

    Alpha is dropped (not composited), palettes are expanded (transparent entries keep their
    colour), EXIF orientation is applied, 16-bit data is scaled by 65535, 32-bit integer data by
    65535 when it fits in 16 bits (16-bit PNGs opened as mode ``I``) and by the int32 maximum
    otherwise, float data is clamped to ``[0, 1]``. Colour becomes gray with BT.601 luma; gray
    becomes colour by repetition.

    Args:
        path: the image file.
        channels: 1 (gray) or 3 (RGB).
        data: the file's bytes, already in memory (an upload); ``path`` then only names it in
            errors and is never opened.

    Raises:
        ImageReadError: the file is missing, truncated, not an image or too large to decode.
        ValueError: ``channels`` is not 1 or 3.
    """
    check_channels("channels", channels)
    return to_channels(pixels_to_float(_read_chw(path, data)), channels)


def read_pixels(
    path: str | os.PathLike[str], channels: int = 3, *, data: bytes | None = None
) -> torch.Tensor:
    """Read an image file as :func:`read_image` does, but keep 8-bit data as uint8.

    A file of 8-bit values (most PNG and every JPEG) comes back as a uint8 ``channels x H x W``
    tensor of its values 0..255 (a view of an ``H x W x C`` array, so not contiguous), a quarter
    of the memory of floats; :func:`pixels_to_float` turns it into exactly what
    :func:`read_image` returns. Gray read as colour is one plane seen three times (do not write
    into it); colour read as gray, and files of other depths, come back as float32 in ``[0, 1]``
    as :func:`read_image` gives them.

    Raises:
        ImageReadError: as :func:`read_image`.
        ValueError: ``channels`` is not 1 or 3.
    """
    check_channels("channels", channels)
    pixels = _read_chw(path, data)
    if pixels.dtype != torch.uint8:
        return to_channels(pixels_to_float(pixels), channels)
    if pixels.shape[0] == channels:
        return pixels
    if channels == 3:
        return pixels.expand(3, -1, -1)
    gray = torch.empty((1, *pixels.shape[1:]), dtype=torch.float32)
    for rows in _bands(pixels):
        gray[:, rows] = to_channels(pixels_to_float(pixels[:, rows]), 1)
    return gray


def pixels_to_float(pixels: torch.Tensor) -> torch.Tensor:
    """A contiguous float32 copy of ``C x H x W`` pixels in ``[0, 1]``: uint8 values are divided
    by 255 (as :func:`read_image` does), floats are copied as they are."""
    out = torch.empty(pixels.shape, dtype=torch.float32)
    for rows in _bands(pixels):
        out[:, rows] = pixels[:, rows]
        if pixels.dtype == torch.uint8:
            out[:, rows].div_(255.0)
    return out


def _bands(pixels: torch.Tensor) -> list[slice]:
    """Row slices of ``C x H x W`` pixels of about :data:`_BAND_PIXELS` values each."""
    channels, height, width = pixels.shape
    step = max(1, _BAND_PIXELS // max(1, channels * width))
    return [slice(top, top + step) for top in range(0, height, step)]


def _read_chw(path: str | os.PathLike[str], data: bytes | None = None) -> torch.Tensor:
    """The decoded file as a ``C x H x W`` view of its ``H x W x C`` uint8 or float32 array."""
    array = _open_and_decode(Path(path), _decode_pixels, data)
    return torch.from_numpy(array).permute(2, 0, 1)


def read_ids(path: str | os.PathLike[str], *, data: bytes | None = None) -> torch.Tensor:
    """Read a label or instance map as its raw integer ids, an int64 ``1 x H x W`` tensor.

    Nothing is rescaled: 8-bit, 16-bit (Cityscapes ``*_instanceIds.png``, modes ``I;16`` and
    ``I``) and 32-bit integer values come out as stored; palette images keep their indices (no
    colour expansion); alpha is dropped; float maps are accepted when every value is a whole
    number. An RGB-coded map (one colour per id) becomes ``r * 65536 + g * 256 + b``. EXIF
    orientation is applied. ``data``: the file's bytes, already in memory (``path`` then only
    names it in errors).

    Raises:
        ImageReadError: the file is missing, unreadable, or holds no integer ids (CMYK, 16-bit
            colour, fractional floats).
    """
    array = _open_and_decode(Path(path), _decode_ids, data)
    return torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(0)


_FILE_KINDS = {stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a FIFO (named pipe)",
               stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
               stat.S_ISSOCK: "a socket"}


def open_regular_file(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file (or a symbolic link to one).

    Anything else fails at once with a reason, never blocks: a FIFO is opened non-blocking and
    refused, a symbolic link loop or a dangling link is named as such.

    Raises:
        ImageReadError: ``path`` is missing, not a regular file, or cannot be opened.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        reason = "a dangling symbolic link" if path.is_symlink() else "no such file"
        raise ImageReadError(path, reason) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageReadError(path, "a symbolic link loop") from exc
        if exc.errno == errno.ENXIO:
            raise ImageReadError(path, "not a regular file: a socket") from exc
        raise ImageReadError(path, exc.strerror or str(exc)) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _FILE_KINDS.items() if test(mode)), "special")
        raise ImageReadError(path, f"not a regular file: {kind}")
    return os.fdopen(fd, "rb")


def _open_and_decode(
    path: Path, decode: Callable[[Image.Image, Path, BinaryIO], _T], data: bytes | None = None
) -> _T:
    """Open ``path`` (or ``data``, the bytes of a file named ``path``) with PIL and decode it;
    every failure but running out of memory becomes an :class:`ImageReadError`."""
    if data is not None and not data:
        raise ImageReadError(path, "empty (0 bytes); expected an image file")
    try:
        source = open_regular_file(path) if data is None else io.BytesIO(data)
        with source as f, Image.open(f) as img:
            _check_size(img, path)
            return decode(img, path, f)
    except ImageReadError:
        raise
    except FileNotFoundError as exc:
        raise ImageReadError(path, "no such file") from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageReadError(path, "not an image file, or a format PIL cannot open") from exc
    except MemoryError:  # not the file's fault: the caller decides what to do
        raise
    except Exception as exc:  # every decoder failure becomes one error type naming the file
        raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from exc


def to_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert a ``C x H x W`` image with C in (1, 3) to ``channels`` (1 or 3) channels.

    3 -> 1 uses BT.601 luma, 1 -> 3 repeats the plane; equal counts return ``image`` itself.
    """
    have = image.shape[0]
    if have == channels:
        return image
    if have == 3 and channels == 1:
        r, g, b = LUMA_WEIGHTS
        return (image[0:1] * r + image[1:2] * g + image[2:3] * b).clamp_(0.0, 1.0)
    if have == 1 and channels == 3:
        return image.repeat(3, 1, 1)
    raise ValueError(
        f"cannot convert an image with {have} channels to {channels}; expected 1 or 3 channels"
    )


def _decode_pixels(img: Image.Image, path: Path, file: BinaryIO) -> np.ndarray:
    """Load an opened image as an ``H x W x C`` float32 or uint8 array (C in 1, 3)."""
    if _is_16bit_colour(img):  # the tile list is gone after load()
        orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
        return _apply_orientation(_decode_16bit_colour(path, file), orientation)
    img.load()
    return _decode(img)


def _decode_ids(img: Image.Image, path: Path, file: BinaryIO | None = None) -> np.ndarray:
    """Load an opened id map as an int64 ``H x W`` array of its stored values."""
    if _is_16bit_colour(img):
        raise ImageReadError(
            path, "16-bit colour id maps are not supported; expected gray, palette or 8-bit RGB ids"
        )
    img.load()
    orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
    mode = img.mode
    if mode not in _ID_MODES and not mode.startswith("I;16"):
        raise ImageReadError(
            path,
            f"mode {mode} holds no integer ids; expected a gray, palette, 16/32-bit or "
            "RGB-coded map",
        )
    array = _as_array(img)
    if array.ndim == 3:
        if mode in ("RGB", "RGBA"):
            rgb = array[..., :3].astype(np.int64)
            array = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        else:  # LA, La, PA: the value band, alpha dropped
            array = array[..., 0]
    if mode == "F" and not (np.isfinite(array).all() and (array == np.round(array)).all()):
        raise ImageReadError(path, "float map with fractional values; expected integer ids")
    ids = array.astype(np.int64)
    return _apply_orientation(ids[..., None], orientation)[..., 0]


def _decode(img: Image.Image) -> np.ndarray:
    """Decode a loaded PIL image into an ``H x W x C`` float32 or uint8 array (C in 1, 3)."""
    fmt = img.format  # a transposed copy no longer knows it
    orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation not in (1, None):
        img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    elif mode == "1":
        img = img.convert("L")
        mode = "L"
    elif mode not in ("RGB", "RGBA", "L", "LA", "F", "I") and not mode.startswith("I;16"):
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, PA, La ...
        mode = "RGB"

    array = _as_array(img)
    if mode in ("RGBA", "LA"):
        array = array[..., :-1]
    if mode.startswith("I;16"):
        array = np.clip(array.astype(np.float32) / np.float32(65535.0), 0.0, 1.0)
    elif mode == "I":
        array = _scale_int32(array, fmt)
    elif mode == "F":
        array = np.nan_to_num(array.astype(np.float32, copy=False), nan=0.0)
        array = np.clip(array, 0.0, 1.0)
    if array.ndim == 2:
        array = array[..., None]
    return array


def _as_array(img: Image.Image) -> np.ndarray:
    """A loaded image's pixels as a numpy array, converted a band of rows at a time (PIL's own
    conversion of a whole image holds two more copies of it while it works)."""
    width, height = img.size
    if width * height <= _BAND_PIXELS:
        return np.array(img)  # writable (np.asarray would give a read-only view of bytes)
    step = max(1, _BAND_PIXELS // width)
    out: np.ndarray | None = None
    for top in range(0, height, step):
        band = np.asarray(img.crop((0, top, width, min(height, top + step))))
        if out is None:
            out = np.empty((height, *band.shape[1:]), dtype=band.dtype)
        out[top : top + len(band)] = band
    assert out is not None
    return out


def _is_16bit_colour(img: Image.Image) -> bool:
    """PIL reduces 16-bit-per-channel colour to 8 bits; detect it from the raw tile mode."""
    if img.mode not in ("RGB", "RGBA") or not getattr(img, "tile", None):
        return False
    args = img.tile[0].args
    rawmode = args[0] if isinstance(args, tuple) else args
    return isinstance(rawmode, str) and ";16" in rawmode


def _decode_16bit_colour(path: Path, file: BinaryIO) -> np.ndarray:
    import cv2  # only for 16-bit colour (PIL reads 8 bits): not every run pays its import

    file.seek(0)
    data = np.frombuffer(file.read(), dtype=np.uint8)
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16 or array.ndim != 3:
        raise ImageReadError(path, "16-bit colour data could not be decoded")
    rgb = array[..., 2::-1]  # BGR(A) -> RGB, alpha dropped
    return rgb.astype(np.float32) / np.float32(65535.0)


def _apply_orientation(array: np.ndarray, orientation: int | None) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an ``H x W x C`` array."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation or 1)
    return np.ascontiguousarray(op(array)) if op else array


def _scale_int32(array: np.ndarray, fmt: str | None) -> np.ndarray:
    """Mode ``I``: 16-bit data stored in 32 bits maps by 65535, true 32-bit data by int32 max."""
    values = array.astype(np.float32)
    if fmt == "PNG" or (array.size and array.min() >= 0 and array.max() <= 65535):
        scale = 65535.0
    else:
        scale = _INT32_MAX
    return np.clip(values / np.float32(scale), 0.0, 1.0)
