"""check_dataset(): layouts found by each family's own discovery, every file checked."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from img2img import families
from img2img.data.dataset import StreamDataset, StreamFiles
from img2img.data.discover import find_images
from img2img.data.streams import Stream
from img2img.data.transforms import StreamTransform
from img2img.prep.check import check_dataset, check_run_data, value_ranges
from img2img.prep.detect import family_config
from tests.conftest import CITYSCAPES, tiny_pix2pix_config


def _save(path: Path, seed: int, size=(16, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def _pairs(root: Path, split: str, keys, seed: int = 0) -> None:
    for i, key in enumerate(keys):
        _save(root / split / "A" / f"{key}.png", seed + 2 * i)
        _save(root / split / "B" / f"{key}.png", seed + 2 * i + 1)


def test_a_clean_dataset_passes_with_a_summary(tmp_path: Path) -> None:
    _pairs(tmp_path, "train", ["a", "b", "c"])
    _pairs(tmp_path, "val", ["d"], seed=50)
    report = check_dataset(tmp_path, workers=2)
    assert report.ok and report.problems == [] and report.family == "pix2pix"
    assert [(s.split, s.layout, s.examples) for s in report.splits] == [
        ("train", "train/A + train/B", 3), ("val", "val/A + val/B", 1)]
    a = report.splits[0].streams[0]
    assert (a.name, a.kind, a.files) == ("A", "image", 3)
    assert a.formats == {"PNG RGB 8-bit": 3} and a.sizes == {(16, 16): 3}
    assert report.to_dict()["splits"][0]["streams"][1]["sizes"] == {"16x16": 3}


def test_problems_are_named_by_file(tmp_path: Path) -> None:
    _pairs(tmp_path, "train", ["ok", "corrupt", "truncated", "big"])
    _pairs(tmp_path, "val", ["copy"])
    (tmp_path / "train" / "A" / "corrupt.png").write_bytes(b"\x89PNG but not really")
    truncated = tmp_path / "train" / "B" / "truncated.png"
    truncated.write_bytes(truncated.read_bytes()[:60])  # the header survives, the pixels not
    _save(tmp_path / "train" / "B" / "big.png", 7, size=(16, 20))
    _save(tmp_path / "train" / "A" / "lonely.png", 8)
    for side in ("A", "B"):  # a val pair that is also in train
        (tmp_path / "val" / side / "copy.png").write_bytes(
            (tmp_path / "train" / side / "ok.png").read_bytes())

    def found(report) -> dict[str, str]:
        return {p.path.name: p.message for p in report.problems if p.path is not None}

    fast = check_dataset(tmp_path, "pix2pix", thorough=False)
    assert fast.ok and set(found(fast)) == {"corrupt.png", "big.png", "lonely.png"}
    assert "unreadable" in found(fast)["corrupt.png"]
    assert "A 16x16 (big.png), B 20x16 (big.png)" in found(fast)["big.png"]
    assert "no partner" in found(fast)["lonely.png"]

    full = check_dataset(tmp_path, "pix2pix", workers=2)
    problems = found(full)
    assert full.ok  # training skips and resizes: warnings only
    assert "cannot be decoded" in problems["truncated.png"]
    duplicates = [p for p in full.problems if "identical contents" in p.message]
    assert len(duplicates) == 2  # the A and the B file
    assert all("across splits train and val" in p.message for p in duplicates)
    assert full.splits[0].unreadable == 2 and full.splits[0].unmatched == 1
    assert not full.passed  # training would run, but two files cannot be read
    assert sorted(p.name for p in full.failed) == ["corrupt.png", "truncated.png"]
    assert full.file_counts() == ("10 files: 6 decoded, 2 cannot be decoded, 2 left unread "
                                  "with a partner that failed")
    assert fast.file_counts() == ("10 files: 8 read (headers only, --fast), 1 cannot be read, "
                                  "1 left unread with a partner that failed")


def test_nothing_readable_means_training_would_fail(tmp_path: Path) -> None:
    for side in ("A", "B"):
        (tmp_path / "train" / side).mkdir(parents=True)
        (tmp_path / "train" / side / "x.png").write_bytes(b"junk")
    report = check_dataset(tmp_path, thorough=False)
    assert not report.ok
    assert "none of the 1 examples can be read" in report.errors[0].message
    empty = check_dataset(tmp_path / "train" / "A" / "nothing")
    assert not empty.ok and "is not a folder" in empty.errors[0].message


def test_a_layout_without_splits_is_checked_once(tmp_path: Path) -> None:
    _pairs(tmp_path, "", ["1", "2"])
    report = check_dataset(tmp_path)
    assert [(s.split, s.layout, s.examples) for s in report.splits] == [("train", "A + B", 2)]
    assert report.splits[0].flat and report.to_dict()["splits"][0]["flat"]
    for phase in ("val", "test"):  # every split name reads these same files
        assert check_dataset(tmp_path, phases=[phase]).passed


def test_the_fast_check_of_a_run_reads_its_split(gray2color: Path) -> None:
    report = check_run_data(tiny_pix2pix_config(gray2color))
    assert report.ok and not report.thorough and [s.split for s in report.splits] == ["train"]
    assert report.splits[0].examples == 48 and not report.splits[0].flat


# --- a family with label maps plugs in through the registry -----------------------------------
@dataclass(frozen=True)
class LabelsConfig:
    label_nc: int = 0


class LabelsDescription:
    """``PHASE_label/`` + ``PHASE_img/`` paired by stem, as a label-map family would read them."""

    @classmethod
    def build_dataset(cls, config, phase=None):
        root, phase = Path(config.data.root), phase or config.data.phase
        labels = find_images(root / f"{phase}_label")
        images = {p.stem: p for p in find_images(root / f"{phase}_img")}
        items = [StreamFiles(p.stem, {"label": p, "image": images[p.stem]})
                 for p in labels if p.stem in images]
        return StreamDataset(
            items, (Stream("label", "label"), Stream("image", "image")), StreamTransform(),
            layout=f"{phase}_label + {phase}_img",
            unmatched=[p for p in labels if p.stem not in images],
        )


@pytest.fixture
def label_family(monkeypatch: pytest.MonkeyPatch) -> str:
    family = families.Family(
        name="labels_test", config=LabelsConfig, description=f"{__name__}:LabelsDescription",
        recipe=f"{__name__}:LabelsDescription", summary="label maps -> photos (test)",
    )
    monkeypatch.setitem(families.registry._FAMILIES, family.name, family)
    return family.name


@pytest.mark.skipif(not CITYSCAPES.is_dir(), reason=f"{CITYSCAPES} not present")
def test_label_values_are_checked_on_real_cityscapes_maps(label_family, tmp_path: Path) -> None:
    for key in ("aachen_000003_000019",):
        for kind, suffix in (("label", "gtFine_labelIds"), ("img", "leftImg8bit")):
            (tmp_path / f"train_{kind}").mkdir(exist_ok=True)
            os.symlink(CITYSCAPES / f"train_{kind}" / f"{key}_{suffix}.png",
                       tmp_path / f"train_{kind}" / f"{key}.png")
    ids = np.full((8, 8), 40, np.uint8)
    Image.fromarray(ids).save(tmp_path / "train_label" / "lossy.jpg", quality=90)
    _save(tmp_path / "train_img" / "lossy.png", 1, size=(8, 8))

    report = check_dataset(tmp_path, label_nc=34, phases=["train"])  # family detected
    assert report.family == "labels_test" and not report.ok
    values = report.splits[0].streams[0].label_values
    assert {0, 7, 26} <= values and max(values - {40, 41, 39, 38, 42}) <= 33
    errors = {p.path.name: p.message for p in report.errors}
    assert list(errors) == ["lossy.jpg"] and "outside 0..33 (--label-nc 34)" in errors["lossy.jpg"]
    assert any("stored as JPEG" in p.message for p in report.warnings)

    strict = check_dataset(tmp_path, "labels_test", label_nc=20, phases=["train"])
    assert {p.path.name for p in strict.errors} == {"lossy.jpg", "aachen_000003_000019.png"}
    assert family_config("labels_test", tmp_path, 20).model.label_nc == 20
    assert family_config("pix2pix", tmp_path, 20).model == families.get_family("pix2pix").config()


def test_value_ranges() -> None:
    assert value_ranges([5, 1, 2, 3, 9, 10]) == "1..3, 5, 9..10"
    assert value_ranges([]) == "-"


def test_a_family_whose_dataset_cannot_be_read_is_named(monkeypatch, tmp_path: Path) -> None:
    class Opaque:
        @classmethod
        def build_dataset(cls, config, phase=None):
            return object()

    monkeypatch.setitem(families.registry._FAMILIES, "opaque", families.Family(
        name="opaque", config=LabelsConfig, description=f"{__name__}:LabelsDescription",
        recipe=f"{__name__}:LabelsDescription", summary="test"))
    monkeypatch.setattr(families.Family, "description_class", lambda self: Opaque)
    with pytest.raises(TypeError, match="'opaque': its dataset .object. lacks streams, items"):
        check_dataset(tmp_path, "opaque")
