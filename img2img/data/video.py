"""Video files in and out, frame by frame, through OpenCV's FFmpeg.

:class:`VideoReader` decodes a video into float32 ``C x H x W`` frames in ``[0, 1]`` (as
:func:`~img2img.data.io.read_image` reads an image); :class:`VideoWriter` encodes frames at a
given rate into a file that appears atomically when it is complete. Only the picture is read
and written: OpenCV has no audio, so a written video has none.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from img2img.atomic import atomic_path
from img2img.data.extensions import VIDEO_CODECS, VIDEO_EXTENSIONS
from img2img.data.io import ImageReadError, to_channels, to_uint8

__all__ = [
    "VideoInfo",
    "VideoReadError",
    "VideoReader",
    "VideoWriter",
]

log = logging.getLogger(__name__)

class VideoReadError(ImageReadError):
    """A video that cannot be opened or holds no decodable frame (reported like a bad image)."""

    def __str__(self) -> str:
        return f"cannot read video {self.path}: {self.reason}"


@dataclass(frozen=True)
class VideoInfo:
    """What a video's header says.

    Attributes:
        fps: frames per second (0 when the file does not say).
        width, height: the frame size in pixels.
        frames: the frame count the container reports, or None when it reports none; it can
            be off by a few frames for some containers.
    """

    fps: float
    width: int
    height: int
    frames: int | None


class VideoReader:
    """Decode a video's frames in order, as float32 ``channels x H x W`` tensors in ``[0, 1]``.

    Args:
        path: the video file.
        channels: 3 for RGB frames, 1 for gray (BT.601 luma, as for images).

    Raises:
        VideoReadError: the file cannot be opened as a video, or its first frame cannot be
            decoded.
    """

    def __init__(self, path: str | os.PathLike[str], channels: int = 3) -> None:
        self.path = Path(path)
        self.channels = channels
        if not self.path.is_file():
            raise VideoReadError(self.path, "no such file")
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            self._capture.release()
            raise VideoReadError(
                self.path, f"cannot be opened as a video (expected one of "
                f"{', '.join(sorted(VIDEO_EXTENSIONS))} that FFmpeg decodes)"
            )
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.info = VideoInfo(
            fps=float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0),
            width=int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            frames=count if count > 0 else None,
        )
        self._first = self._decode()
        if self._first is None:
            self.close()
            raise VideoReadError(self.path, "holds no frame that can be decoded")
        self.decoded = 0

    def _decode(self) -> torch.Tensor | None:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            return None
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if frame.ndim == 3 else frame[..., None]
        image = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div_(255)
        return to_channels(image, self.channels)

    def __iter__(self) -> Iterator[torch.Tensor]:
        """The frames, from the first; decoding stops at the end or at the first bad frame."""
        frame, self._first = self._first, None
        while frame is not None:
            self.decoded += 1
            yield frame
            frame = self._decode()
        if self.info.frames is not None and self.decoded < self.info.frames:
            log.warning("%s: decoded %d of the %d frames its header announces",
                        self.path, self.decoded, self.info.frames)

    def close(self) -> None:
        """Release the decoder."""
        self._capture.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoWriter:
    """Encode frames into ``path`` at ``fps``; the file appears, whole, when the writer closes.

    The container is ``path``'s suffix (one of :data:`VIDEO_CODECS`); the frame size is the
    first frame's. When the block that uses the writer raises, nothing is written and an
    existing ``path`` is left as it was.

    Raises:
        ValueError: ``path``'s suffix is not a container img2img writes, or ``fps`` is not
            positive.
        OSError: the encoder cannot be started, or a frame's size differs from the first's.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_CODECS:
            raise ValueError(
                f"{self.path}: cannot write {suffix or 'videos without an extension'}; "
                f"expected one of: {', '.join(sorted(VIDEO_CODECS))}"
            )
        if not fps > 0:
            raise ValueError(f"{self.path}: frame rate {fps!r} is not valid; expected > 0")
        self.fps = fps
        self.frames = 0
        self._codec = cv2.VideoWriter_fourcc(*VIDEO_CODECS[suffix])
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._target = atomic_path(self.path)
        self._tmp: Path | None = None

    def __enter__(self) -> VideoWriter:
        self._tmp = self._target.__enter__()
        return self

    def write(self, frame: torch.Tensor) -> None:
        """Append one ``C x H x W`` frame in ``[0, 1]`` (C in 1, 3)."""
        if self._tmp is None:
            raise RuntimeError("VideoWriter.write outside its with-block")
        pixels = to_uint8(frame)
        pixels = (cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if pixels.shape[2] == 1
                  else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
        size = (pixels.shape[1], pixels.shape[0])
        if self._writer is None:
            self._writer = cv2.VideoWriter(str(self._tmp), self._codec, self.fps, size)
            if not self._writer.isOpened():
                codec = VIDEO_CODECS[self.path.suffix.lower()]
                raise OSError(f"{self.path}: OpenCV cannot start a {codec} encoder for "
                              f"{size[0]}x{size[1]} frames")
            self._size = size
        elif size != self._size:
            raise OSError(f"{self.path}: frame {self.frames} is {size[0]}x{size[1]}, the "
                          f"video {self._size[0]}x{self._size[1]}")
        self._writer.write(pixels)
        self.frames += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if self._writer is not None:
            self._writer.release()
        if kind is None and self.frames == 0:
            empty = OSError(f"{self.path}: no frames to write")
            self._target.__exit__(OSError, empty, None)  # removes the temp file
            raise empty
        self._target.__exit__(kind, exc, tb)
