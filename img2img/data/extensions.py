"""Which file names count as images or videos, and which video containers are written (no heavy
imports, so the command line can use it)."""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` has one of :data:`IMAGE_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


#: videos ``translate`` reads (decoded by OpenCV's FFmpeg)
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm"})


def is_video_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` has one of :data:`VIDEO_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


#: the codec (FourCC) written into each container img2img writes
VIDEO_CODECS: dict[str, str] = {
    ".mp4": "mp4v",
    ".m4v": "mp4v",
    ".mov": "mp4v",
    ".mkv": "mp4v",
    ".avi": "MJPG",
}
#: the container a video is written in when its own cannot be written
DEFAULT_VIDEO_SUFFIX = ".mp4"


def writable_video_suffix(path: str | os.PathLike[str]) -> str:
    """``path``'s suffix when :class:`VideoWriter` can write it, else ``.mp4``."""
    suffix = Path(path).suffix
    return suffix if suffix.lower() in VIDEO_CODECS else DEFAULT_VIDEO_SUFFIX
