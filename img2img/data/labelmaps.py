"""Label-map datasets (pix2pixHD): finding label, instance and photo files, checking and
one-hot encoding class ids, and scanning a dataset for the classes it uses.

Layouts, for a split ``PHASE`` (``train``, ``test`` ...):

* the reference one: ``root/PHASE_label/``, ``root/PHASE_inst/``, ``root/PHASE_img/``
  (``PHASE_A/`` and ``PHASE_B/`` for image inputs, ``label_nc`` 0);
* stem-paired folders ``root/PHASE/label/`` ... or ``root/label/PHASE/`` ..., or ``root/label/``
  ... without split folders (``labels``, ``inst``/``instance``/``instances``,
  ``img``/``image``/``images`` are accepted names).

Files pair by relative path and stem; the suffixes Cityscapes gives each kind
(``_leftImg8bit``, ``_gtFine_labelIds``, ``_gtFine_instanceIds`` ...) are ignored, so
``aachen_000000_000019_leftImg8bit.png`` pairs with ``aachen_000000_000019_gtFine_labelIds.png``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from img2img.data.dataset import StreamDataset, StreamFiles
from img2img.data.discover import DatasetLayoutError, find_images
from img2img.data.io import read_ids
from img2img.data.streams import Stream
from img2img.data.transforms import StreamTransform

log = logging.getLogger(__name__)

#: the suffix Cityscapes (and the pix2pixHD sample) gives each kind of file
_CITYSCAPES_SUFFIX = re.compile(
    r"_(leftImg8bit|gt(Fine|Coarse)_(labelIds|labelTrainIds|instanceIds|instanceTrainIds|color))$"
)
#: folder names of each stream, in the order they are tried
FOLDER_NAMES: dict[str, tuple[str, ...]] = {
    "label": ("label", "labels"),
    "instance": ("inst", "instance", "instances"),
    "image": ("img", "image", "images"),
}
#: the reference layout's folder names for image inputs (``label_nc`` 0)
RGB_FOLDER_NAMES: dict[str, tuple[str, ...]] = {"label": ("A",), "image": ("B",)}
_SHOW = 5


class LabelValueError(ValueError):
    """A label map holding a class id outside ``0 .. label_nc - 1``."""


def pair_key(relative_stem: str) -> str:
    """The name a file pairs by: its relative stem without a Cityscapes kind suffix."""
    return _CITYSCAPES_SUFFIX.sub("", relative_stem)


def check_label_values(
    labels: Tensor, label_nc: int, source: str | os.PathLike[str] = "label map"
) -> None:
    """Fail naming ``source`` and the first bad value unless all ids are in ``0..label_nc-1``.

    Raises:
        LabelValueError: a value is negative or not below ``label_nc``.
    """
    if labels.numel() == 0 or labels.device.type == "meta":
        return
    low, high = int(labels.min()), int(labels.max())
    if low >= 0 and high < label_nc:
        return
    bad = low if low < 0 else high
    found = sorted(set(torch.unique(labels).tolist()) - set(range(label_nc)))
    listed = ", ".join(map(str, found[:_SHOW])) + (", ..." if len(found) > _SHOW else "")
    raise LabelValueError(
        f"{source}: class id {bad} is outside 0..{label_nc - 1} (label_nc {label_nc}; values "
        f"out of range: {listed}); expected label maps with values below --label-nc, or "
        "--label-nc auto to count the classes the data uses"
    )


def one_hot(labels: Tensor, label_nc: int, dtype: torch.dtype = torch.float32, *,
            checked: bool = False) -> Tensor:
    """One-hot encode class ids ``[N, 1, H, W]`` to ``[N, label_nc, H, W]`` of ``dtype``.

    ``checked``: the caller checked the ids already (on the CPU, before copying them to an
    accelerator, where reading their range would wait for the device).

    Raises:
        LabelValueError: an id outside ``0 .. label_nc - 1`` (unless ``checked``).
    """
    if labels.dim() != 4 or labels.shape[1] != 1 or labels.is_floating_point():
        raise ValueError(
            f"labels: got {labels.dtype} of shape {tuple(labels.shape)}; expected integer class "
            "ids shaped [N, 1, H, W]"
        )
    if not checked:
        check_label_values(labels, label_nc)
    n, _, h, w = labels.shape
    out = torch.zeros(n, label_nc, h, w, dtype=dtype, device=labels.device)
    return out.scatter_(1, labels.long(), 1.0)


@dataclass(frozen=True)
class LabelScan:
    """The class ids a set of label maps uses (:func:`scan_label_values`).

    Attributes:
        values: the distinct ids, sorted.
        files: how many maps were read.
        failed: ``(file, reason)`` of maps that could not be read.
    """

    values: list[int]
    files: int
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def label_nc(self) -> int:
        """The smallest ``label_nc`` that holds every id: the largest id + 1."""
        return self.values[-1] + 1 if self.values else 0

    def describe(self) -> str:
        """One line for the user."""
        shown = ", ".join(map(str, self.values[:40])) + (" ..." if len(self.values) > 40 else "")
        return (f"--label-nc auto: {self.files} label maps use {len(self.values)} classes "
                f"({shown}); label_nc {self.label_nc}")


def scan_label_values(files: Sequence[Path], num_threads: int = 2) -> LabelScan:
    """Read every label map in ``files`` and collect the class ids they hold.

    Unreadable maps are listed and skipped.

    Raises:
        ValueError: no map could be read, or a map holds a negative id.
    """
    def values(path: Path) -> set[int] | str:
        try:
            return set(torch.unique(read_ids(path)).tolist())
        except (OSError, ValueError) as exc:
            return str(exc)

    found: set[int] = set()
    failed: list[tuple[Path, str]] = []
    with ThreadPoolExecutor(num_threads, thread_name_prefix="img2img-scan") as pool:
        for path, result in zip(files, pool.map(values, files), strict=True):
            if isinstance(result, str):
                log.warning("skipping %s: %s", path, result)
                failed.append((path, result))
            else:
                found |= result
    if len(failed) == len(files):
        raise ValueError(f"--label-nc auto: none of the {len(files)} label maps could be read")
    if found and min(found) < 0:
        raise LabelValueError(f"--label-nc auto: the label maps hold negative ids ({min(found)})")
    return LabelScan(sorted(found), len(files) - len(failed), failed)


@dataclass(frozen=True)
class LabelMapFiles:
    """The files of one split of a label-map dataset (:func:`find_label_maps`).

    Attributes:
        root: the dataset folder.
        phase: the split.
        layout: which layout matched, e.g. ``"train_label + train_inst + train_img"``.
        items: one entry per example, with a file for each stream found.
        streams: the streams found, ``label`` first.
        unpaired: per stream, files left out for want of a partner.
        folders: the folder of each stream.
    """

    root: Path
    phase: str
    layout: str
    items: list[StreamFiles]
    streams: tuple[str, ...]
    unpaired: dict[str, list[Path]] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)


def _candidate_folders(root: Path, phase: str, names: Sequence[str]) -> list[tuple[str, Path]]:
    patterns = []
    for name in names:
        patterns += [(f"{phase}_{name}", root / f"{phase}_{name}"),
                     (f"{phase}/{name}", root / phase / name),
                     (f"{name}/{phase}", root / name / phase)]
    patterns += [(name, root / name) for name in names]
    return patterns


def _find_folder(root: Path, phase: str, names: Sequence[str], style: str | None
                 ) -> tuple[str, Path] | None:
    """The first folder of ``names`` that exists, in the pattern ``style`` when given."""
    for label, folder in _candidate_folders(root, phase, names):
        if folder.is_dir() and (style is None or _style(label, phase) == style):
            return label, folder
    return None


def _style(layout: str, phase: str) -> str:
    if layout.startswith(f"{phase}_"):
        return "reference"
    if layout.startswith(f"{phase}/"):
        return "phase/name"
    return "name/phase" if layout.endswith(f"/{phase}") else "flat"


def find_label_maps(
    root: str | os.PathLike[str],
    phase: str,
    *,
    instances: bool,
    images: bool,
    rgb_labels: bool = False,
) -> LabelMapFiles:
    """Find a split's label maps and pair them with instance maps and photos.

    Args:
        root: the dataset folder.
        phase: the split (``train``, ``test`` ...).
        instances: instance maps are required.
        images: photos (the training targets) are required.
        rgb_labels: the inputs are images (``label_nc`` 0): ``PHASE_A`` / ``PHASE_B`` are
            accepted besides the label-map names.

    Raises:
        DatasetLayoutError: no label folder, a required folder missing, or nothing pairs.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"dataset directory {root} does not exist", root, phase)
    wanted = {"label": True, "instance": instances, "image": images}
    names = {k: FOLDER_NAMES[k] + (RGB_FOLDER_NAMES.get(k, ()) if rgb_labels else ())
             for k in wanted}
    found_label = _find_folder(root, phase, names["label"], None)
    if found_label is None:
        expected = ", ".join(f"{root.name}/{p}" for p, _ in
                             _candidate_folders(root, phase, names["label"])[:4])
        raise DatasetLayoutError(
            f"no label maps for phase {phase!r} under {root}; expected a label folder such as "
            f"{expected} (and instance / photo folders next to it)", root, phase)
    style = _style(found_label[0], phase)
    folders = {"label": found_label}
    for stream in ("instance", "image"):
        hit = _find_folder(root, phase, names[stream], style)
        if hit is not None and wanted[stream]:
            folders[stream] = hit
        elif wanted[stream]:
            expected = [n for n, _ in _candidate_folders(root, phase, names[stream])
                        if _style(n, phase) == style]
            hint = " (or pass --no-instance)" if stream == "instance" else ""
            raise DatasetLayoutError(
                f"{root}: label maps found in {found_label[0]} but no {stream} folder next to "
                f"them; expected one of: {', '.join(expected)}{hint}", root, phase)
    return _pair(root, phase, folders)


