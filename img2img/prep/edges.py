"""Edge maps from photographs, drawn black on white like the edges2shoes/edges2handbags sets."""

from __future__ import annotations

import functools
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from img2img.data.discover import find_images
from img2img.data.io import read_image, to_uint8
from img2img.prep.combine import write_ab
from img2img.prep.parallel import ProgressFn, run_jobs
from img2img.prep.report import PrepReport, needs_writing

log = logging.getLogger(__name__)


def edges_from_photo(
    image: np.ndarray,
    low: float = 2.0,
    high: float = 5.0,
    blur: float = 1.0,
    min_threshold: float = 20.0,
) -> np.ndarray:
    """Canny edges of a photo, black (0) lines on white (255).

    The photo is turned to gray (BT.601) and blurred lightly with a Gaussian of ``blur`` pixels.
    Canny's hysteresis thresholds are ``low`` and ``high`` times the median Sobel gradient
    magnitude of that image, so the edge density adapts to the photo's contrast and texture
    (bright and dark photos alike); ``min_threshold`` (and twice it for the high threshold) keeps
    flat images from turning noise into edges.

    Args:
        image: ``H x W x 3`` RGB (or ``H x W x 4`` RGBA, or ``H x W`` gray) uint8 array.
        low: low threshold as a multiple of the median gradient magnitude.
        high: high threshold as a multiple of the median gradient magnitude.
        blur: Gaussian standard deviation in pixels; 0 disables blurring.
        min_threshold: smallest low threshold, in Sobel gradient units.

    Returns:
        ``H x W`` uint8 array with values 0 (edge) and 255 (background).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"edges_from_photo: expected a uint8 image, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] in (3, 4):
        gray = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    elif image.ndim == 2:
        gray = np.ascontiguousarray(image)
    else:
        raise ValueError(
            f"edges_from_photo: expected H x W x 3 (RGB), H x W x 4 or H x W, got {image.shape}"
        )
    if not 0.0 < low < high:
        raise ValueError(f"low {low!r} / high {high!r}: expected 0 < low < high")
    if blur > 0:
        gray = cv2.GaussianBlur(gray, (0, 0), sigmaX=blur, sigmaY=blur)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    median = float(np.median(cv2.magnitude(gx, gy)))
    low_t = max(min_threshold, low * median)
    high_t = max(2.0 * min_threshold, high * median)
    edges = cv2.Canny(gray, low_t, high_t, L2gradient=True)
    return np.subtract(255, edges, dtype=np.uint8)


def thicken(edges: np.ndarray, thickness: int) -> np.ndarray:
    """Grow the black lines of an edge map to about ``thickness`` pixels (1 keeps them).

    Raises:
        ValueError: ``thickness`` is below 1.
    """
    if thickness < 1:
        raise ValueError(f"--thickness: {thickness} is not valid; expected a number >= 1")
    if thickness == 1:
        return edges
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (thickness, thickness))
    return cv2.erode(edges, kernel)  # the white background shrinks, the black lines grow


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """Scale ``image`` so its shorter side is ``size``, then cut the centred ``size x size``.

    Shrinking uses area averaging (no aliasing), enlarging bicubic interpolation.
    """
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    if (new_h, new_w) != (height, width):
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        image = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.ascontiguousarray(image[top : top + size, left : left + size])


@dataclass(frozen=True)
class EdgeOptions:
    """How :func:`edges_dataset` draws its edge maps (see :func:`edges_from_photo`).

    Attributes:
        low: Canny low threshold, as a multiple of the median gradient magnitude.
        high: Canny high threshold, likewise.
        blur: Gaussian blur in pixels before edge detection (0: none).
        thickness: line thickness in pixels.
        size: photos are scaled and centre-cropped to ``size x size``; None keeps their size.
    """

    low: float = 2.0
    high: float = 5.0
    blur: float = 1.0
    thickness: int = 1
    size: int | None = 256

    def __post_init__(self) -> None:
        if not 0.0 < self.low < self.high:
            raise ValueError(
                f"--low {self.low} / --high {self.high}: expected 0 < low < high"
            )
        if self.blur < 0:
            raise ValueError(f"--blur: {self.blur} is not valid; expected a number >= 0")
        if self.thickness < 1:
            raise ValueError(f"--thickness: {self.thickness} is not valid; expected >= 1")
        if self.size is not None and self.size < 8:
            raise ValueError(f"--size: {self.size} is not valid; expected a number >= 8")

    def draw(self, photo: np.ndarray) -> np.ndarray:
        """The ``H x W`` uint8 edge map of an ``H x W x 3`` uint8 photo, black on white."""
        edges = edges_from_photo(photo, low=self.low, high=self.high, blur=self.blur)
        return thicken(edges, self.thickness)


@dataclass(frozen=True)
class _EdgeJob:
    source: Path
    split: str
    output: Path


def train_count(total: int, split: float) -> int:
    """How many of ``total`` photos go to ``train`` for a train fraction of ``split``.

    At least one photo goes to each side when there are two or more and ``split`` < 1.

    Raises:
        ValueError: ``split`` is not in (0, 1].
    """
    if not 0.0 < split <= 1.0:
        raise ValueError(f"--split: {split} is not valid; expected a train fraction in (0, 1]")
    count = round(total * split)
    if split < 1.0 and total >= 2:
        count = min(count, total - 1)
    return max(count, min(total, 1))


def edges_dataset(
    photos_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    options: EdgeOptions | None = None,
    split: float = 0.9,
    seed: int = 0,
    ext: str = ".jpg",
    quality: int = 95,
    overwrite: bool = False,
    workers: int = 1,
    progress: ProgressFn | None = None,
) -> PrepReport:
    """Build an edges -> photo pix2pix dataset from a folder of photos.

    Every photo (searched recursively) becomes ``out_dir/<train|val>/<key><ext>``: its edge
    map (A, black lines on white, as in edges2shoes) beside the photo (B), both scaled and
    centre-cropped to ``options.size``. A seeded shuffle sends ``split`` of the photos to
    ``train`` and the rest to ``val``; the same folder, split and seed always give the same
    assignment.

    Raises:
        NotADirectoryError: ``photos_dir`` is not a folder.
        ValueError: no images in it, or a bad option.
    """
    photos_dir, out_dir = Path(photos_dir), Path(out_dir)
    options = options or EdgeOptions()
    photos = find_images(photos_dir)
    if not photos:
        raise ValueError(f"{photos_dir}: no images found; expected a folder of photos")
    order = list(range(len(photos)))
    random.Random(seed).shuffle(order)
    in_train = set(order[: train_count(len(photos), split)])
    jobs = []
    for i, photo in enumerate(photos):
        phase = "train" if i in in_train else "val"
        key = photo.relative_to(photos_dir).with_suffix("").as_posix()
        jobs.append(_EdgeJob(photo, phase, out_dir / phase / f"{key}{ext}"))
    report = PrepReport()
    report.note(
        f"{len(photos)} photos: {len(in_train)} to train, {len(photos) - len(in_train)} to val "
        f"(split {split}, seed {seed})",
        log,
    )
    work = functools.partial(_edges_one, options=options, quality=quality, overwrite=overwrite)
    for outcome in run_jobs(work, jobs, workers=workers, progress=progress):
        report.record(outcome)
    return report


def _edges_one(job: _EdgeJob, options: EdgeOptions, quality: int, overwrite: bool) -> bool:
    if not needs_writing(job.output, overwrite):
        return False
    photo = to_uint8(read_image(job.source, channels=3))
    if options.size is not None:
        photo = fit_square(photo, options.size)
    write_ab(job.output, options.draw(photo), photo, quality=quality)
    return True
