"""Do side-by-side files look like A|B pairs, or like ordinary single images?

A folder of images directly under the dataset folder (or under ``train/``) is read as A|B
pairs, each file cut down the middle. Pairs made by one tool share one size, and their two
halves are about square, so the file is about twice as wide as it is high (facades,
edges2shoes, maps, Cityscapes: exactly 2). A folder of photos of several sizes, or of
ordinary 4:3 or 3:2 photos, is almost surely not pairs; training on it would teach a model
to turn the left half of each photo into its right half.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

#: width / height of a file whose two halves are within 5:4 of square
PAIR_RATIO = (1.6, 2.5)
_SHOW = 3  # files named as examples


def not_pairs_problem(sizes: Mapping[Path, tuple[int, int]]) -> tuple[str, Path] | None:
    """Why the side-by-side files with these ``(width, height)`` sizes do not look like A|B
    pairs, and the file to name; None when they do (or there are none). :func:`describe`
    makes the message.

    They do not when their sizes vary, or when a file's width / height lies outside
    :data:`PAIR_RATIO`.
    """
    if not sizes:
        return None
    reasons: list[str] = []
    first: Path | None = None
    distinct = sorted(set(sizes.values()), key=lambda wh: (wh[0] * wh[1], wh))
    if len(distinct) > 1:
        low, high = distinct[0], distinct[-1]
        reasons.append(f"their sizes vary ({len(distinct)} sizes, {low[0]}x{low[1]} .. "
                       f"{high[0]}x{high[1]}; pairs made by one tool share one size)")
        first = next(p for p, wh in sizes.items() if wh == high)
    low_ratio, high_ratio = PAIR_RATIO
    ratios_of = {p: w / max(h, 1) for p, (w, h) in sizes.items()}
    off = {p: r for p, r in ratios_of.items() if not low_ratio <= r <= high_ratio}
    if off:
        ratios = sorted(off.values())
        shown = ", ".join(f"{p.name} {sizes[p][0]}x{sizes[p][1]}" for p in list(off)[:_SHOW])
        reasons.append(
            f"{len(off)} of {len(sizes)} are not about twice as wide as high (width/height "
            f"{ratios[0]:.2f}" + (f" .. {ratios[-1]:.2f}" if ratios[-1] != ratios[0] else "")
            + f", expected {low_ratio:g} .. {high_ratio:g}: {shown})"
        )
        first = first or next(iter(off))
    if not reasons:
        return None
    assert first is not None
    return f"these {len(sizes)} files do not look like side-by-side A|B pairs: " + "; ".join(
        reasons), first


def describe(reason: str, trusted: bool) -> str:
    """The message for :func:`not_pairs_problem`'s ``reason``: what to do about it, or that
    ``--trust-side-by-side`` accepted it."""
    if trusted:
        return f"{reason}; read as A|B pairs all the same (--trust-side-by-side)"
    return (f"{reason}. Each would be cut down the middle into A (left half) and B (right "
            "half). Put single images in A/ and B/ folders, paired by file name (or trainA/ "
            "and trainB/ for unpaired data), or pass --trust-side-by-side if they are A|B pairs")
