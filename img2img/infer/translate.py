"""Translate image and video files and folders with a generator, in batches.

:func:`translate_files` runs the jobs that :func:`~img2img.infer.plan.plan_outputs` made: a
thread pool decodes images ahead of the network and another encodes and writes results behind
it, so the device (or the CPU's math threads) stays busy. Images are grouped by their padded
size, so a batch never mixes sizes; every image is reflect-padded to the
generator's size multiple and cropped back, so outputs keep their input's size. Each image's
result is the one it gets alone (:func:`~img2img.infer.stochastic.batch_invariant`), so the
batch size never changes an output. Videos in the input run after the images, frame by frame
through the same batches (:mod:`img2img.infer.video`).

Memory is bounded by a pixel budget: no forward pass holds more, an image over it is decoded
only at its turn and translated in overlapping tiles, and one that runs out of memory anyway
is retried in smaller pieces (:class:`~img2img.infer.batch.Translator`) or reported alone.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from img2img.atomic import check_writable
from img2img.config import check_channels
from img2img.data.extensions import is_video_file
from img2img.data.io import read_header, write_image
from img2img.engine.device import autocast_dtype, is_out_of_memory, release_memory
from img2img.infer.batch import (
    SIDES,
    Launched,
    Prepared,
    Result,
    Translatable,
    Translator,
    first_line,
    min_size,
    prepare,
)
from img2img.infer.padding import padded_size
from img2img.infer.plan import Job, expand_variants
from img2img.infer.resizing import NO_RESIZING, Resizing
from img2img.infer.stale import remove_stale_outputs
from img2img.infer.tiling import DEFAULT_MAX_PIXELS
from img2img.infer.transfer import io_threads

if TYPE_CHECKING:  # the video module (and OpenCV) load only when a video is translated
    from img2img.infer.video import FrameProgress

__all__ = ["IO_NICENESS", "Translatable", "TranslateSummary", "Writing", "batch_limit",
           "thread_pool", "trained_image_bits", "translate_files"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TranslateSummary:
    """What :func:`translate_files` did.

    Attributes:
        written: outputs written (images and videos).
        skipped: outputs left alone because they already existed.
        failed: ``(input path, reason)`` for each image or video that could not be read,
            translated or written.
        seconds: wall-clock time of the whole call.
        skipped_paths: the existing outputs that were left alone.
        test_mode: the model's test-time behaviour, in words.
        videos: the videos among ``written`` (written without sound).
        frames: the frames of those videos.
        tiled: the inputs that were translated in tiles (too large for one pass).
    """

    written: int
    skipped: int
    failed: list[tuple[Path, str]]
    seconds: float
    skipped_paths: list[Path] = field(default_factory=list)
    test_mode: str = ""
    videos: int = 0
    frames: int = 0
    tiled: list[Path] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        """Written images, video frames included, per second of wall-clock time."""
        images = self.written - self.videos + self.frames
        return images / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Reading:
    """How inputs are read: what :func:`_load` needs besides the job."""

    model: Translatable
    resizing: Resizing
    side: str | None
    max_pixels: int | None

    def too_large(self, job: Job) -> bool:
        """Whether decoding ``job`` ahead would hold more than the pixel budget (header only)."""
        if not self.max_pixels:
            return False
        h, w = read_header(job.src).size
        decoded = h * w
        if self.side is not None:
            w = w - w // 2
        h, w = self.resizing.target(h, w)
        hp, wp = padded_size(h, w, self.model.size_multiple, min_size(self.model))
        return max(decoded, hp * wp) > self.max_pixels


def _load(job: Job, reading: _Reading, defer: bool = True) -> Prepared:
    """Read an input file and its companion files (the model's other streams), then
    :func:`~img2img.infer.batch.prepare` them; or only note it when it is too large to decode
    ahead (``defer``: the pipeline then decodes it alone, at its turn)."""
    if defer and reading.too_large(job):
        return Prepared(job, None, (0, 0))
    model = reading.model
    files = model.input_files(job.src, job.key)
    decoded = {s.name: s.read(files[s.name], compact=True)
               for s in model.input_streams if s.name in files}
    return prepare(job, model, decoded, reading.resizing, reading.side, reading.max_pixels)


#: the output formats that hold 16 bits per value
SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")


@dataclass(frozen=True)
class Writing:
    """How outputs are written: their bits per value."""

    output_bits: int | None  # None: 16 for 16-bit inputs of a model trained on 16-bit data
    trained_bits: int

    def bits(self, job: Job) -> int:
        """The bits per value of ``job``'s output."""
        return self.bits_for(job.dst.suffix, lambda: read_header(job.src).bits)

    def bits_for(self, suffix: str, input_bits: Callable[[], int]) -> int:
        """The bits per value of an output in ``suffix``'s format (``.png`` ...) of an input
        whose bits per value ``input_bits()`` reads (called only when they matter)."""
        if self.output_bits is not None:
            return self.output_bits
        if self.trained_bits < 16 or suffix.lower() not in SIXTEEN_BIT_SUFFIXES:
            return 8
        try:
            return 16 if input_bits() >= 16 else 8
        except (OSError, ValueError):  # a video, or a file that went away: 8 bits
            return 8

    def save(self, job: Job, image: Tensor, overwrite: bool) -> None:
        write_image(job.dst, image, bits=self.bits(job), replace=overwrite)


def batch_limit(item: Prepared, batch_size: int, max_pixels: int | None) -> int:
    """The most inputs like ``item`` one forward pass may hold: ``batch_size``, fewer when
    ``max_pixels`` (the pixel budget; 0 or None: none) would be exceeded, at least one."""
    if not max_pixels:
        return batch_size
    return max(1, min(batch_size, max_pixels // item.pixels))


def _check_options(
    model: Translatable, batch_size: int, precision: str, size: int | None, num_threads: int,
    max_pixels: int | None,
) -> None:
    check_channels("in_channels", model.in_channels)
    check_channels("out_channels", model.out_channels)
    for name, value in (("batch_size", batch_size), ("num_threads", num_threads)):
        if value < 1:
            raise ValueError(f"{name}: {value!r} is not valid; expected an integer >= 1")
    if size is not None and size < 1:
        raise ValueError(f"size: {size!r} is not valid; expected None or an integer >= 1")
    if max_pixels is not None and max_pixels < 0:
        raise ValueError(
            f"max_pixels: {max_pixels!r} is not valid; expected an integer >= 0 (0: no limit)"
        )
    autocast_dtype(precision)  # fails naming the valid ones


class _Pipeline:
    """Decode ahead, batch by padded size, translate, write behind; count what happened.

    Images over the pixel budget are decoded only at their turn, one at a time, and translated
    in tiles; batches are capped so that no pass holds more than the budget.
    """

    def __init__(
        self, translator: Translator, readers: ThreadPoolExecutor, writers: ThreadPoolExecutor,
        load: Callable[..., Prepared], batch_size: int, num_threads: int,
        progress: Progress | None, total: int, done: int, max_pixels: int | None,
        overwrite: bool, save: Callable[[Job, Tensor, bool], None],
    ) -> None:
        self.translate = translator
        self.save = save
        self.readers = readers
        self.writers = writers
        self.load = load
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.overwrite = overwrite
        self.read_ahead = 2 * batch_size + num_threads
        self.max_held = 2 * batch_size
        self.max_writes = 2 * batch_size + num_threads
        self.progress = progress
        self.total = total
        self.done = done
        self.written = 0
        self.videos = 0
        self.frames = 0
        self.kept: list[Path] = []  # outputs another process wrote meanwhile
        self.failed: list[tuple[Path, str]] = []
        self._writes: deque[tuple[Job, Future[None]]] = deque()
        self._buckets: dict[tuple, list[Prepared]] = {}
        self._held = 0
        self._launched: Launched | None = None  # the batch whose output is on its way back

    def _advance(self, count: int = 1) -> None:
        self.done += count
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _fail(self, job: Job, reason: BaseException | str) -> None:
        if isinstance(reason, BaseException) and is_out_of_memory(reason):
            release_memory(self.translate.device)  # what the failed image held, for the rest
            reason = f"out of memory reading it ({first_line(reason)})"
        reason = reason if isinstance(reason, str) else (str(reason) or type(reason).__name__)
        log.warning("skipping %s: %s", job.src, reason)
        self.failed.append((job.src, reason))
        self._advance()

    def _collect_writes(self, *, wait_all: bool = False) -> None:
        while self._writes and (
            wait_all or self._writes[0][1].done() or len(self._writes) > self.max_writes
        ):
            job, future = self._writes.popleft()
            try:
                future.result()
            except FileExistsError:  # another process wrote it since the run began
                log.info("keeping %s: it appeared while this run was translating", job.dst)
                self.kept.append(job.dst)
                self._advance()
            except Exception as exc:
                self._fail(job, OSError(f"cannot write {job.dst}: {exc}"))
            else:
                self.written += 1
                self._advance()

    def _finish(self, results: Sequence[Result]) -> None:
        for job, output in results:
            if isinstance(output, str):
                self._fail(job, output)
            else:
                self._writes.append(
                    (job, self.writers.submit(self.save, job, output, self.overwrite))
                )
        self._collect_writes()

    def _run(self, key: tuple) -> None:
        """Launch the batch ``key``, then finish the one before it: with an overlapping
        translator, its output came back while this one was uploaded and computed."""
        items = self._buckets.pop(key)
        self._held -= len(items)
        launched = self.translate.launch(items)
        self._finish_launched()
        if self.translate.overlap:
            self._launched = launched
        else:
            self._finish(launched.results())

    def _finish_launched(self) -> None:
        if self._launched is not None:
            launched, self._launched = self._launched, None
            self._finish(launched.results())

    def _batch_limit(self, item: Prepared) -> int:
        return batch_limit(item, self.batch_size, self.max_pixels)

    def _add(self, item: Prepared) -> None:
        if item.deferred:  # decode it now, alone
            try:
                item = self.load(item.job, defer=False)
            except Exception as exc:
                self._fail(item.job, exc)
                return
        if item.canvas is not None:
            log.info("%s: %d pixels, over the budget of %d: translating it in tiles",
                     item.job.src, item.pixels, self.max_pixels)
            self._finish([(item.job, self.translate.tiled_output(item, self.max_pixels))])
            return
        key = item.batch_key
        bucket = self._buckets.setdefault(key, [])
        bucket.append(item)
        self._held += 1
        if len(bucket) >= self._batch_limit(item):
            self._run(key)
        elif self._held >= self.max_held:  # many sizes: flush the fullest partial batch
            self._run(max(self._buckets, key=lambda k: len(self._buckets[k])))

    def run(self, jobs: Sequence[Job]) -> None:
        pending: deque[tuple[Job, Future[Prepared]]] = deque()
        queue = iter(jobs)

        def fill() -> None:
            while len(pending) < self.read_ahead and (job := next(queue, None)) is not None:
                pending.append((job, self.readers.submit(self.load, job)))

        fill()
        while pending:
            job, future = pending.popleft()
            fill()
            try:
                item = future.result()
            except Exception as exc:  # one bad image never stops the others
                self._fail(job, exc)
                continue
            self._add(item)
            del item, future  # a huge input is freed while its output is written
        while self._buckets:
            self._run(next(iter(self._buckets)))
        self._finish_launched()
        self._collect_writes(wait_all=True)

    def run_videos(self, jobs: Sequence[Job], resizing: Resizing, side: str | None,
                   frame_progress: FrameProgress | None) -> None:
        """Translate each video, one after another, in batches of its frames."""
        if not jobs:
            return
        from img2img.infer.video import translate_video

        for job in jobs:
            try:
                self.frames += translate_video(self.translate, job, batch_size=self.batch_size,
                                               resizing=resizing, side=side,
                                               progress=frame_progress)
            except (OSError, ValueError, MemoryError) as exc:  # one bad video stops no other
                self._fail(job, exc)
            else:
                self.written += 1
                self.videos += 1
                self._advance()


#: niceness of the decoding and writing threads when the network runs on the CPU: the math
#: threads use every core, and a reader or writer preempting one of them stalls the others at
#: their next barrier; at a lower priority they run in the math threads' gaps instead
IO_NICENESS = 10


def _lower_priority(niceness: int) -> None:
    """Make the calling thread at least ``niceness`` nice (Linux schedules threads one by one)."""
    if niceness and sys.platform.startswith("linux"):
        thread = threading.get_native_id()
        try:
            if os.getpriority(os.PRIO_PROCESS, thread) < niceness:
                os.setpriority(os.PRIO_PROCESS, thread, niceness)
        except OSError as exc:  # a sandbox may forbid it: then the threads just compete
            log.debug("cannot lower the priority of %s: %s", threading.current_thread().name, exc)


def thread_pool(count: int, name: str, niceness: int = 0) -> ThreadPoolExecutor:
    """A pool of ``count`` threads, all started now, at ``niceness`` (0: the caller's).

    A pool starts its threads as work arrives; one started later, when memory has run out,
    can fail before it reports that it started, and the caller then waits for it forever.
    """
    pool = ThreadPoolExecutor(count, thread_name_prefix=name, initializer=_lower_priority,
                              initargs=(niceness,))
    started = threading.Barrier(count + 1)
    for _ in range(count):
        pool.submit(started.wait)
    started.wait()
    return pool


def trained_image_bits(model: Translatable) -> int:
    """Bits per value of the images ``model`` was trained on (8 for runs that did not record
    it and for published weights)."""
    data = getattr(getattr(model, "config", None), "data", None)
    return int(getattr(data, "image_bits", 8) or 8)


def output_folder(jobs: Sequence[Job]) -> Path | None:
    """The deepest folder holding every job's output (None without jobs)."""
    if not jobs:
        return None
    return Path(os.path.commonpath([os.path.abspath(job.dst.parent) for job in jobs]))


def translate_files(
    model: Translatable,
    jobs: Sequence[Job],
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    size: int | None = None,
    overwrite: bool = False,
    num_threads: int | None = None,
    progress: Progress | None = None,
    side: str | None = None,
    frame_progress: FrameProgress | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    resizing: Resizing | None = None,
    output_bits: int | None = None,
) -> TranslateSummary:
    """Translate every job's input with ``model`` and write the result.

    Inputs are read as ``model.in_channels`` channels (gray and 16-bit files are converted),
    reflect-padded to ``model.size_multiple``, grouped into batches of one padded size, encoded
    by the model and run in its test-time mode (an image's result never depends on the rest of
    its batch); outputs are cropped back to the input's size (or ``size`` x ``size``). A file
    that cannot be read or written is logged, listed in the summary and skipped; so is an image
    that runs out of memory even in the smallest tiles. Videos are
    translated after the images, frame by frame in batches of ``batch_size``
    (:func:`~img2img.infer.video.translate_video`), into videos of the same frame rate,
    without sound.

    Memory is bounded by ``max_pixels``: no forward pass holds more pixels (batches are
    capped), an image over it is decoded only at its turn and translated in overlapping tiles
    (:mod:`img2img.infer.tiling`), and an out-of-memory error splits a batch into single
    images and a single image into tiles, smaller ones each time.

    Before anything is computed, the output folder is created and a probe file written there,
    so a read-only or full folder fails at once, and the temp files of outputs an interrupted
    run left unfinished in the output folders are removed
    (:func:`~img2img.infer.stale.remove_stale_outputs`).

    Args:
        model: the inference model (:func:`img2img.families.loading.load_inference_model`).
        jobs: from :func:`plan_outputs`.
        batch_size: images per forward pass (fewer for large images, see ``max_pixels``).
        device: ``cpu``, ``cuda``, ``cuda:N`` ...
        precision: ``fp32``, or ``bf16``/``fp16`` through ``torch.autocast`` on the device.
        size: resize every input to ``size`` x ``size`` (padded up to the multiple); the
            output is then ``size`` x ``size``. ``None`` keeps each input's size.
        overwrite: replace existing outputs; otherwise they are kept and counted, also one
            another process writes while this one runs.
        num_threads: decoding threads, and as many encoding/writing threads; None: half the
            CPU cores this process may use when ``device`` is a GPU, 2 on the CPU
            (:func:`~img2img.infer.transfer.io_threads`).
        progress: called as ``progress(done, total)`` from the calling thread as files finish
            (skipped ones count as done at once; a video counts once, when it is done).
        side: ``"A"`` or ``"B"`` when the inputs are side-by-side AB images (the classic
            dataset layout): only that half is translated.
        frame_progress: called as ``frame_progress(key, frames done, frames in the video or
            None)`` while a video is translated.
        max_pixels: the most pixels (batch x height x width) one forward pass may hold; 0 or
            None: no limit (images are never tiled unless they run out of memory).
        resizing: the size inputs are translated at and whether outputs go back to the
            input's size (:class:`~img2img.infer.resizing.Resizing`); ``size`` is a square
            ``resize``. None: each input's own size.
        output_bits: 8 or 16 bits per value (16 needs .png or .tif outputs). None: 16 for
            16-bit inputs of a model trained on 16-bit images (``image_bits`` in its data
            config) written as PNG or TIFF, else 8.

    Returns:
        The counts, failures and speed.

    Raises:
        ValueError: an option is out of range.
        OSError: the output folder cannot be created or written to.
        RuntimeError: the model's output does not match its channels or the input size.
    """
    dev = torch.device(device)
    if num_threads is None:
        num_threads = io_threads(dev)
    _check_options(model, batch_size, precision, size, num_threads, max_pixels)
    if size is not None:
        if resizing is not None:
            raise ValueError("size: cannot be combined with resizing")
        resizing = Resizing("resize", size)
    resizing = resizing or NO_RESIZING
    writing = Writing(output_bits, trained_image_bits(model))
    if output_bits is not None:
        if output_bits not in (8, 16):
            raise ValueError(f"--output-bits: {output_bits!r} is not valid; expected 8 or 16")
        wrong = [job.dst for job in jobs
                 if output_bits == 16 and job.dst.suffix.lower() not in SIXTEEN_BIT_SUFFIXES]
        if wrong:
            raise ValueError(f"--output-bits 16: {wrong[0]} cannot hold 16 bits; expected "
                             f"one of: {', '.join(SIXTEEN_BIT_SUFFIXES)} (--ext .png)")
    if side is not None and side not in SIDES:
        raise ValueError(f"side: {side!r} is not valid; expected one of: {', '.join(SIDES)}")
    start = time.perf_counter()
    jobs = expand_variants(jobs, model.variants)
    todo = list(jobs)
    skipped: list[Path] = []
    if not overwrite:
        skipped = [job.dst for job in todo if os.path.lexists(job.dst)]
        todo = [job for job in todo if not os.path.lexists(job.dst)]
        for path in skipped:
            log.info("keeping existing %s (pass overwrite=True to replace it)", path)
    folder = output_folder(todo)
    if folder is not None:
        check_writable(folder)
    remove_stale_outputs(job.dst.parent for job in jobs)  # what a killed run left unfinished
    if progress is not None:
        progress(len(skipped), len(jobs))

    for net in model.networks.values():
        net.to(dev)
    translator = Translator(model, dev, precision)
    reading = _Reading(model, resizing, side, max_pixels or None)

    def load(job: Job, defer: bool = True) -> Prepared:
        return _load(job, reading, defer)

    niceness = IO_NICENESS if dev.type == "cpu" else 0
    readers = thread_pool(num_threads, "img2img-read", niceness)
    writers = thread_pool(num_threads, "img2img-write", niceness)
    pipeline = _Pipeline(translator, readers, writers, load, batch_size, num_threads, progress,
                         len(jobs), len(skipped), max_pixels or None, overwrite, writing.save)
    try:
        pipeline.run([job for job in todo if not is_video_file(job.src)])
        pipeline.run_videos([job for job in todo if is_video_file(job.src)], resizing, side,
                            frame_progress)
    finally:
        readers.shutdown(wait=True, cancel_futures=True)  # after an error: drop unread inputs
        writers.shutdown(wait=True)  # results already computed are still written whole

    summary = TranslateSummary(
        written=pipeline.written,
        skipped=len(skipped) + len(pipeline.kept),
        failed=pipeline.failed,
        seconds=time.perf_counter() - start,
        skipped_paths=skipped + pipeline.kept,
        test_mode=model.describe_mode(),
        videos=pipeline.videos,
        frames=pipeline.frames,
        tiled=list(translator.tiled),
    )
    log.info(
        "translated %d files (%d videos of %d frames; %d existing kept, %d failed, %d in tiles) "
        "in %.1fs, %.2f images/s", summary.written, summary.videos, summary.frames,
        summary.skipped, len(summary.failed), len(summary.tiled), summary.seconds,
        summary.images_per_second,
    )
    return summary

