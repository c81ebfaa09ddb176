"""The official Cityscapes download as pix2pix, pix2pixHD and CycleGAN datasets.

Cityscapes may not be redistributed, so users download ``gtFine_trainvaltest.zip`` and
``leftImg8bit_trainvaltest.zip`` themselves; :func:`prepare_cityscapes` turns the two unzipped
folders into the layouts the reference implementations trained on:

- ``pix2pix``: ``OUT/<split>/<frame>.png``, photo (A) | colour label map (B), each resized to
  ``size x size`` (labels -> photo is ``--direction BtoA``);
- ``cyclegan``: ``OUT/<split>A/<frame>.png`` photos and ``OUT/<split>B/<frame>.png`` colour label
  maps at the same size;
- ``pix2pixhd``: ``OUT/<split>_label/*_gtFine_labelIds.png``, ``OUT/<split>_inst/
  *_gtFine_instanceIds.png`` and ``OUT/<split>_img/*_leftImg8bit.png`` at full resolution, the
  files themselves (hard links where the file system allows, else copies).

The official ``train`` split becomes ``train`` and ``val`` becomes ``test``, as in both
reference implementations (the official test labels are not public).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from img2img.atomic import atomic_link
from img2img.data.io import read_ids, read_image, write_image
from img2img.data.transforms import resize_bicubic
from img2img.prep.combine import write_ab
from img2img.prep.parallel import ProgressFn, run_jobs
from img2img.prep.report import PrepReport, needs_writing

log = logging.getLogger(__name__)

LAYOUTS: tuple[str, ...] = ("pix2pix", "pix2pixhd", "cyclegan")

#: official split -> the split the prepared datasets call it
SPLITS: dict[str, str] = {"train": "train", "val": "test"}

#: colour of each Cityscapes label id 0..33, as in the official ``*_gtFine_color.png`` files
PALETTE = np.array(
    [
        (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (111, 74, 0), (81, 0, 81),
        (128, 64, 128), (244, 35, 232), (250, 170, 160), (230, 150, 140), (70, 70, 70),
        (102, 102, 156), (190, 153, 153), (180, 165, 180), (150, 100, 100), (150, 120, 90),
        (153, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35),
        (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70),
        (0, 60, 100), (0, 0, 90), (0, 0, 110), (0, 80, 100), (0, 0, 230), (119, 11, 32),
    ],
    dtype=np.uint8,
)

_PHOTO = "_leftImg8bit"
_LABEL_IDS = "_gtFine_labelIds"
_INSTANCE_IDS = "_gtFine_instanceIds"
_COLOR = "_gtFine_color"
_FRAME = re.compile(r"^(.+_\d+_\d+)_(leftImg8bit|gtFine_[A-Za-z]+)\.png$")


@dataclass(frozen=True)
class Frame:
    """The files of one Cityscapes frame.

    Attributes:
        key: ``<city>_<sequence>_<frame>``, e.g. ``aachen_000000_000019``.
        split: the prepared split (``train`` or ``test``).
        photo: ``*_leftImg8bit.png``.
        label_ids: ``*_gtFine_labelIds.png``.
        instance_ids: ``*_gtFine_instanceIds.png``, if present.
        color: ``*_gtFine_color.png``, if present (else drawn from the label ids).
    """

    key: str
    split: str
    photo: Path
    label_ids: Path
    instance_ids: Path | None = None
    color: Path | None = None

    @property
    def source(self) -> Path:
        return self.label_ids


def colorize(label_ids: np.ndarray) -> np.ndarray:
    """The official colour of every label id (``H x W`` ints -> ``H x W x 3`` uint8); ids
    outside 0..33 are black."""
    ids = np.asarray(label_ids)
    table = np.zeros((256, 3), np.uint8)
    table[: len(PALETTE)] = PALETTE
    return table[np.clip(ids, 0, 255)]  # 0 and 255 are black, as every id outside 0..33


def find_frames(gtfine: Path, leftimg8bit: Path, report: PrepReport) -> list[Frame]:
    """Match the label maps of ``gtfine`` with the photos of ``leftimg8bit``, frame by frame.

    Frames missing a photo or a label map are left out and listed in ``report.unmatched``.

    Raises:
        FileNotFoundError: neither folder holds a ``train`` or ``val`` split.
    """
    frames: list[Frame] = []
    for official, split in SPLITS.items():
        labels_dir, photos_dir = gtfine / official, leftimg8bit / official
        if not labels_dir.is_dir() and not photos_dir.is_dir():
            continue
        gt = _index(labels_dir)
        photos = {key: files[_PHOTO] for key, files in _index(photos_dir).items()
                  if _PHOTO in files}
        labelled = {key: files for key, files in gt.items() if _LABEL_IDS in files}
        for key in sorted(labelled.keys() - photos.keys()):
            report.unmatched.append(labelled[key][_LABEL_IDS])
        for key in sorted(photos.keys() - labelled.keys()):
            report.unmatched.append(photos[key])
        for key in sorted(labelled.keys() & photos.keys()):
            files = labelled[key]
            frames.append(Frame(key, split, photos[key], files[_LABEL_IDS],
                                files.get(_INSTANCE_IDS), files.get(_COLOR)))
    if not frames and not report.unmatched:
        raise FileNotFoundError(
            f"no Cityscapes frames under --gtfine {gtfine} and --leftimg8bit {leftimg8bit}; "
            "expected gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png and "
            "leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png (the unzipped "
            "gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip)"
        )
    return frames


def prepare_cityscapes(
    gtfine: str | os.PathLike[str],
    leftimg8bit: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    layouts: Sequence[str] = LAYOUTS,
    size: int = 256,
    ext: str = ".png",
    quality: int = 95,
    overwrite: bool = False,
    workers: int = 1,
    progress: ProgressFn | None = None,
) -> PrepReport:
    """Write the Cityscapes ``train`` and ``val`` frames in ``layouts`` under ``out_dir``.

    ``gtfine`` and ``leftimg8bit`` are the unzipped official folders (or folders holding them).
    See the module docstring for the layouts. Colour label maps are the official
    ``*_gtFine_color.png`` files, or drawn from the label ids with the official colours when
    those files are absent.

    Raises:
        ValueError: an unknown layout or a bad size.
        FileNotFoundError: no Cityscapes frames in the folders.
    """
    unknown = sorted(set(layouts) - set(LAYOUTS))
    if unknown or not layouts:
        raise ValueError(
            f"--layouts: {', '.join(unknown) or 'none given'} is not valid; expected some of "
            f"{', '.join(LAYOUTS)}"
        )
    if size < 1:
        raise ValueError(f"--size: {size} is not valid; expected a number >= 1")
    out_dir = Path(out_dir)
    report = PrepReport()
    frames = find_frames(_inner(Path(gtfine), "gtFine"), _inner(Path(leftimg8bit), "leftImg8bit"),
                         report)
    if report.unmatched:
        report.note(f"{len(report.unmatched)} files have no label map or no photo and are "
                    "left out", log)
    for layout in layouts:
        report.layouts[layout] = _LAYOUT_NOTES[layout]
    work = functools.partial(_prepare_frame, out_dir=out_dir, layouts=tuple(layouts), size=size,
                             ext=ext, quality=quality, overwrite=overwrite)
    for outcome in run_jobs(work, frames, workers=workers, progress=progress):
        report.record(outcome)
    return report


_LAYOUT_NOTES = {
    "pix2pix": "<split>/<frame>: photo (A) | colour labels (B), side by side",
    "cyclegan": "<split>A/ photos, <split>B/ colour labels",
    "pix2pixhd": "<split>_label/, <split>_inst/, <split>_img/ at full resolution",
}


def _inner(folder: Path, name: str) -> Path:
    """``folder``, or ``folder/name`` when the user gave the folder the zip was unpacked in."""
    return folder / name if not (folder / "train").is_dir() and (folder / name).is_dir() else folder


def _index(folder: Path) -> dict[str, dict[str, Path]]:
    """``{frame key: {suffix: file}}`` of the Cityscapes PNGs under ``folder`` (recursive)."""
    index: dict[str, dict[str, Path]] = {}
    if not folder.is_dir():
        return index
    for path in sorted(folder.rglob("*.png")):
        match = _FRAME.match(path.name)
        if match:
            index.setdefault(match.group(1), {})["_" + match.group(2)] = path
    return index


def _prepare_frame(
    frame: Frame, out_dir: Path, layouts: tuple[str, ...], size: int, ext: str, quality: int,
    overwrite: bool,
) -> bool:
    """Write one frame in every layout; False when all its outputs existed already."""
    todo = {path: part for path, part in _small_outputs(frame, out_dir, layouts, ext).items()
            if needs_writing(path, overwrite)}
    if todo:
        photo, color = _small_pair(frame, size)
        for path, part in todo.items():
            if part == "AB":
                write_ab(path, photo, color, quality=quality)
            else:
                write_image(path, photo if part == "photo" else color, quality=quality)
    linked = []
    if "pix2pixhd" in layouts:
        for folder, source in (("label", frame.label_ids), ("inst", frame.instance_ids),
                               ("img", frame.photo)):
            if source is None:
                continue
            target = out_dir / f"{frame.split}_{folder}" / source.name
            if needs_writing(target, overwrite):
                target.parent.mkdir(parents=True, exist_ok=True)
                linked.append(atomic_link(source, target))
    return bool(todo or linked)


def _small_outputs(
    frame: Frame, out_dir: Path, layouts: tuple[str, ...], ext: str
) -> dict[Path, str]:
    """The resized outputs of ``frame``: ``{path: "AB" | "photo" | "color"}``."""
    name = f"{frame.key}{ext}"
    outputs: dict[Path, str] = {}
    if "pix2pix" in layouts:
        outputs[out_dir / frame.split / name] = "AB"
    if "cyclegan" in layouts:
        outputs[out_dir / f"{frame.split}A" / name] = "photo"
        outputs[out_dir / f"{frame.split}B" / name] = "color"
    return outputs


def _small_pair(frame: Frame, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The photo and the colour label map, each resized (bicubic) to ``size x size``."""
    photo = read_image(frame.photo, channels=3)
    if frame.color is not None:
        color = read_image(frame.color, channels=3)
    else:
        ids = read_ids(frame.label_ids)[0].numpy()
        color = torch.from_numpy(colorize(ids)).permute(2, 0, 1).float() / 255.0
    return resize_bicubic(photo, (size, size)), resize_bicubic(color, (size, size))
