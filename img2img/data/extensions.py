"""Which file names count as images or videos (no heavy imports, so the command line can use it)."""

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
