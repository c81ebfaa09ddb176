"""Which half of a side-by-side A|B image to translate when ``--side`` is not given.

A run knows its dataset: inputs inside a side-by-side split of it are translated on the run's
own side (its direction's input half), and said so. Elsewhere, an image whose size is an A|B
pair's of the run (twice the trained width, or the size of the run's side-by-side files) is
refused until ``--side A|B|whole`` says what is meant (not for models that read label maps).
``whole`` translates the whole image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from img2img.data.discover import DatasetLayoutError, locate_split
from img2img.data.extensions import is_video_file
from img2img.data.io import read_header
from img2img.infer.plan import Job, lies_within

#: the values of ``--side``
SIDE_CHOICES = ("A", "B", "whole")


@dataclass(frozen=True)
class SideChoice:
    """The half to translate (None: the whole image) and, when it was chosen for the user,
    the line that says so."""

    side: str | None
    note: str | None = None


def _side_by_side_split(root: Path, inputs: Path) -> Path | None:
    """The side-by-side split folder of the dataset ``root`` that holds ``inputs``, if any."""
    if not root.is_dir() or not lies_within(inputs, root):
        return None
    relative = Path(os.path.realpath(inputs)).relative_to(os.path.realpath(root))
    phases = [relative.parts[0]] if relative.parts and (root / relative.parts[0]).is_dir() \
        else []
    for phase in phases or ["test"]:  # a flat dataset answers any phase with its own files
        try:
            split = locate_split(root, phase)
        except DatasetLayoutError:
            continue
        if split.side_by_side and lies_within(inputs, split.dir_a):
            return split.dir_a
    return None


def _is_pair(size: tuple[int, int], config: Any, files: tuple[int, int] | None) -> bool:
    """Whether an image of ``size`` (height, width) has the size of an A|B pair of the run
    trained with ``config``: twice its training width (at its training height for square
    crops), or the size of its own side-by-side files (``files``)."""
    data = config.data
    h, w = size
    if size == files:
        return True
    if data.training_size and (h, w) == (data.training_size, 2 * data.training_size):
        return True
    return "scale_width" in data.preprocess and w == 2 * data.load_size


def _run_pair_size(config: Any) -> tuple[int, int] | None:
    """(height, width) of the first side-by-side file of the run's training split, if any."""
    root = Path(config.data.root)
    try:
        split = locate_split(root, config.data.phase) if root.is_dir() else None
        if split is not None and split.side_by_side and split.files_a:
            return read_header(split.files_a[0]).size
    except (OSError, ValueError):  # DatasetLayoutError included: another family's layout
        pass
    return None


def choose_side(model: Any, inputs: Path, jobs: Sequence[Job], side: str | None) -> SideChoice:
    """The half of each input to translate for ``--side side`` (None: not given).

    Raises:
        ValueError: ``side`` is not one of :data:`SIDE_CHOICES`, or it is not given and an
            input outside the run's dataset has the size of one of the run's A|B pairs.
    """
    if side is not None:
        if side not in SIDE_CHOICES:
            raise ValueError(f"--side: {side!r} is not valid; expected one of: "
                             f"{', '.join(SIDE_CHOICES)}")
        return SideChoice(None if side == "whole" else side)
    config = getattr(model, "config", None)
    if config is None or getattr(config, "data", None) is None:
        return SideChoice(None)
    root = Path(config.data.root)
    split = _side_by_side_split(root, inputs)
    if split is not None:
        own = "A" if config.data.direction == "AtoB" else "B"
        return SideChoice(own, (
            f"{inputs} is in the side-by-side split {split} of the run's dataset: translating "
            f"the {own} half of each image (as --side {own}; --side whole for whole images)"))
    streams = getattr(model, "input_streams", ())
    if streams and streams[0].kind != "image":
        return SideChoice(None)  # label maps (pix2pixHD) are never side by side
    files = _run_pair_size(config)
    for job in jobs:
        if is_video_file(job.src):
            continue
        try:
            size = read_header(job.src).size
        except (OSError, ValueError):
            continue  # translate reports it
        if _is_pair(size, config, files):
            h, w = size
            raise ValueError(
                f"{job.src}: {w}x{h} is the size of an A|B side-by-side pair of this run; "
                "pass --side A or --side B to translate one half, or --side whole to "
                "translate the whole image")
    return SideChoice(None)
