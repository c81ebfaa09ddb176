"""Side-by-side AB images: the single-file layout pix2pix datasets ship in."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from img2img.data.discover import (
    KNOWN_PHASES,
    DatasetLayoutError,
    Pair,
    PairedFiles,
    find_pairs,
    pair_folders,
)
from img2img.data.image_write import check_writable_suffix, writes_16_bit
from img2img.data.io import read_header, read_image, write_image
from img2img.data.transforms import resize_bicubic
from img2img.prep.parallel import ProgressFn, run_jobs
from img2img.prep.report import PrepReport, needs_writing

log = logging.getLogger(__name__)

ImageLike = TypeVar("ImageLike", np.ndarray, torch.Tensor)
Source = np.ndarray | torch.Tensor | str | os.PathLike


def combine_pair(a: ImageLike, b: ImageLike) -> ImageLike:
    """Put A (left) and B (right) next to each other.

    Args:
        a: numpy ``H x W x C`` / ``H x W`` or torch ``C x H x W``, C in (1, 3).
        b: the same kind, size and dtype as ``a``; a gray side is repeated to match an RGB one.

    Returns:
        The same kind as the inputs, twice as wide.
    """
    if isinstance(a, torch.Tensor) != isinstance(b, torch.Tensor):
        raise TypeError("combine_pair: expected A and B both numpy arrays or both torch tensors")
    if a.dtype != b.dtype:
        raise ValueError(f"combine_pair: A is {a.dtype} but B is {b.dtype}; expected one dtype")
    if isinstance(a, torch.Tensor):
        a, b = _match_channels_chw(a), _match_channels_chw(b)
        if a.shape[0] != b.shape[0]:
            a, b = a.expand(3, -1, -1), b.expand(3, -1, -1)
        _check_sizes(tuple(a.shape[1:]), tuple(b.shape[1:]))
        return torch.cat([a, b], dim=-1)
    a, b = _match_channels_hwc(a), _match_channels_hwc(b)
    if a.shape[2] != b.shape[2]:
        a, b = np.broadcast_to(a, (*a.shape[:2], 3)), np.broadcast_to(b, (*b.shape[:2], 3))
    _check_sizes(a.shape[:2], b.shape[:2])
    return np.concatenate([a, b], axis=1)


def write_ab(path: str | os.PathLike[str], a: Source, b: Source, quality: int = 95,
             bits: int = 8) -> Path:
    """Write A and B side by side to ``path`` (atomically; format from the extension).

    ``a`` and ``b`` may be images (see :func:`combine_pair`) or image files, read as RGB.
    Mixed kinds are brought to float ``[0, 1]`` first. ``bits`` 16 keeps 16-bit data (PNG and
    TIFF).
    """
    a_img, b_img = _load(a), _load(b)
    same_kind = type(a_img) is type(b_img) and a_img.dtype == b_img.dtype
    if not same_kind:
        a_img, b_img = _as_float_chw(a_img), _as_float_chw(b_img)
    return write_image(path, combine_pair(a_img, b_img), bits=bits, quality=quality)


#: where a layout without phase folders (``A/`` + ``B/``) is combined: it has no splits
FLAT_PHASE = "train"

#: the report :func:`combine_folders` and :func:`combine_dirs` return
CombineReport = PrepReport


@dataclass(frozen=True)
class _CombineJob:
    pair: Pair
    output: Path
    split: str

    @property
    def source(self) -> Path:
        return self.pair.a


@dataclass(frozen=True)
class CombineOptions:
    """How pairs are written.

    Attributes:
        ext: output format by extension (``.jpg``, ``.png`` ...); None keeps the A file's
            (as the reference's combine script does), so PNG inputs give lossless PNG pairs.
        quality: JPEG/WEBP quality.
        resize: bring a B of another size to A's size (bicubic) instead of failing the pair.
        size: resize both sides to ``size x size`` first (None keeps their size).
        overwrite: replace existing outputs (otherwise they are kept).
    """

    ext: str | None = None
    quality: int = 95
    resize: bool = False
    size: int | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 1:
            raise ValueError(f"--size: {self.size} is not valid; expected a number >= 1")
        if self.ext is not None:
            check_writable_suffix("--ext", self.ext)


def combine_folders(
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    phases: Sequence[str] = KNOWN_PHASES,
    ext: str | None = None,
    quality: int = 95,
    *,
    options: CombineOptions | None = None,
    workers: int = 1,
    progress: ProgressFn | None = None,
) -> CombineReport:
    """Turn a two-folder paired dataset into ``out_dir/<phase>/<key><ext>`` AB images.

    Any two-folder layout :func:`~img2img.data.discover.find_pairs` accepts works; phases that
    are absent are skipped, and a pair that fails is recorded and does not stop the others. A
    layout without phase folders (``root/A`` + ``root/B``) has no splits: its pairs are combined
    once, into ``out_dir/train``, and a note says so. ``options`` (if given) replaces ``ext`` and
    ``quality``.

    Raises:
        DatasetLayoutError: none of ``phases`` holds A/B pairs under ``root``.
    """
    root, out_dir = Path(root), Path(out_dir)
    options = options or CombineOptions(ext=ext, quality=quality)
    report = CombineReport()
    jobs: list[_CombineJob] = []
    errors: list[str] = []
    for phase in phases:
        try:
            files = find_pairs(root, phase)
        except DatasetLayoutError as exc:
            errors.append(str(exc))
            continue
        if files.side_by_side:
            errors.append(f"{root} [{phase}] is already side by side ({files.layout})")
            continue
        target = FLAT_PHASE if files.flat else phase
        if files.flat:
            report.note(
                f"{root}: layout {files.layout!r} has no phase folders, so its "
                f"{len(files.pairs)} pairs were combined once into {out_dir / target}",
                log,
            )
        report.layouts[target] = files.layout
        report.unmatched += files.unpaired_a + files.unpaired_b
        jobs += _jobs(files, out_dir / target, target, options.ext)
        if files.flat:
            break
    if not report.layouts:
        raise DatasetLayoutError(
            f"no A/B pairs to combine under {root} for phases {', '.join(phases)}: "
            + " | ".join(errors),
            root,
            ",".join(phases),
        )
    return _run(jobs, options, report, workers, progress)


def combine_dirs(
    dir_a: str | os.PathLike[str],
    dir_b: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    options: CombineOptions | None = None,
    workers: int = 1,
    progress: ProgressFn | None = None,
) -> CombineReport:
    """Combine the images of ``dir_a`` and ``dir_b`` that share a relative stem into AB images.

    When both folders have split folders (``train``, ``val``, ``test``) each split is paired on
    its own and written to ``out_dir/<split>/``; otherwise the whole folders are paired and
    written to ``out_dir``. Files without a partner are listed in the report's ``unmatched``.

    Raises:
        DatasetLayoutError: a folder is missing, or a split (or the folders) share no names.
    """
    dir_a, dir_b, out_dir = Path(dir_a), Path(dir_b), Path(out_dir)
    options = options or CombineOptions()
    report = CombineReport()
    splits = [p for p in KNOWN_PHASES if (dir_a / p).is_dir() and (dir_b / p).is_dir()]
    one_sided = [
        str(d / p) for p in KNOWN_PHASES for d in (dir_a, dir_b)
        if (d / p).is_dir() and p not in splits
    ]
    if one_sided:
        listed = ", ".join(one_sided)
        report.note(f"left out (no matching split folder on the other side): {listed}", log)
    jobs: list[_CombineJob] = []
    for split in splits or [""]:
        files = pair_folders(dir_a / split, dir_b / split, split)
        report.layouts[split] = files.layout
        report.unmatched += files.unpaired_a + files.unpaired_b
        jobs += _jobs(files, out_dir / split, split, options.ext)
    return _run(jobs, options, report, workers, progress)


def _jobs(files: PairedFiles, out_dir: Path, split: str, ext: str | None) -> list[_CombineJob]:
    """One job per pair, written as ``ext`` or, when None, in its A file's format."""
    return [_CombineJob(p, out_dir / f"{p.key}{ext or p.a.suffix}", split) for p in files.pairs]


def _run(
    jobs: Sequence[_CombineJob],
    options: CombineOptions,
    report: CombineReport,
    workers: int,
    progress: ProgressFn | None,
) -> CombineReport:
    work = functools.partial(_combine_one, options=options)
    for outcome in run_jobs(work, jobs, workers=workers, progress=progress):
        report.record(outcome)
    return report


def _combine_one(job: _CombineJob, options: CombineOptions) -> bool:
    """Write one AB file; False when it exists and is kept."""
    if not needs_writing(job.output, options.overwrite):
        return False
    assert job.pair.b is not None
    headers = read_header(job.pair.a), read_header(job.pair.b)
    channels = 1 if all(h.channels == 1 for h in headers) else 3
    deep = any(h.bits > 8 for h in headers) and writes_16_bit(job.output)
    a, b = read_image(job.pair.a, channels), read_image(job.pair.b, channels)
    if options.size is not None:
        a = resize_bicubic(a, (options.size, options.size))
        b = resize_bicubic(b, (options.size, options.size))
    elif a.shape[1:] != b.shape[1:]:
        if not options.resize:
            raise ValueError(
                f"A is {a.shape[1]}x{a.shape[2]} but its partner {job.pair.b} is "
                f"{b.shape[1]}x{b.shape[2]} (height x width); expected equal sizes "
                "(--resize brings B to A's size)"
            )
        b = resize_bicubic(b, (a.shape[1], a.shape[2]))
    write_ab(job.output, a, b, quality=options.quality, bits=16 if deep else 8)
    return True


def _load(x: Source) -> np.ndarray | torch.Tensor:
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return x
    return read_image(x, channels=3)


def _as_float_chw(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        hwc = x[..., None] if x.ndim == 2 else x
        if hwc.dtype == np.uint8:
            t = torch.from_numpy(hwc.astype(np.float32) / 255.0)
        elif hwc.dtype == np.uint16:
            t = torch.from_numpy(hwc.astype(np.float32) / 65535.0)
        else:
            t = torch.from_numpy(np.ascontiguousarray(hwc, dtype=np.float32))
        return t.permute(2, 0, 1)
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    return x.float()


def _match_channels_chw(x: torch.Tensor) -> torch.Tensor:
    x = x.unsqueeze(0) if x.ndim == 2 else x
    if x.ndim != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"combine_pair: expected C x H x W with C in (1, 3), got {tuple(x.shape)}")
    return x


def _match_channels_hwc(x: np.ndarray) -> np.ndarray:
    x = x[..., None] if x.ndim == 2 else x
    if x.ndim != 3 or x.shape[2] not in (1, 3):
        raise ValueError(f"combine_pair: expected H x W x C with C in (1, 3), got {x.shape}")
    return x


def _check_sizes(size_a: tuple[int, ...], size_b: tuple[int, ...]) -> None:
    if tuple(size_a) != tuple(size_b):
        raise ValueError(
            f"combine_pair: A is {size_a[0]}x{size_a[1]} but B is {size_b[0]}x{size_b[1]} "
            "(height x width); expected equal sizes"
        )
