"""Side-by-side files must look like A|B pairs: one size, about twice as wide as high."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from img2img.prep.check import check_dataset
from img2img.prep.side_by_side import not_pairs_problem
from tests.conftest import _photos


def _photo_folder(root: Path) -> Path:
    """Ordinary photographs of different sizes (none of them A|B pairs), straight in root."""
    root.mkdir(parents=True)
    for i, photo in enumerate(_photos()):
        image = Image.fromarray(photo)
        image.resize((image.width // 8, image.height // 8)).save(root / f"photo{i}.jpg")
    return root


def _pairs(root: Path, sizes: list[tuple[int, int]]) -> Path:
    """Side-by-side files of these (width, height) sizes in root/train."""
    for i, (w, h) in enumerate(sizes):
        path = root / "train" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(i)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return root


def test_ordinary_photos_are_not_pairs(tmp_path: Path) -> None:
    report = check_dataset(_photo_folder(tmp_path / "photos"), thorough=False)
    assert report.family == "pix2pix" and not report.ok
    (error,) = report.errors
    assert error.split == ""  # the folder has no split folders: none is named
    assert "these 4 files do not look like side-by-side A|B pairs" in error.message
    assert "their sizes vary (4 sizes, 56x37 .. 80x53;" in error.message
    assert "4 of 4 are not about twice as wide as high (width/height 1.00 .. 1.51" in error.message
    assert "--trust-side-by-side" in error.message and "A/ and B/ folders" in error.message

    trusted = check_dataset(tmp_path / "photos", thorough=False, trust_side_by_side=True)
    assert trusted.ok
    assert any("read as A|B pairs all the same" in p.message for p in trusted.warnings)


def test_one_size_apart_is_reported_and_uniform_pairs_pass(tmp_path: Path) -> None:
    report = check_dataset(_pairs(tmp_path, [(64, 32)] * 3 + [(70, 32)]), thorough=False)
    assert any("sizes vary (2 sizes" in p.message for p in report.errors)
    assert not_pairs_problem({Path(f"{i}.png"): (512, 256) for i in range(3)}) is None
    assert not_pairs_problem({Path("a.png"): (600, 256)}) is None  # 2.34: halves of 1.17
    assert not_pairs_problem({}) is None


def test_one_size_far_from_two_to_one_is_not_pairs(tmp_path: Path) -> None:
    report = check_dataset(_pairs(tmp_path, [(48, 36)] * 2), thorough=False)  # 4:3 photos
    (error,) = report.errors
    assert error.split == "train" and error.path == tmp_path / "train" / "0.png"
    assert "sizes vary" not in error.message
    assert "2 of 2 are not about twice as wide as high (width/height 1.33, expected 1.6 .. 2.5: " \
        "0.png 48x36, 1.png 48x36)" in error.message
