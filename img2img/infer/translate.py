"""Translate image files and folders with a generator, in batches.

:func:`plan_outputs` maps an input file or folder to output paths. :func:`translate_files` runs
those jobs: a thread pool decodes images ahead of the network and another encodes and writes
results behind it, so the device (or the CPU's math threads) stays busy. Images are grouped by
their padded size, so a batch never mixes sizes; every image is reflect-padded to the
generator's size multiple and cropped back, so outputs keep their input's size. Each image's
result is the one it gets alone (:func:`~img2img.infer.stochastic.batch_invariant`), so the
batch size never changes an output.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn

from img2img.atomic import check_writable
from img2img.config import check_channels
from img2img.data.discover import find_images, split_ab
from img2img.data.io import IMAGE_EXTENSIONS, is_image_file, read_header, write_image
from img2img.data.streams import Stream
from img2img.data.transforms import resize_stream
from img2img.engine.device import autocast, autocast_dtype, is_out_of_memory, release_memory
from img2img.infer.padding import crop_back, pad_to_multiple, padded_size
from img2img.infer.tiling import DEFAULT_MAX_PIXELS, translate_tiled, uses_image_statistics
from img2img.nn.sizes import next_multiple

__all__ = [
    "Job",
    "Translatable",
    "TranslateSummary",
    "expand_variants",
    "plan_outputs",
    "translate_files",
]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

#: halves of a side-by-side AB image, left to right
SIDES = ("A", "B")


class Translatable(Protocol):
    """What translation needs of a model (:class:`img2img.models.inference.InferenceModel`)."""

    in_channels: int
    out_channels: int

    @property
    def input_streams(self) -> tuple[Stream, ...]: ...

    @property
    def variants(self) -> tuple[str, ...]: ...

    @property
    def size_multiple(self) -> int: ...

    @property
    def networks(self) -> dict[str, nn.Module]: ...

    def input_files(self, src: Path, key: str) -> dict[str, Path]: ...

    def encode_streams(
        self, inputs: Mapping[str, Tensor], keys: Sequence[str], variants: Sequence[str]
    ) -> Tensor: ...

    def decode(self, output: Tensor) -> Tensor: ...

    def run(self, x: Tensor, keys: Sequence[str]) -> Tensor: ...

    def describe_mode(self) -> str: ...


@dataclass(frozen=True)
class Job:
    """One image to translate.

    Attributes:
        src: the input file.
        dst: the output file.
        key: the input's path relative to the input folder, with ``/`` separators; it names
            the image in logs and seeds its dropout masks (:func:`image_seed`).
        variant: which of the model's outputs for this input it is (``""``: the only one).
    """

    src: Path
    dst: Path
    key: str
    variant: str = ""


def expand_variants(jobs: Sequence[Job], variants: Sequence[str]) -> list[Job]:
    """One job per input and variant, the variant's suffix added to the output's stem."""
    if tuple(variants) == ("",):
        return list(jobs)
    return [
        replace(job, dst=job.dst.with_name(f"{job.dst.stem}{v}{job.dst.suffix}"), variant=v)
        for job in jobs for v in variants
    ]


@dataclass(frozen=True)
class TranslateSummary:
    """What :func:`translate_files` did.

    Attributes:
        written: outputs written.
        skipped: outputs left alone because they already existed.
        failed: ``(input path, reason)`` for each image that could not be read, translated or
            written.
        seconds: wall-clock time of the whole call.
        skipped_paths: the existing outputs that were left alone.
        test_mode: the model's test-time behaviour, in words.
        tiled: the inputs that were translated in tiles (too large for one pass).
    """

    written: int
    skipped: int
    failed: list[tuple[Path, str]]
    seconds: float
    skipped_paths: list[Path] = field(default_factory=list)
    test_mode: str = ""
    tiled: list[Path] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        """Written images per second of wall-clock time."""
        return self.written / self.seconds if self.seconds > 0 else 0.0


def _normalise_ext(ext: str) -> str:
    ext = ext if ext.startswith(".") else f".{ext}"
    if ext.lower() not in IMAGE_EXTENSIONS:
        raise ValueError(
            f"output extension {ext!r} is not valid; expected one of: "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))}"
        )
    return ext.lower()


def _real(path: Path) -> Path:
    """``path`` with symbolic links resolved; just made absolute where they loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        return Path(os.path.abspath(path))


