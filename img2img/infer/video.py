"""Translate a video frame by frame, in batches, through the same path as images.

Frames are decoded one batch ahead on a thread, prepared and translated exactly as images are
(:mod:`img2img.infer.batch`), and encoded behind the network on another thread into a video
of the same frame rate (and the same size, unless a resizing is asked for). Every frame is
translated under the video's key, so in the pix2pix paper's test mode all frames get the same
dropout masks and the noise does not flicker from frame to frame. The sound is not kept:
OpenCV reads and writes only the picture.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from torch import Tensor

from img2img.data.video import VideoReader, VideoWriter
from img2img.infer.batch import Translator, prepare
from img2img.infer.plan import Job
from img2img.infer.resizing import Resizing

__all__ = ["DEFAULT_FPS", "FrameProgress", "translate_video"]

log = logging.getLogger(__name__)

#: ``progress(key, frames done, frames in the video or None when unknown)``
FrameProgress = Callable[[str, int, "int | None"], None]

#: the frame rate written when a video does not state its own
DEFAULT_FPS = 25.0


def _take(frames: Iterator[Tensor], count: int) -> list[Tensor]:
    return list(itertools.islice(frames, count))


def _write(writer: VideoWriter, frames: Sequence[Tensor]) -> None:
    for frame in frames:
        writer.write(frame)


def translate_video(
    translator: Translator,
    job: Job,
    *,
    batch_size: int = 8,
    resizing: Resizing | None = None,
    side: str | None = None,
    progress: FrameProgress | None = None,
) -> int:
    """Translate every frame of ``job.src`` into the video ``job.dst``.

    Args:
        translator: the model, device and precision.
        job: the input video, the output video (its suffix picks the container) and the key
            that names it and seeds its dropout masks.
        batch_size: frames per forward pass.
        resizing, side: as for :func:`~img2img.infer.translate.translate_files`.
        progress: told after each batch how many frames are done.

    Returns:
        The number of frames written.

    A model's companion inputs (pix2pixHD's instance maps) are left out: a video has none.

    Raises:
        ValueError: the model does not take pictures (it takes label maps).
        VideoReadError: the input cannot be opened or decoded.
        OSError: the output cannot be written; nothing is left at ``job.dst``.
    """
    model = translator.model
    stream = model.input_streams[0]
    if stream.is_ids:
        raise ValueError(f"{job.src}: a video holds pictures; this model translates "
                         f"{stream.kind} maps")
    done = 0
    with VideoReader(job.src, stream.channels) as reader:
        fps = reader.info.fps
        if not fps > 0:
            log.warning("%s states no frame rate; writing %s at %g fps", job.src, job.dst,
                        DEFAULT_FPS)
            fps = DEFAULT_FPS
        frames = iter(reader)
        # the pools close first, so no thread still reads or writes when the writer closes
        with (VideoWriter(job.dst, fps) as writer,
              ThreadPoolExecutor(1, thread_name_prefix="img2img-video-read") as reading,
              ThreadPoolExecutor(1, thread_name_prefix="img2img-video-write") as writing):
            ahead = reading.submit(_take, frames, batch_size)
            written: Future[None] | None = None
            while batch := ahead.result():
                ahead = reading.submit(_take, frames, batch_size)
                items = [prepare(job, model, {stream.name: frame}, resizing, side)
                         for frame in batch]
                outputs = []
                for _, out in translator(items):
                    if isinstance(out, str):  # not even its tiles fit
                        raise MemoryError(f"frame {done + len(outputs) + 1}: {out}")
                    outputs.append(out)
                if written is not None:
                    written.result()
                written = writing.submit(_write, writer, outputs)
                done += len(batch)
                if progress is not None:
                    progress(job.key, done, reader.info.frames)
            if written is not None:
                written.result()
    log.info("%s: %d frames at %g fps -> %s (without sound)", job.src, done, fps, job.dst)
    return done