def _index(folder: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in find_images(folder):
        key = pair_key(path.relative_to(folder).with_suffix("").as_posix())
        if key in index:
            log.warning("%s: %s and %s pair by the same name %r; using %s",
                        folder, index[key].name, path.name, key, index[key].name)
            continue
        index[key] = path
    return index


def _pair(root: Path, phase: str, folders: dict[str, tuple[str, Path]]) -> LabelMapFiles:
    indexes = {stream: _index(folder) for stream, (_, folder) in folders.items()}
    keys = set(indexes["label"])
    for index in indexes.values():
        keys &= set(index)
    layout = " + ".join(name for name, _ in folders.values())
    if not keys:
        counts = ", ".join(f"{name}: {len(indexes[s])} files" for s, (name, _) in folders.items())
        raise DatasetLayoutError(
            f"{root}: the folders of {layout} share no file names ({counts}); expected files "
            "with the same relative stem (Cityscapes suffixes such as _gtFine_labelIds are "
            "ignored)", root, phase)
    unpaired = {s: sorted(p for k, p in index.items() if k not in keys)
                for s, index in indexes.items()}
    for stream, files in unpaired.items():
        if files:
            log.warning("%s: %d %s file(s) have no partner and are left out (first: %s)",
                        folders[stream][1], len(files), stream,
                        ", ".join(p.name for p in files[:_SHOW]))
    items = [StreamFiles(k, {s: indexes[s][k] for s in folders}) for k in sorted(keys)]
    return LabelMapFiles(root, phase, layout, items, tuple(folders),
                         {s: f for s, f in unpaired.items() if f},
                         {s: folder for s, (_, folder) in folders.items()})


class LabelMapDataset(StreamDataset):
    """Label maps with their instance maps and photos, augmented alike.

    Samples hold ``"label"`` (int64 ``1 x H x W`` class ids, or a ``[-1, 1]`` image when
    ``label_nc`` is 0), ``"instance"`` (int64 ids, when used) and ``"image"`` (the photo in
    ``[-1, 1]``, when used), plus ``"key"`` (see :class:`StreamDataset`).
    A label map with an id outside ``0 .. label_nc - 1`` fails naming the file and the id;
    unreadable files are skipped like any others.

    Args:
        files: from :func:`find_label_maps`.
        label_nc: classes; 0 for image inputs.
        input_nc: channels of image inputs (``label_nc`` 0).
        output_nc: channels of the photos.
        transform: the resize / crop / flip shared by the streams.
        seed: base seed for integer keys.
    """

    def __init__(
        self, files: LabelMapFiles, label_nc: int, transform: StreamTransform, *,
        input_nc: int = 3, output_nc: int = 3, seed: int = 0,
    ) -> None:
        self.files = files
        self.label_nc = label_nc
        kinds = {
            "label": Stream("label", "label") if label_nc else Stream("label", "image", input_nc),
            "instance": Stream("instance", "instance"),
            "image": Stream("image", "image", output_nc),
        }
        super().__init__(files.items, [kinds[s] for s in files.streams], transform, seed=seed,
                         source=f"{files.root} [{files.phase}]", layout=files.layout,
                         unmatched=[p for paths in files.unpaired.values() for p in paths])
        log.info("%s [%s]: %d examples, layout %s", files.root, files.phase, len(files),
                 files.layout)

    def load(self, item: StreamFiles) -> dict[str, Tensor]:
        """Decode an example, checking its class ids."""
        decoded = super().load(item)
        if self.label_nc:
            check_label_values(decoded["label"], self.label_nc, item.files["label"])
        return decoded


def label_files(files: LabelMapFiles) -> list[Path]:
    """The label maps of a split, in example order."""
    return [item.files["label"] for item in files.items]


def label_palette(size: int = 256) -> Tensor:
    """``[size, 3]`` uint8 colours for class ids (the PASCAL VOC bit-interleaved palette)."""
    ids = torch.arange(size)
    colours = torch.zeros(size, 3, dtype=torch.int64)
    for bit in range(8):
        for channel in range(3):
            colours[:, channel] |= ((ids >> (3 * bit + channel)) & 1) << (7 - bit)
    return colours.to(torch.uint8)


def colourise(labels: Tensor) -> Tensor:
    """Class ids ``[N, 1, H, W]`` as colour pictures ``[N, 3, H, W]`` in ``[-1, 1]``."""
    palette = label_palette().to(labels.device).float() / 127.5 - 1.0
    return palette[labels[:, 0].long() % palette.shape[0]].permute(0, 3, 1, 2)
