"""Side-by-side AB images: the single-file layout pix2pix datasets ship in."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from img2img.data.discover import KNOWN_PHASES, DatasetLayoutError, Pair, find_pairs
from img2img.data.io import ImageReadError, read_image, write_image

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


def write_ab(path: str | os.PathLike[str], a: Source, b: Source, quality: int = 95) -> Path:
    """Write A and B side by side to ``path`` (atomically; format from the extension).

    ``a`` and ``b`` may be images (see :func:`combine_pair`) or image files, read as RGB.
    Mixed kinds are brought to float ``[0, 1]`` first.
    """
    a_img, b_img = _load(a), _load(b)
    same_kind = type(a_img) is type(b_img) and a_img.dtype == b_img.dtype
    if not same_kind:
        a_img, b_img = _as_float_chw(a_img), _as_float_chw(b_img)
    return write_image(path, combine_pair(a_img, b_img), quality=quality)


#: where a layout without phase folders (``A/`` + ``B/``) is combined: it has no splits
FLAT_PHASE = "train"


@dataclass
class CombineReport:
    """What :func:`combine_folders` did.

    Attributes:
        written: number of AB files written per output phase.
        failed: ``(file, reason)`` for pairs that could not be read or written.
        layouts: the layout found per output phase.
        notes: remarks on how the input was read, e.g. a layout without phase folders.
    """

    written: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    layouts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def combine_folders(
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    phases: Sequence[str] = KNOWN_PHASES,
    ext: str = ".jpg",
    quality: int = 95,
) -> CombineReport:
    """Turn a two-folder paired dataset into ``out_dir/<phase>/<key><ext>`` AB images.

    Any two-folder layout :func:`~img2img.data.discover.find_pairs` accepts works; phases that
    are absent are skipped, and a pair that fails is recorded and does not stop the others. A
    layout without phase folders (``root/A`` + ``root/B``) has no splits: its pairs are combined
    once, into ``out_dir/train``, and a note says so.

    Raises:
        DatasetLayoutError: none of ``phases`` holds A/B pairs under ``root``.
    """
    root, out_dir = Path(root), Path(out_dir)
    report = CombineReport()
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
            note = (
                f"{root}: layout {files.layout!r} has no phase folders, so its "
                f"{len(files.pairs)} pairs were combined once into {out_dir / target}"
            )
            report.notes.append(note)
            log.info(note)
        report.layouts[target] = files.layout
        report.written[target] = _combine_pairs(files.pairs, out_dir / target, ext, quality, report)
        if files.flat:
            break
    if not report.layouts:
        raise DatasetLayoutError(
            f"no A/B pairs to combine under {root} for phases {', '.join(phases)}: "
            + " | ".join(errors),
            root,
            ",".join(phases),
        )
    return report


def _combine_pairs(
    pairs: Sequence[Pair], out_dir: Path, ext: str, quality: int, report: CombineReport
) -> int:
    """Write each pair as ``out_dir/<key><ext>``; failures go to ``report``. Returns the count."""
    count = 0
    for pair in pairs:
        assert pair.b is not None
        try:
            write_ab(out_dir / f"{pair.key}{ext}", pair.a, pair.b, quality=quality)
        except (ImageReadError, ValueError, OSError) as exc:
            report.failed.append((pair.a, str(exc)))
            log.warning("%s: not combined: %s", pair.a, exc)
            continue
        count += 1
    return count


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