def _relative(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        return _real(path).relative_to(_real(root))


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def plan_outputs(inp: Path, out: Path, ext: str = ".png") -> list[Job]:
    """Decide which files to translate and where each result goes.

    * ``inp`` a folder: its images, found recursively, each written to ``out`` under the same
      relative path with its extension replaced by ``ext``. Images inside ``out`` (when ``out``
      lies within ``inp``) are left out, so a second run does not translate its own outputs.
    * ``inp`` a file and ``out`` a path with an image extension (and not an existing folder):
      that path, whatever ``ext`` says.
    * ``inp`` a file otherwise: ``out / (stem + ext)``.

    Args:
        inp: an image file or a folder of images.
        out: the output file or folder.
        ext: the output format's extension for folder outputs (``.png``, ``jpg`` ...).

    Returns:
        The jobs, in the sorted order of the inputs.

    Raises:
        FileNotFoundError: ``inp`` does not exist.
        ValueError: ``inp`` is a file that is not an image, ``ext`` is not an image extension,
            two inputs (``a.jpg`` and ``a.png``) would be written to the same output, or an
            output would replace its own input.
        NotADirectoryError: ``inp`` is a folder and ``out`` an existing file.
    """
    inp, out = Path(inp), Path(out)
    ext = _normalise_ext(ext)
    if inp.is_dir():
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(
                f"output {out} is a file; a folder input {inp} needs an output folder"
            )
        out_abs = _real(out)
        nested = out_abs != _real(inp) and _is_within(out_abs, _real(inp))
        jobs = []
        for src in find_images(inp, recursive=True):
            if nested and _is_within(_real(src), out_abs):
                continue
            rel = _relative(src, inp)
            jobs.append(Job(src, out / rel.with_suffix(ext), rel.as_posix()))
    elif inp.is_file():
        if not is_image_file(inp):
            raise ValueError(
                f"input {inp} is not an image file; expected one of: "
                f"{', '.join(sorted(IMAGE_EXTENSIONS))}"
            )
        single_file = is_image_file(out) and not out.is_dir()
        dst = out if single_file else out / f"{inp.stem}{ext}"
        jobs = [Job(inp, dst, inp.name)]
    elif os.path.lexists(inp):
        raise ValueError(
            f"input {inp} is neither a regular file nor a folder (a FIFO, a device or a broken "
            "symbolic link); expected an image file or a folder"
        )
    else:
        raise FileNotFoundError(f"input {inp} does not exist; expected an image file or a folder")
    _check_distinct(jobs)
    return jobs


def _check_distinct(jobs: Sequence[Job]) -> None:
    seen: dict[Path, Path] = {}
    for job in jobs:
        if _real(job.dst) == _real(job.src):
            raise ValueError(
                f"the output for {job.src} would replace the input itself; "
                "choose another output folder or extension"
            )
        if job.dst in seen:
            raise ValueError(
                f"inputs {seen[job.dst]} and {job.src} would both be written to {job.dst}; "
                "rename one of them or translate them separately"
            )
        seen[job.dst] = job.src


@dataclass
class _Loaded:
    """A decoded input (all its streams), padded to the generator's multiple; not yet decoded
    when deferred."""

    job: Job
    streams: dict[str, Tensor] | None  # name -> C x H x W, padded; the first is the input
    # file's. None: too large to decode ahead of its turn
    size: tuple[int, int]  # (h, w) to crop back to

    @property
    def batch_key(self) -> tuple:
        """Inputs that can share a batch: the same streams of the same shapes."""
        assert self.streams is not None
        return tuple((name, *t.shape) for name, t in self.streams.items())

    @property
    def pixels(self) -> int:
        """Pixels the network sees (the padded image)."""
        assert self.streams is not None
        first = next(iter(self.streams.values()))
        return int(first.shape[-2]) * int(first.shape[-1])


@dataclass(frozen=True)
class _Reading:
    """How inputs are read: what :func:`_load` needs besides the job."""

    model: Translatable
    multiple: int
    min_size: int
    size: int | None
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
        if self.size is not None:
            h = w = self.size
        hp, wp = padded_size(h, w, self.multiple, self.min_size)
        return max(decoded, hp * wp) > self.max_pixels


def _load(job: Job, reading: _Reading, defer: bool = True) -> _Loaded:
    """Decode, split, resize and pad ``job``'s input streams; or only note it when it is too
    large to decode ahead (``defer``: the pipeline then decodes it alone, at its turn)."""
    if defer and reading.too_large(job):
        return _Loaded(job, None, (0, 0))
    model = reading.model
    files = model.input_files(job.src, job.key)
    primary, *companions = model.input_streams
    image = primary.read(files[primary.name])
    if reading.side is not None:
        image = split_ab(image, job.src)[SIDES.index(reading.side)]
    size = reading.size
    hw = (size, size) if size is not None else tuple(image.shape[-2:])
    decoded = {primary.name: image}
    del image
    decoded |= {s.name: s.read(files[s.name]) for s in companions if s.name in files}
    kinds = {s.name: s.kind for s in model.input_streams}
    streams, crop = {}, hw
    for name in list(decoded):
        resized = resize_stream(decoded.pop(name), hw, kinds[name])
        padded, crop = pad_to_multiple(resized.unsqueeze(0), reading.multiple, reading.min_size)
        del resized
        streams[name] = padded[0].contiguous()
    return _Loaded(job, streams, crop)


def _save(job: Job, image: Tensor, overwrite: bool) -> None:
    write_image(job.dst, image, replace=overwrite)


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


#: what a translation gives for one job: the output, or why there is none
Result = tuple[Job, "Tensor | str"]


class _Translator:
    """Runs batches through the model; an image too large for one pass, or one that runs out
    of memory, goes through in tiles (smaller ones after each out-of-memory)."""

    def __init__(self, model: Translatable, device: torch.device, precision: str,
                 reading: _Reading) -> None:
        self.model = model
        self.device = device
        self.precision = precision
        self.reading = reading
        self.multiple = model.size_multiple
        self.min_size = reading.min_size
        smallest = next_multiple(self.min_size, self.multiple)
        self.smallest_tile = smallest * smallest
        nets = list(model.networks.values())
        self.image_statistics = uses_image_statistics(nets, getattr(model, "test_mode", None))
        self.kinds = {stream.name: stream.kind for stream in model.input_streams}
        self.tiled: list[Path] = []

    def forward(self, inputs: Mapping[str, Tensor], keys: Sequence[str],
                variants: Sequence[str]) -> Tensor:
        """The model's test-time output for a batch of streams (``[N, C, H, W]`` each, images
        in ``[0, 1]``): ``[N, C', H, W]`` in ``[0, 1]``, float32 on the CPU."""
        moved = {}
        for name, batch in inputs.items():
            if self.device.type == "cuda":
                batch = batch.pin_memory()
            moved[name] = batch.to(self.device, non_blocking=True)
        with torch.inference_mode(), autocast(self.device, self.precision):
            x = self.model.encode_streams(moved, keys, variants)
            y = self.model.run(x, keys)
        y = self.model.decode(y).clamp_(0.0, 1.0).cpu()
        out_channels = self.model.out_channels
        shape = next(iter(inputs.values())).shape
        if y.shape[1] != out_channels or y.shape[-2:] != shape[-2:]:
            raise RuntimeError(
                f"the generator turned a batch {tuple(shape)} into {tuple(y.shape)}; "
                f"expected {out_channels} channels and the same height and width"
            )
        return y

    def __call__(self, items: Sequence[_Loaded]) -> list[Result]:
        """Translate ``items`` (all of one padded size); each result cropped back."""
        try:
            inputs = {name: torch.stack([item.streams[name] for item in items])  # type: ignore[index]
                      for name in items[0].streams or {}}
            y = self.forward(inputs, [item.job.key for item in items],
                             [item.job.variant for item in items])
            return [(item.job, crop_back(out, item.size).contiguous())
                    for item, out in zip(items, y, strict=True)]
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            reason = _first_line(exc)
        release_memory(self.device)
        if len(items) > 1:
            log.warning("out of memory on a batch of %d images; translating them one by one",
                        len(items))
            return [result for item in items for result in self([item])]
        item = items[0]
        log.warning("%s: out of memory (%s); translating it in tiles", item.job.src, reason)
        return [(item.job, self.in_tiles(item, item.pixels // 4, reason))]

    def in_tiles(self, item: _Loaded, budget: int, reason: str = "") -> Tensor | str:
        """``item`` translated in tiles of at most ``budget`` pixels, a quarter of that after
        each out-of-memory; the reason it failed once even the smallest tiles do not fit."""
        assert item.streams is not None
        layout = _Layout.of(item.streams, self.kinds)
        stacked = layout.stack(item.streams)
        variant = item.job.variant

        def run(tiles: Tensor, keys: Sequence[str]) -> Tensor:
            return self.forward(layout.split(tiles), keys, [variant] * len(keys))

        tile_side = 0
        while budget >= self.smallest_tile:
            try:
                out = translate_tiled(
                    stacked, run, item.job.key, max_pixels=budget,
                    multiple=self.multiple, size=item.size, min_size=self.min_size,
                    image_statistics=self.image_statistics, resize=layout.resize,
                )
                self.tiled.append(item.job.src)
                return out
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                reason = _first_line(exc)
            release_memory(self.device)
            tile_side = math.isqrt(budget)
            budget //= 4
            log.warning("%s: out of memory in tiles of about %dx%d; trying smaller ones",
                        item.job.src, tile_side, tile_side)
        return (
            f"out of memory even in tiles of about {tile_side}x{tile_side} pixels ({reason}); "
            "lower --batch-size or --max-pixels, or translate on another device"
        )


@dataclass(frozen=True)
class _Layout:
    """An input's streams as the channels of one tensor, for tiling: stacked in order, as
    float32 (ids up to 2**24 stay exact), and split back with their own dtypes."""

    names: tuple[str, ...]
    channels: tuple[int, ...]
    dtypes: tuple[torch.dtype, ...]
    kinds: tuple[str, ...]

    @classmethod
    def of(cls, streams: Mapping[str, Tensor], kinds: Mapping[str, str]) -> _Layout:
        return cls(tuple(streams), tuple(int(t.shape[0]) for t in streams.values()),
                   tuple(t.dtype for t in streams.values()), tuple(kinds[n] for n in streams))

    def stack(self, streams: Mapping[str, Tensor]) -> Tensor:
        """``[sum C, H, W]`` float32 (a single float32 stream is returned as it is)."""
        tensors = list(streams.values())
        if len(tensors) == 1 and tensors[0].dtype == torch.float32:
            return tensors[0]
        return torch.cat([t.float() for t in tensors])

    def _parts(self, stacked: Tensor) -> tuple[Tensor, ...]:
        return stacked.split(list(self.channels), dim=-3)

    def split(self, stacked: Tensor) -> dict[str, Tensor]:
        """The streams of a stacked ``[..., sum C, H, W]`` tensor, each in its own dtype."""
        return {name: part if dtype == part.dtype else part.round().to(dtype)
                for name, part, dtype in zip(self.names, self._parts(stacked), self.dtypes,
                                             strict=True)}

    def resize(self, stacked: Tensor, hw: tuple[int, int]) -> Tensor:
        """Each stream resized as its kind is (ids nearest, images bicubic), stacked again."""
        return torch.cat([resize_stream(part, hw, kind)  # type: ignore[arg-type]
                          for part, kind in zip(self._parts(stacked), self.kinds, strict=True)])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Pipeline:
    """Decode ahead, batch by padded size, translate, write behind; count what happened.

    Images over the pixel budget are decoded only at their turn, one at a time, and translated
    in tiles; batches are capped so that no pass holds more than the budget.
    """

    def __init__(
        self, translator: _Translator, readers: ThreadPoolExecutor, writers: ThreadPoolExecutor,
        load: Callable[..., _Loaded], batch_size: int, num_threads: int,
        progress: Progress | None, total: int, done: int, max_pixels: int | None,
        overwrite: bool,
    ) -> None:
        self.translate = translator
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
        self.kept: list[Path] = []  # outputs another process wrote meanwhile
        self.failed: list[tuple[Path, str]] = []
        self._writes: deque[tuple[Job, Future[None]]] = deque()
        self._buckets: dict[tuple, list[_Loaded]] = {}
        self._held = 0

    def _advance(self, count: int = 1) -> None:
        self.done += count
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _fail(self, job: Job, reason: BaseException | str) -> None:
        if isinstance(reason, BaseException) and is_out_of_memory(reason):
            release_memory(self.translate.device)  # what the failed image held, for the rest
            reason = f"out of memory reading it ({_first_line(reason)})"
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
                    (job, self.writers.submit(_save, job, output, self.overwrite))
                )
        self._collect_writes()

    def _run(self, key: tuple) -> None:
        items = self._buckets.pop(key)
        self._held -= len(items)
        self._finish(self.translate(items))

    def _batch_limit(self, item: _Loaded) -> int:
        if not self.max_pixels:
            return self.batch_size
        return max(1, min(self.batch_size, self.max_pixels // item.pixels))

    def _add(self, item: _Loaded) -> None:
        if item.streams is None:  # deferred: decode it now, alone
            try:
                item = self.load(item.job, defer=False)
            except Exception as exc:
                self._fail(item.job, exc)
                return
        if self.max_pixels and item.pixels > self.max_pixels:
            log.info("%s: %d pixels, over the budget of %d: translating it in tiles",
                     item.job.src, item.pixels, self.max_pixels)
            self._finish([(item.job, self.translate.in_tiles(item, self.max_pixels))])
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
        pending: deque[tuple[Job, Future[_Loaded]]] = deque()
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
        while self._buckets:
            self._run(next(iter(self._buckets)))
        self._collect_writes(wait_all=True)


def _thread_pool(count: int, name: str) -> ThreadPoolExecutor:
    """A pool of ``count`` threads, all started now.

    A pool starts its threads as work arrives; one started later, when memory has run out,
    can fail before it reports that it started, and the caller then waits for it forever.
    """
    pool = ThreadPoolExecutor(count, thread_name_prefix=name)
    started = threading.Barrier(count + 1)
    for _ in range(count):
        pool.submit(started.wait)
    started.wait()
    return pool


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
    num_threads: int = 2,
    progress: Progress | None = None,
    side: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> TranslateSummary:
    """Translate every job's input with ``model`` and write the result.

    Inputs are read as ``model.in_channels`` channels (gray and 16-bit files are converted),
    reflect-padded to ``model.size_multiple``, grouped into batches of one padded size, encoded
    by the model and run in its test-time mode (an image's result never depends on the rest of
    its batch); outputs are cropped back to the input's size (or ``size`` x ``size``). A file
    that cannot be read or written is logged, listed in the summary and skipped; so is an image
    that runs out of memory even in the smallest tiles.

    Memory is bounded by ``max_pixels``: no forward pass holds more pixels (batches are
    capped), an image over it is decoded only at its turn and translated in overlapping tiles
    (:mod:`img2img.infer.tiling`), and an out-of-memory error splits a batch into single
    images and a single image into tiles, smaller ones each time.

    Before anything is computed, the output folder is created and a probe file written there,
    so a read-only or full folder fails at once.

    Args:
        model: the inference model (:func:`img2img.models.loading.load_inference_model`).
        jobs: from :func:`plan_outputs`.
        batch_size: images per forward pass (fewer for large images, see ``max_pixels``).
        device: ``cpu``, ``cuda``, ``cuda:N`` ...
        precision: ``fp32``, or ``bf16``/``fp16`` through ``torch.autocast`` on the device.
        size: resize every input to ``size`` x ``size`` (padded up to the multiple); the
            output is then ``size`` x ``size``. ``None`` keeps each input's size.
        overwrite: replace existing outputs; otherwise they are kept and counted, also one
            another process writes while this one runs.
        num_threads: decoding threads, and as many encoding/writing threads.
        progress: called as ``progress(done, total)`` from the calling thread as images finish
            (skipped ones count as done at once).
        side: ``"A"`` or ``"B"`` when the inputs are side-by-side AB images (the classic
            dataset layout): only that half is translated.
        max_pixels: the most pixels (batch x height x width) one forward pass may hold; 0 or
            None: no limit (images are never tiled unless they run out of memory).

    Returns:
        The counts, failures and speed.

    Raises:
        ValueError: an option is out of range.
        OSError: the output folder cannot be created or written to.
        RuntimeError: the model's output does not match its channels or the input size.
    """
    _check_options(model, batch_size, precision, size, num_threads, max_pixels)
    if side is not None and side not in SIDES:
        raise ValueError(f"side: {side!r} is not valid; expected one of: {', '.join(SIDES)}")
    start = time.perf_counter()
    dev = torch.device(device)
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
    if progress is not None:
        progress(len(skipped), len(jobs))

    for net in model.networks.values():
        net.to(dev)
    reading = _Reading(model, model.size_multiple, int(getattr(model, "min_size", 1)), size,
                       side, max_pixels or None)
    translator = _Translator(model, dev, precision, reading)

    def load(job: Job, defer: bool = True) -> _Loaded:
        return _load(job, reading, defer)

    readers = _thread_pool(num_threads, "img2img-read")
    writers = _thread_pool(num_threads, "img2img-write")
    pipeline = _Pipeline(translator, readers, writers, load, batch_size, num_threads, progress,
                         len(jobs), len(skipped), max_pixels or None, overwrite)
    try:
        pipeline.run(todo)
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
        tiled=list(translator.tiled),
    )
    log.info(
        "translated %d images (%d existing kept, %d failed, %d in tiles) in %.1fs, %.2f images/s",
        summary.written, summary.skipped, len(summary.failed), len(summary.tiled),
        summary.seconds, summary.images_per_second,
    )
    return summary
