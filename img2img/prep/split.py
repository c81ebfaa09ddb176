"""Side-by-side AB images back into separate ``A/`` and ``B/`` folders (the reverse of combine)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from img2img.data.discover import KNOWN_PHASES, DatasetLayoutError, find_pairs, split_ab
from img2img.data.image_write import writes_16_bit
from img2img.data.io import read_header, read_image, write_image
from img2img.prep.parallel import ProgressFn, run_jobs
from img2img.prep.report import PrepReport, needs_writing


@dataclass(frozen=True)
class _SplitJob:
    source: Path
    split: str
    out_a: Path
    out_b: Path


def split_folder(
    ab_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    ext: str | None = None,
    quality: int = 95,
    overwrite: bool = False,
    workers: int = 1,
    progress: ProgressFn | None = None,
) -> PrepReport:
    """Cut every side-by-side image of ``ab_dir`` into ``out_dir/A`` and ``out_dir/B``.

    Each split folder of ``ab_dir`` (``train``, ``val``, ``test``) goes to ``out_dir/A/<split>``
    and ``out_dir/B/<split>``; images directly in ``ab_dir`` go to ``out_dir/A`` and
    ``out_dir/B``. Sub-folders and stems are kept, so ``combine`` of the result gives the input
    back. A is the left ``W // 2`` columns and B the rest, as training reads them. Gray images
    stay gray and 16-bit images stay 16-bit (in PNG and TIFF).

    Args:
        ext: output format by extension; None keeps each input's.
        quality: JPEG/WEBP quality.
        overwrite: replace existing outputs (otherwise a pair whose two outputs exist is kept).

    Raises:
        DatasetLayoutError: ``ab_dir`` holds no side-by-side images, or holds separate A and B
            images already.
    """
    ab_dir, out_dir = Path(ab_dir), Path(out_dir)
    report = PrepReport()
    jobs: list[_SplitJob] = []
    for phase in KNOWN_PHASES:
        try:
            files = find_pairs(ab_dir, phase)
        except DatasetLayoutError:
            continue
        if not files.side_by_side:
            raise DatasetLayoutError(
                f"{ab_dir} [{phase}] holds separate A and B images ({files.layout}), not "
                "side-by-side ones; there is nothing to split",
                ab_dir,
                phase,
            )
        split = "" if files.flat else phase
        report.layouts[split] = files.layout
        for pair in files.pairs:
            name = pair.key + (ext or pair.a.suffix)
            jobs.append(_SplitJob(pair.a, split, out_dir / "A" / split / name,
                                  out_dir / "B" / split / name))
        if files.flat:
            break
    if not jobs:
        raise DatasetLayoutError(
            f"{ab_dir}: no side-by-side images found (in train/, val/, test/ or the folder "
            "itself); expected A|B images such as datasets/facades",
            ab_dir,
            ",".join(KNOWN_PHASES),
        )
    work = functools.partial(_split_one, quality=quality, overwrite=overwrite)
    for outcome in run_jobs(work, jobs, workers=workers, progress=progress):
        report.record(outcome)
    return report


def _split_one(job: _SplitJob, quality: int, overwrite: bool) -> bool:
    if not (needs_writing(job.out_a, overwrite) or needs_writing(job.out_b, overwrite)):
        return False
    header = read_header(job.source)
    a, b = split_ab(read_image(job.source, channels=header.channels), job.source)
    for image, out in ((a, job.out_a), (b, job.out_b)):
        if not needs_writing(out, overwrite):
            continue
        bits = 16 if header.bits == 16 and writes_16_bit(out) else 8
        write_image(out, image, bits=bits, quality=quality)
    return True
