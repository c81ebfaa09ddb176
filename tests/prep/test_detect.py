"""The layout of a dataset is detected from all of its splits, whatever --phase names."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from img2img.data.splits import split_names
from img2img.prep.check import check_dataset
from tests.conftest import synthetic_cityscapes


def _save(path: Path, seed: int, size: tuple[int, int] = (16, 16)) -> None:
    """A random RGB image of ``size`` (height, width)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)


def _aligned(root: Path) -> None:
    for split, count in (("train", 3), ("test", 2)):
        for i in range(count):
            _save(root / split / f"{i}.png", i, size=(16, 32))


def _separate(root: Path) -> None:
    for split, count in (("train", 3), ("test", 2)):
        for i in range(count):
            for side in ("A", "B"):
                _save(root / side / split / f"{i}.png", i + ord(side))


def _unpaired(root: Path) -> None:
    """CycleGAN's layout; the train names are unrelated, but two test files share a name (as
    numbered files often do), which once made the test split look like pix2pix pairs."""
    names = {"trainA": ["h1", "h2", "h3"], "trainB": ["z1", "z2"],
             "testA": ["0001", "0002"], "testB": ["0001", "0003"]}
    for n, (folder, stem) in enumerate((f, s) for f, stems in names.items() for s in stems):
        _save(root / folder / f"{stem}.png", n)


def _label_maps(root: Path) -> None:
    synthetic_cityscapes(root, train_count=2, test_count=1)
    (root / "test_img").mkdir()
    shutil.copy(next((root / "train_img").iterdir()),
                root / "test_img" / "synth_000000_leftImg8bit.png")


LAYOUTS: dict[str, tuple[Callable[[Path], None], str | None, str, list[tuple[str, str, int]]]] = {
    # name: (make it, --family, family found, [(split, layout, examples)])
    "aligned A|B": (_aligned, None, "pix2pix",
                    [("train", "train/* (A|B side by side)", 3),
                     ("test", "test/* (A|B side by side)", 2)]),
    "separate A/B folders": (_separate, None, "pix2pix",
                             [("train", "A/train + B/train", 3), ("test", "A/test + B/test", 2)]),
    "unpaired": (_unpaired, None, "cyclegan",
                 [("train", "trainA + trainB", 5), ("test", "testA + testB", 4)]),
    "pix2pixHD label/inst/img": (_label_maps, None, "pix2pixhd",
                                 [("train", "train_label + train_inst + train_img", 2),
                                  ("test", "test_label + test_inst + test_img", 1)]),
    "CUT (unpaired)": (_unpaired, "cut", "cut",
                       [("train", "trainA + trainB", 5), ("test", "testA + testB", 4)]),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_split_is_listed_whatever_phase_says(layout: str, tmp_path: Path) -> None:
    make, family, expected_family, expected_splits = LAYOUTS[layout]
    make(tmp_path)
    for phases in (None, ["train"], ["test"]):
        report = check_dataset(tmp_path, family, phases=phases, thorough=False)
        assert report.family == expected_family, (phases, report.problems)
        assert [(s.split, s.layout, s.examples) for s in report.splits] == expected_splits
        assert [s.checked for s in report.splits] == [
            phases is None or s.split in phases for s in report.splits]
        assert report.passed, (phases, report.problems)
    if expected_family == "cyclegan":
        assert report.also_readable_by == ["cut"]  # and not pix2pix: train is not paired


def test_the_unpaired_test_split_is_not_read_as_pairs(tmp_path: Path) -> None:
    _unpaired(tmp_path)
    report = check_dataset(tmp_path)
    assert report.family == "cyclegan" and "pix2pix" not in report.also_readable_by
    assert report.problems == []  # nothing about test files without a partner


def test_a_split_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    _unpaired(tmp_path)
    report = check_dataset(tmp_path, phases=["val"], thorough=False)
    assert not report.ok and report.family == "cyclegan"
    assert "--phase val:" in report.errors[0].message
    assert "has no 'val' split" in report.errors[0].message
    assert "(it has: train, test)" in report.errors[0].message
    assert [s.checked for s in report.splits] == [False, False]


def test_split_names_come_from_the_folders(tmp_path: Path) -> None:
    for folder in ("trainA", "trainB", "trial_B", "extra", "test_label", "A/holdout", ".hidden"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "notes.txt").write_text("not a folder")
    assert split_names(tmp_path) == ["train", "val", "test", "extra", "holdout", "trial"]


def test_a_few_shared_names_do_not_make_unpaired_folders_paired(tmp_path: Path) -> None:
    for n, folder in enumerate(("trainA", "trainB", "testA", "testB")):
        stems = ["shared"] + [f"{folder}_{i}" for i in range(3)]  # one name in common
        for i, stem in enumerate(stems):
            _save(tmp_path / folder / f"{stem}.png", 10 * n + i)
    report = check_dataset(tmp_path, thorough=False)
    assert report.family == "cyclegan" and report.also_readable_by == ["cut"]


def test_paired_data_with_a_poorly_paired_split_stays_paired(tmp_path: Path) -> None:
    for i in range(6):
        for side in ("A", "B"):
            _save(tmp_path / "train" / side / f"{i}.png", 2 * i + (side == "B"))
    _save(tmp_path / "test" / "A" / "0.png", 20)
    _save(tmp_path / "test" / "B" / "0.png", 21)
    for i in range(1, 4):  # most test files lack a partner
        _save(tmp_path / "test" / "A" / f"a{i}.png", 30 + i)
        _save(tmp_path / "test" / "B" / f"b{i}.png", 40 + i)
    report = check_dataset(tmp_path, thorough=False)
    assert report.family == "pix2pix"
    assert [(s.split, s.examples, s.unmatched) for s in report.splits] == [
        ("train", 6, 0), ("test", 1, 6)]
