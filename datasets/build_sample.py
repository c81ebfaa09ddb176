"""Rebuild the bundled samples from public-domain and CC0 photographs shipped with scikit-image.

Each example is a random square crop of a photo (several scales, random mirror), resized to a
square, saved as a side-by-side JPEG: A on the left is made from the crop, B on the right is the
crop itself. Two samples are built:

- ``edges2photos_mini``: 256 x 256, A is the crop's Canny edge map (edges -> photo).
- ``colorize_mini``: 128 x 128, A is the crop in gray (BT.601 luma; gray -> colour).

Every photo is split into disjoint regions: the left 66 % feeds ``train``, the right 34 % is held
out, its top half for ``test`` and its bottom half for ``val``. The output is a pure function of
the seed.

Usage::

    python datasets/build_sample.py                          # rewrites both under datasets/
    python datasets/build_sample.py --sample colorize_mini   # just one
    python datasets/build_sample.py --root /tmp/samples --seed 1

Needs scikit-image (in the ``dev`` extras).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from img2img.data.io import LUMA_WEIGHTS
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


def gray_from_photo(photo: np.ndarray) -> np.ndarray:
    """The ``H x W`` uint8 BT.601 luma of an RGB uint8 photo (what ``--input-nc 1`` sees)."""
    luma = photo.astype(np.float32) @ np.asarray(LUMA_WEIGHTS, np.float32)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Sample:
    """One bundled dataset: where it goes, how many examples, their size and how A is made.

    Attributes:
        name: folder name under ``datasets/``.
        make_a: ``H x W x 3`` uint8 crop -> the A side (uint8, gray or RGB).
        counts: examples per split.
        size: side of A and of B in pixels.
        min_crop: never crop fewer pixels than this from the photo (less upsampling blur).
        seed: default seed of the random crops.
        sources: the ``skimage.data`` names of the photos it is cut from, used in turn.
    """

    name: str
    make_a: Callable[[np.ndarray], np.ndarray]
    counts: Mapping[str, int]
    size: int
    min_crop: int
    seed: int
    sources: tuple[str, ...]


SOURCES: tuple[Source, ...] = (
    Source("astronaut", "Astronaut Eileen Collins", "NASA", "public domain"),
    Source("chelsea", "Chelsea the cat", "Stefan van der Walt", "CC0"),
    Source("coffee", "Coffee cup", "Rachel Michetti", "CC0"),
    Source("rocket", "Launch of DSCOVR on Falcon 9", "SpaceX", "public domain"),
    Source("hubble_deep_field", "Hubble eXtreme Deep Field", "NASA", "public domain"),
    Source("retina", "Fundus photograph of normal left eye", "Mikael Häggström", "CC0 1.0"),
)
EDGES2PHOTOS = Sample(
    "edges2photos_mini", edges_from_photo, {"train": 80, "val": 10, "test": 12},
    size=256, min_crop=96, seed=2024, sources=tuple(source.name for source in SOURCES),
)  # fmt: skip
COLORIZE = Sample(
    "colorize_mini", gray_from_photo, {"train": 168, "val": 12, "test": 12},
    size=128, min_crop=64, seed=2025, sources=("coffee", "rocket", "retina"),
)  # fmt: skip
SAMPLES: Mapping[str, Sample] = {sample.name: sample for sample in (EDGES2PHOTOS, COLORIZE)}
HELD_OUT = 0.34  # right-hand share of each photo kept out of train
MIN_SCALE = 0.4  # smallest crop side, as a share of the region's shorter side
QUALITY = 90
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
    photo: np.ndarray,
    box: tuple[int, int, int, int],
    rng: np.random.Generator,
    size: int = EDGES2PHOTOS.size,
    min_crop: int = EDGES2PHOTOS.min_crop,
) -> np.ndarray:
    """A random square crop inside ``box`` at a random scale, maybe mirrored, at size x size."""
    top, left, bottom, right = box
    short = min(bottom - top, right - left)
    for _ in range(_TRIES):
        side = max(min(min_crop, short), int(rng.uniform(MIN_SCALE, 1.0) * short))
        y = int(rng.integers(top, bottom - side + 1))
        x = int(rng.integers(left, right - side + 1))
        crop = photo[y : y + side, x : x + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if crop.std() >= _MIN_STD:
            break
    resized = Image.fromarray(np.ascontiguousarray(crop)).resize(
        (size, size), Image.Resampling.LANCZOS
    )
    return np.asarray(resized)


def load_photo(source: Source) -> np.ndarray:
    """The source photo as ``H x W x 3`` uint8."""
    import skimage.data

    photo = getattr(skimage.data, source.name)()
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"skimage.data.{source.name}: expected an RGB uint8 image")
    return photo


def build(
    out: Path,
    counts: Mapping[str, int] | None = None,
    seed: int | None = None,
    sample: Sample = EDGES2PHOTOS,
) -> dict[str, list[Path]]:
    """Write ``sample`` under ``out/<split>/``, replacing the JPEGs already there.

    Args:
        out: the dataset folder.
        counts: examples per split (default: the sample's own).
        seed: seed of the random crops (default: the sample's own).
        sample: which dataset to build.

    Returns:
        The written files per split.
    """
    counts = sample.counts if counts is None else counts
    seed = sample.seed if seed is None else seed
    by_name = {source.name: source for source in SOURCES}
    photos = {name: load_photo(by_name[name]) for name in sample.sources}
    written: dict[str, list[Path]] = {}
    for split_index, (split, count) in enumerate(counts.items()):
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.jpg"):
            old.unlink()
        written[split] = []
        for i in range(count):
            source = sample.sources[i % len(sample.sources)]
            photo = photos[source]
            rng = np.random.default_rng([seed, split_index, i])
            box = split_region(split, *photo.shape[:2])
            crop = random_crop(photo, box, rng, sample.size, sample.min_crop)
            path = folder / f"{source}_{i:03d}.jpg"
            write_ab(path, sample.make_a(crop), crop, quality=QUALITY)
            written[split].append(path)
        log.info("%s: %d images", folder, count)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sample", choices=sorted(SAMPLES), action="append",
        help="dataset to build (repeatable; default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--root", type=Path, default=Path(__file__).resolve().parent,
        help="each sample is written to ROOT/<sample> (default: this folder)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, help="seed of the random crops (default: per sample)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in args.sample or SAMPLES:
        written = build(args.root / name, seed=args.seed, sample=SAMPLES[name])
        total = sum(p.stat().st_size for paths in written.values() for p in paths)
        log.info("%s: %d files, %.2f MB", name, sum(map(len, written.values())), total / 2**20)


if __name__ == "__main__":
    main()
