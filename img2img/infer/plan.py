"""Which files to translate and where each result goes: :func:`plan_outputs`.

Planning reads only names and folders (no image is opened and nothing heavy is imported), so
a bad input or output path fails before any model is loaded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from img2img.data.discover import find_files
from img2img.data.extensions import (
    IMAGE_EXTENSIONS,
    VIDEO_CODECS,
    VIDEO_EXTENSIONS,
    is_image_file,
    is_video_file,
    writable_video_suffix,
)

__all__ = ["Job", "expand_variants", "plan_outputs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One image (or video) to translate.

    Attributes:
        src: the input file.
        dst: the output file.
        key: the input's path relative to the input folder, with ``/`` separators; it names
            the input in logs and seeds its dropout masks
            (:func:`~img2img.infer.stochastic.image_seed`).
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


def lies_within(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it, symbolic links resolved on both."""
    return _is_within(_real(Path(path)), _real(Path(folder)))


def plan_outputs(inp: Path, out: Path, ext: str = ".png") -> list[Job]:
    """Decide which files to translate and where each result goes.

    * ``inp`` a folder: its images and videos, found recursively, each written to ``out`` under
      the same relative path; images take the extension ``ext``, videos keep theirs (``.mp4``
      for containers that cannot be written, see :func:`~img2img.data.video.writable_video_suffix`).
      Files inside ``out`` (when ``out`` lies within ``inp``) are left out, so a second run
      does not translate its own outputs. Inputs of one folder that differ only in their
      extension (``x.jpg``, ``x.png``) would share an output: each of them is written under
      its whole name plus the output's extension instead (``x.jpg.png``, ``x.png.png``), and
      a warning names them (:func:`separate_clashes`).
    * ``inp`` a file and ``out`` a path with an extension of the same kind (image for an image,
      video for a video) that is not an existing folder: that path, whatever ``ext`` says.
    * ``inp`` a file otherwise: ``out / (stem + ext)`` (a video keeps its suffix).

    Args:
        inp: an image or video file, or a folder of them.
        out: the output file or folder.
        ext: the output format's extension of images in folder outputs (``.png``, ``jpg`` ...).

    Returns:
        The jobs, in the sorted order of the inputs.

    Raises:
        FileNotFoundError: ``inp`` does not exist.
        ValueError: ``inp`` is a file that is neither an image nor a video, ``out`` names a file
            of the other kind or a video container that cannot be written, ``ext`` is not an
            image extension, or an output would replace its own input.
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
        for src in find_files(inp, _is_media_file, recursive=True):
            if nested and _is_within(_real(src), out_abs):
                continue
            rel = _relative(src, inp)
            jobs.append(Job(src, out / rel.with_suffix(_output_suffix(src, ext)), rel.as_posix()))
        jobs = separate_clashes(jobs)
    elif inp.is_file():
        jobs = [Job(inp, _file_output(inp, out, ext), inp.name)]
    elif os.path.lexists(inp):
        raise ValueError(
            f"input {inp} is neither a regular file nor a folder (a FIFO, a device or a broken "
            "symbolic link); expected an image or video file, or a folder"
        )
    else:
        raise FileNotFoundError(
            f"input {inp} does not exist; expected an image or video file, or a folder"
        )
    _check_distinct(jobs)
    return jobs


def _is_media_file(path: str | Path) -> bool:
    return is_image_file(path) or is_video_file(path)


def _output_suffix(src: Path, ext: str) -> str:
    return writable_video_suffix(src) if is_video_file(src) else ext


def _file_output(inp: Path, out: Path, ext: str) -> Path:
    """Where the translation of the file ``inp`` goes (see :func:`plan_outputs`)."""
    if not _is_media_file(inp):
        raise ValueError(
            f"input {inp} is not an image or video file; expected one of: "
            f"{', '.join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))}"
        )
    if out.is_dir() or not _is_media_file(out):
        return out / f"{inp.stem}{_output_suffix(inp, ext)}"
    video = is_video_file(inp)
    if video != is_video_file(out):
        kinds = ("a video", "an image") if video else ("an image", "a video")
        raise ValueError(
            f"input {inp} is {kinds[0]} but output {out} names {kinds[1]}; give an output "
            f"of the input's kind, or a folder"
        )
    if video and out.suffix.lower() not in VIDEO_CODECS:
        raise ValueError(
            f"output {out}: videos cannot be written as {out.suffix}; expected one of: "
            f"{', '.join(sorted(VIDEO_CODECS))}"
        )
    return out


def _check_distinct(jobs: Sequence[Job]) -> None:
    seen: dict[Path, Path] = {}
    for job in jobs:
        if _real(job.dst) == _real(job.src):
            raise ValueError(
                f"the output for {job.src} would replace the input itself; "
                "choose another output folder or extension"
            )
        if job.dst in seen:  # separate_clashes leaves none; kept as a safeguard
            raise ValueError(
                f"inputs {seen[job.dst]} and {job.src} would both be written to {job.dst}; "
                "rename one of them or translate them separately"
            )
        seen[job.dst] = job.src


def separate_clashes(jobs: Sequence[Job]) -> list[Job]:
    """``jobs`` where no two write the same output: every input whose output another input
    would also take (``x.jpg`` and ``x.png`` both to ``x.png``) is written under its whole
    name plus the output's suffix (``x.jpg.png``, ``x.png.png``); the others keep theirs.

    Renamed outputs are distinct (input names in one folder are); an output renamed onto
    another input's (``x.jpg`` -> ``x.jpg.png`` beside an input ``x.jpg.png``) renames that
    one too, until no two jobs share an output. One warning is logged per clash.
    """
    jobs = list(jobs)
    renamed: set[int] = set()
    while True:
        by_output: dict[Path, list[int]] = {}
        for i, job in enumerate(jobs):
            by_output.setdefault(job.dst, []).append(i)
        clashes = {dst: group for dst, group in by_output.items() if len(group) > 1}
        todo = {i for group in clashes.values() for i in group} - renamed
        if not todo:  # no clash left (renamed outputs never clash with each other)
            return jobs
        for dst, group in clashes.items():
            for i in set(group) & todo:
                jobs[i] = replace(jobs[i], dst=jobs[i].dst.with_name(
                    jobs[i].src.name + jobs[i].dst.suffix))
            log.warning("inputs %s would all be written to %s: writing them as %s",
                        ", ".join(str(jobs[i].src) for i in group), dst,
                        ", ".join(jobs[i].dst.name for i in group))
        renamed |= todo
