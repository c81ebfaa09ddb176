"""Label-map datasets: layouts and pairing, one-hot encoding, class-id checks and scans."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.data.discover import DatasetLayoutError
from img2img.data.labelmaps import (
    LabelMapDataset,
    LabelValueError,
    colourise,
    find_label_maps,
    label_files,
    one_hot,
    pair_key,
    scan_label_values,
)
from img2img.data.transforms import StreamTransform


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _example(root: Path, folders: dict[str, str], stem: str, value: int = 2) -> None:
    labels = np.full((8, 16), value, np.uint8)
    instances = np.full((8, 16), 26001, np.uint16)
    photo = np.zeros((8, 16, 3), np.uint8)
    _save(root / folders["label"] / f"{stem}_gtFine_labelIds.png", labels)
    if "instance" in folders:
        _save(root / folders["instance"] / f"{stem}_gtFine_instanceIds.png", instances)
    if "image" in folders:
        _save(root / folders["image"] / f"{stem}_leftImg8bit.png", photo)


def test_pair_key_ignores_cityscapes_suffixes() -> None:
    assert pair_key("aachen_000000_000019_leftImg8bit") == "aachen_000000_000019"
    assert pair_key("a/b_gtFine_instanceIds") == "a/b"
    assert pair_key("plain_name") == "plain_name"


@pytest.mark.parametrize(
    ("folders", "layout"),
    [
        ({"label": "train_label", "instance": "train_inst", "image": "train_img"},
         "train_label + train_inst + train_img"),
        ({"label": "train/labels", "instance": "train/instances", "image": "train/images"},
         "train/labels + train/instances + train/images"),
        ({"label": "label/train", "instance": "inst/train", "image": "img/train"},
         "label/train + inst/train + img/train"),
        ({"label": "label", "instance": "inst", "image": "image"}, "label + inst + image"),
    ],
)
def test_layouts_pair_by_stem(tmp_path: Path, folders: dict[str, str], layout: str) -> None:
    for stem in ("a", "b"):
        _example(tmp_path, folders, stem)
    files = find_label_maps(tmp_path, "train", instances=True, images=True)
    assert files.layout == layout and len(files) == 2
    assert [i.key for i in files.items] == ["a", "b"]
    assert files.items[0].files["image"].name == "a_leftImg8bit.png"


def test_unpaired_files_are_left_out_with_a_warning(tmp_path: Path, caplog) -> None:
    folders = {"label": "train_label", "instance": "train_inst", "image": "train_img"}
    _example(tmp_path, folders, "a")
    _example(tmp_path, {"label": "train_label"}, "lonely")
    with caplog.at_level(logging.WARNING):
        files = find_label_maps(tmp_path, "train", instances=True, images=True)
    assert [i.key for i in files.items] == ["a"]
    assert [p.name for p in files.unpaired["label"]] == ["lonely_gtFine_labelIds.png"]
    assert "no partner" in caplog.text


def test_missing_instance_folder_suggests_no_instance(tmp_path: Path) -> None:
    _example(tmp_path, {"label": "train_label", "image": "train_img"}, "a")
    with pytest.raises(DatasetLayoutError, match=r"no instance folder.*train_inst.*--no-instance"):
        find_label_maps(tmp_path, "train", instances=True, images=True)
    assert len(find_label_maps(tmp_path, "train", instances=False, images=True)) == 1
    with pytest.raises(DatasetLayoutError, match="no label maps for phase 'val'"):
        find_label_maps(tmp_path, "val", instances=False, images=True)


def test_image_inputs_use_the_a_b_folders(tmp_path: Path) -> None:
    _save(tmp_path / "train_A" / "x.png", np.zeros((8, 8, 3), np.uint8))
    _save(tmp_path / "train_B" / "x.png", np.zeros((8, 8, 3), np.uint8))
    files = find_label_maps(tmp_path, "train", instances=False, images=True, rgb_labels=True)
    assert files.layout == "train_A + train_B"
    dataset = LabelMapDataset(files, 0, StreamTransform("none", 8, 8, False))
    assert dataset[0]["label"].dtype == torch.float32 and dataset[0]["label"].shape == (3, 8, 8)


def test_one_hot() -> None:
    labels = torch.tensor([[[[0, 2], [1, 2]]]])
    encoded = one_hot(labels, 3)
    assert encoded.shape == (1, 3, 2, 2) and encoded.sum(1).eq(1).all()
    assert torch.equal(encoded.argmax(1, keepdim=True), labels)
    with pytest.raises(LabelValueError, match=r"class id 3 is outside 0\.\.2"):
        one_hot(labels + 1, 3)
    with pytest.raises(ValueError, match="integer class ids"):
        one_hot(labels.float(), 3)


def test_a_label_beyond_label_nc_fails_naming_the_file_and_the_value(tmp_path: Path) -> None:
    folders = {"label": "train_label", "image": "train_img"}
    _example(tmp_path, folders, "a", value=2)
    _example(tmp_path, folders, "b", value=40)
    files = find_label_maps(tmp_path, "train", instances=False, images=True)
    dataset = LabelMapDataset(files, 35, StreamTransform("none", 8, 8, False))
    assert dataset[0]["label"].unique().tolist() == [2]
    expected = r"b_gtFine_labelIds\.png: class id 40 is outside 0\.\.34"
    with pytest.raises(LabelValueError, match=expected):
        dataset[1]


def test_scan_reports_the_classes_used(tmp_path: Path) -> None:
    folders = {"label": "train_label"}
    _example(tmp_path, folders, "a", value=2)
    _example(tmp_path, folders, "b", value=33)
    (tmp_path / "train_label" / "broken.png").write_bytes(b"junk")
    files = find_label_maps(tmp_path, "train", instances=False, images=False)
    scan = scan_label_values(label_files(files))
    assert scan.values == [2, 33] and scan.label_nc == 34 and scan.files == 2
    assert [p.name for p, _ in scan.failed] == ["broken.png"]
    assert "2 label maps use 2 classes (2, 33); label_nc 34" in scan.describe()


def test_cityscapes_sample_keeps_ids_exactly_through_pix2pixhd_scale_width(city: Path) -> None:
    files = find_label_maps(city, "train", instances=True, images=True)
    assert files.layout == "train_label + train_inst + train_img" and len(files) == 8
    transform = StreamTransform("scale_width", 200, 64, True, height_floor=False, size_multiple=16)
    dataset = LabelMapDataset(files, 34, transform)
    sample = dataset[(0, 3)]
    # 256x128 -> width 200, height 100 (no crop-size floor) -> nearest multiples of 16
    assert sample["label"].shape == sample["instance"].shape == (1, 96, 192)
    assert sample["image"].shape == (3, 96, 192)
    original = dataset.load(files.items[0])
    assert set(sample["instance"].unique().tolist()) <= set(original["instance"].unique().tolist())
    assert sample["instance"].max() >= 1000  # 16-bit class*1000+k ids survive
    assert set(sample["label"].unique().tolist()) <= set(original["label"].unique().tolist())


def test_colourise_gives_distinct_colours() -> None:
    pictures = colourise(torch.arange(4).reshape(1, 1, 2, 2))
    assert pictures.shape == (1, 3, 2, 2) and pictures.min() >= -1 and pictures.max() <= 1
    colours = {tuple(pictures[0, :, i // 2, i % 2].tolist()) for i in range(4)}
    assert len(colours) == 4
