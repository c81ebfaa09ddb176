"""Rebuild ``datasets/edges2photos_mini`` from public-domain photographs shipped with scikit-image.

Each example is a random square crop of a photo (several scales, random mirror), resized to
256 x 256, with its Canny edge map on the left (A) and the photo on the right (B), saved as a
side-by-side JPEG. Every photo is split into disjoint regions: the left 66 % feeds ``train``, the
right 34 % is held out, its top half for ``test`` and its bottom half for ``val``. The output is a
pure function of the seed.

Usage::

    python datasets/build_sample.py                 # rewrites datasets/edges2photos_mini
    python datasets/build_sample.py --out /tmp/mini --seed 1

Needs scikit-image (in the ``dev`` extras).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from img2img.prep.combine import write_ab
from img2img.prep.edges import edges_from_photo

log = logging.getLogger("build_sample")


@dataclass(frozen=True)
class Source:
    """A photograph from ``skimage.data`` and its provenance."""

    name: str  # the skimage.data function
    title: str
    author: str
    licence: str


SOURCES: tuple[Source, ...] = (
    Source("astronaut", "Astronaut Eileen Collins", "NASA", "public domain"),
    Source("chelsea", "Chelsea the cat", "Stefan van der Walt", "CC0"),
    Source("coffee", "Coffee cup", "Rachel Michetti", "CC0"),
    Source("rocket", "Launch of DSCOVR on Falcon 9", "SpaceX", "public domain"),
    Source("hubble_deep_field", "Hubble eXtreme Deep Field", "NASA", "public domain"),
    Source("retina", "Fundus photograph of normal left eye", "Mikael Häggström", "CC0 1.0"),
)
COUNTS: Mapping[str, int] = {"train": 80, "val": 10, "test": 12}
SIZE = 256  # side of A and of B
HELD_OUT = 0.34  # right-hand share of each photo kept out of train
MIN_SCALE = 0.4  # smallest crop side, as a share of the region's shorter side
MIN_CROP = 96  # never crop fewer pixels than this (less upsampling blur)
QUALITY = 90
SEED = 2024
_MIN_STD = 12.0  # reject nearly flat crops (the black surround of retina / deep field)
_TRIES = 20


def split_region(split: str, height: int, width: int) -> tuple[int, int, int, int]:
    """The ``(top, left, bottom, right)`` box of a photo that ``split`` may crop from."""
    cut = round(width * (1.0 - HELD_OUT))
    middle = height // 2
    boxes = {
        "train": (0, 0, height, cut),
        "test": (0, cut, middle, width),
        "val": (middle, cut, height, width),
    }
    if split not in boxes:
        raise ValueError(f"split: {split!r} is not valid; expected one of: {', '.join(boxes)}")
    return boxes[split]


def random_crop(
    photo: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator
) -> np.ndarray:
    """A random square crop inside ``box`` at a random scale, maybe mirrored, at SIZE x SIZE."""
    top, left, bottom, right = box
    short = min(bottom - top, right - left)
    for _ in range(_TRIES):
        side = max(min(MIN_CROP, short), int(rng.uniform(MIN_SCALE, 1.0) * short))
        y = int(rng.integers(top, bottom - side + 1))
        x = int(rng.integers(left, right - side + 1))
        crop = photo[y : y + side, x : x + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if crop.std() >= _MIN_STD:
            break
    resized = Image.fromarray(np.ascontiguousarray(crop)).resize(
        (SIZE, SIZE), Image.Resampling.LANCZOS
    )
    return np.asarray(resized)


def load_photo(source: Source) -> np.ndarray:
    """The source photo as ``H x W x 3`` uint8."""
    import skimage.data

    photo = getattr(skimage.data, source.name)()
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"skimage.data.{source.name}: expected an RGB uint8 image")
    return photo


def build(out: Path, counts: Mapping[str, int] = COUNTS, seed: int = SEED) -> dict[str, list[Path]]:
    """Write the dataset under ``out/<split>/``, replacing the JPEGs already there."""
    photos = {source.name: load_photo(source) for source in SOURCES}
    written: dict[str, list[Path]] = {}
    for split_index, (split, count) in enumerate(counts.items()):
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.jpg"):
            old.unlink()
        written[split] = []
        for i in range(count):
            source = SOURCES[i % len(SOURCES)]
            photo = photos[source.name]
            rng = np.random.default_rng([seed, split_index, i])
            crop = random_crop(photo, split_region(split, *photo.shape[:2]), rng)
            path = folder / f"{source.name}_{i:03d}.jpg"
            write_ab(path, edges_from_photo(crop), crop, quality=QUALITY)
            written[split].append(path)
        log.info("%s: %d images", folder, count)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "edges2photos_mini"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    written = build(args.out, seed=args.seed)
    total = sum(p.stat().st_size for paths in written.values() for p in paths)
    log.info("%d files, %.2f MB", sum(map(len, written.values())), total / 2**20)


if __name__ == "__main__":
    main()
