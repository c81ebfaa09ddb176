"""Instance maps to boundary maps, by pix2pixHD's rule.

A pixel is a boundary pixel when its instance id differs from the id of its left, right, upper
or lower neighbour; both pixels of a differing pair are marked, and pixels outside the image are
not neighbours (the image border is not a boundary). Ids are compared exactly as
:func:`~img2img.data.io.read_ids` reads them: 8-, 16- and 32-bit maps and RGB-coded maps (one
colour per id) alike.

:func:`boundary_map` is the rule on a tensor (vectorised, any batch shape); the rest turns
files and folders of instance maps into 8-bit boundary PNGs (``img2img boundary``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from img2img.data.discover import find_images
from img2img.data.extensions import IMAGE_EXTENSIONS, is_image_file
from img2img.data.io import read_ids, write_image

__all__ = [
    "BOUNDARY_SUFFIX",
    "BoundaryJob",
    "BoundarySummary",
    "boundary_map",
    "plan_boundaries",
    "read_boundary",
    "write_boundaries",
    "write_boundary",
]

log = logging.getLogger(__name__)

#: appended to an instance map's stem to name its boundary map
BOUNDARY_SUFFIX = "_boundary"
#: pixel values written for (not a boundary, boundary)
DEFAULT_VALUES: tuple[int, int] = (0, 255)

Progress = Callable[[int, int], None]


def boundary_map(ids: Tensor) -> Tensor:
    """The boundary pixels of instance map(s) ``ids``, as a bool tensor of the same shape.

    Args:
        ids: instance ids shaped ``[..., H, W]`` (any leading batch or channel dimensions; the
            last two are height and width), usually int64 from
            :func:`~img2img.data.io.read_ids`. Values are compared exactly.

    Returns:
        ``True`` where the pixel's id differs from its left, right, upper or lower neighbour's.
    """
    if ids.dim() < 2:
        raise ValueError(
            f"boundary_map: got a tensor of shape {tuple(ids.shape)}; expected [..., H, W]"
        )
    edge = torch.zeros(ids.shape, dtype=torch.bool, device=ids.device)
    across = ids[..., :, 1:] != ids[..., :, :-1]  # pixel vs its right neighbour
    edge[..., :, 1:] |= across
    edge[..., :, :-1] |= across
    down = ids[..., 1:, :] != ids[..., :-1, :]  # pixel vs its lower neighbour
    edge[..., 1:, :] |= down
    edge[..., :-1, :] |= down
    return edge


def read_boundary(path: str | os.PathLike[str]) -> Tensor:
    """The boundary map of the instance map file ``path``: bool ``1 x H x W``.

    Raises:
        ImageReadError: the file cannot be read as integer ids.
    """
    return boundary_map(read_ids(path))


def check_values(values: Sequence[int]) -> tuple[int, int]:
    """``(background, boundary)`` pixel values, each 0..255, or a clear error."""
    pair = tuple(values)
    if len(pair) != 2 or not all(isinstance(v, int) and 0 <= v <= 255 for v in pair):
        raise ValueError(
            f"values: {values!r} is not valid; expected two 8-bit values such as 0,255 "
            "(background, boundary)"
        )
    return int(pair[0]), int(pair[1])


def write_boundary(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    values: Sequence[int] = DEFAULT_VALUES,
) -> Path:
    """Write the boundary map of instance map ``src`` to ``dst`` (8-bit gray, atomically).

    Args:
        src: an instance map (any format :func:`~img2img.data.io.read_ids` reads).
        dst: the output file; its extension picks the format (PNG keeps values exact).
        values: pixel values for (not a boundary, boundary); ``(0, 1)`` gives a raw mask.

    Returns:
        ``dst``.

    Raises:
        ImageReadError: ``src`` cannot be read.
        ValueError: bad ``values`` or output extension.
    """
    low, high = check_values(values)
    edge = read_boundary(src)[0].numpy()
    array = np.where(edge, np.uint8(high), np.uint8(low))
    return write_image(dst, array)


@dataclass(frozen=True)
class BoundaryJob:
    """One instance map and where its boundary map goes."""

    src: Path
    dst: Path


@dataclass(frozen=True)
class BoundarySummary:
    """What :func:`write_boundaries` did.

    Attributes:
        written: boundary maps written.
        kept: outputs that already existed and were left alone.
        failed: ``(input, reason)`` for each map that could not be read or written.
        seconds: wall-clock time.
    """

    written: int
    kept: int
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0


def _output_name(src: Path) -> str:
    return f"{src.stem}{BOUNDARY_SUFFIX}.png"


def plan_boundaries(
    inp: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> list[BoundaryJob]:
    """Decide which instance maps to convert and where each boundary map goes.

    * ``inp`` a file: ``<stem>_boundary.png`` beside it, or in folder ``out``; an ``out`` with
      an image extension (and not an existing folder) is the output file itself.
    * ``inp`` a folder: its images, found recursively, each to ``<stem>_boundary.png`` beside
      it, or under ``out`` at the same relative place. Files already named ``*_boundary`` and
      files inside ``out`` are not inputs, so running twice never converts its own outputs.

    Raises:
        FileNotFoundError: ``inp`` does not exist.
        ValueError: ``inp`` is a file that is not an image, or two inputs (``a.png`` and
            ``a.tif``) would be written to the same output.
        NotADirectoryError: ``inp`` is a folder and ``out`` an existing file.
    """
    inp = Path(inp)
    out_path = None if out is None else Path(out)
    if inp.is_file():
        if not is_image_file(inp):
            raise ValueError(
                f"input {inp} is not an image file; expected one of: "
                f"{', '.join(sorted(IMAGE_EXTENSIONS))}"
            )
        if out_path is None:
            dst = inp.with_name(_output_name(inp))
        elif is_image_file(out_path) and not out_path.is_dir():
            dst = out_path
        else:
            dst = out_path / _output_name(inp)
        jobs = [BoundaryJob(inp, dst)]
    elif inp.is_dir():
        if out_path is not None and out_path.exists() and not out_path.is_dir():
            raise NotADirectoryError(
                f"output {out_path} is a file; a folder input {inp} needs an output folder"
            )
        base = inp if out_path is None else out_path
        outside = None if out_path is None else out_path.resolve()
        jobs = []
        for src in find_images(inp):
            if src.stem.endswith(BOUNDARY_SUFFIX):
                continue
            if outside is not None and outside in src.resolve().parents:
                continue
            rel = src.relative_to(inp)
            jobs.append(BoundaryJob(src, base / rel.parent / _output_name(src)))
    else:
        raise FileNotFoundError(
            f"input {inp} does not exist; expected an instance map or a folder of them"
        )
    _check_distinct(jobs)
    return jobs


def _check_distinct(jobs: Sequence[BoundaryJob]) -> None:
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.dst.resolve() == job.src.resolve():
            raise ValueError(f"the boundary map of {job.src} would replace the input itself")
        if job.dst in seen:
            raise ValueError(
                f"inputs {seen[job.dst]} and {job.src} would both be written to {job.dst}; "
                "rename one of them or convert them separately"
            )
        seen[job.dst] = job.src


def write_boundaries(
    jobs: Sequence[BoundaryJob],
    *,
    values: Sequence[int] = DEFAULT_VALUES,
    overwrite: bool = False,
    num_threads: int = 2,
    progress: Progress | None = None,
) -> BoundarySummary:
    """Write the boundary map of every job; one unreadable map never stops the others.

    Args:
        jobs: from :func:`plan_boundaries`.
        values: pixel values for (not a boundary, boundary).
        overwrite: replace existing outputs; otherwise they are kept and counted.
        num_threads: maps decoded, converted and written at once.
        progress: called as ``progress(done, total)`` as maps finish.
    """
    values = check_values(values)
    if num_threads < 1:
        raise ValueError(f"num_threads: {num_threads!r} is not valid; expected an integer >= 1")
    start = time.perf_counter()
    todo = [job for job in jobs if overwrite or not job.dst.exists()]
    kept = len(jobs) - len(todo)
    written, failed, done = 0, [], kept
    if progress is not None:
        progress(done, len(jobs))

    def convert(job: BoundaryJob) -> str | None:
        try:
            write_boundary(job.src, job.dst, values)
        except (OSError, ValueError) as exc:
            return str(exc) or type(exc).__name__
        return None

    with ThreadPoolExecutor(num_threads, thread_name_prefix="img2img-boundary") as pool:
        for job, error in zip(todo, pool.map(convert, todo), strict=True):
            if error is None:
                written += 1
            else:
                log.warning("skipping %s: %s", job.src, error)
                failed.append((job.src, error))
            done += 1
            if progress is not None:
                progress(done, len(jobs))
    return BoundarySummary(written, kept, failed, time.perf_counter() - start)
