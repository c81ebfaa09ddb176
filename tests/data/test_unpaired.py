"""Unpaired discovery and the unpaired dataset: layouts without shared names, draws, resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from img2img.config import DataConfig
from img2img.data.discover import DatasetLayoutError, find_pairs
from img2img.data.unpaired import UnpairedImageDataset, find_unpaired
from img2img.families.cyclegan.description import CycleGANDescription
from img2img.prep.check import check_dataset

SIZE = 8


def _write(path: Path, value: int, channel: int) -> None:
    """A flat image whose ``channel`` holds ``value`` (so a sample tells which file it is)."""
    pixels = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    pixels[..., channel] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _unpaired(root: Path, count_a: int = 5, count_b: int = 3, sub=("trainA", "trainB")) -> Path:
    for i in range(count_a):
        _write(root / sub[0] / f"horse_{i}.png", 20 * (i + 1), 0)
    for j in range(count_b):
        _write(root / sub[1] / f"zebra_{j}.png", 20 * (j + 1), 2)
    return root


def _cfg(root: Path, **kw) -> DataConfig:
    base = {"preprocess": "none", "flip": False, "load_size": SIZE, "crop_size": SIZE}
    return DataConfig(root=str(root), **{**base, **kw})


def _index(image, channel: int) -> int:
    """Which file a sample came from: the value written into ``channel``, back to its index."""
    value = round(float((image[channel].mean() + 1) / 2 * 255))
    return value // 20 - 1


@pytest.mark.parametrize("sub", [("trainA", "trainB"), ("train/A", "train/B"), ("A", "B")])
def test_folders_without_shared_names_are_found(tmp_path, sub):
    root = _unpaired(tmp_path / "ds", sub=sub)
    found = find_unpaired(root, "train")
    assert [p.name for p in found.files_a] == [f"horse_{i}.png" for i in range(5)]
    assert [p.name for p in found.files_b] == [f"zebra_{j}.png" for j in range(3)]
    assert not found.side_by_side
    with pytest.raises(DatasetLayoutError, match="share no file names"):
        find_pairs(root, "train")  # the paired discovery refuses what unpaired accepts


def test_an_empty_side_is_named(tmp_path):
    root = _unpaired(tmp_path, count_b=0)
    (root / "trainB").mkdir(exist_ok=True)
    with pytest.raises(DatasetLayoutError, match=r"trainB holds no images \(5 A and 0 B"):
        find_unpaired(root, "train")


def test_an_epoch_is_the_larger_side_and_b_is_drawn_per_example(tmp_path):
    ds = UnpairedImageDataset(_cfg(_unpaired(tmp_path)), seed=3)
    assert len(ds) == 5
    samples = [ds[(i, 100 + i)] for i in range(5)]
    assert [_index(s["A"], 0) for s in samples] == [0, 1, 2, 3, 4]
    assert [s["key"] for s in samples] == [f"horse_{i}" for i in range(5)]
    drawn = [_index(ds[(0, seed)]["B"], 2) for seed in range(40)]
    assert set(drawn) == {0, 1, 2}  # every B image is drawn, whatever A it goes with
    again = ds[(0, 7)]
    assert again["key_B"] == ds[(0, 7)]["key_B"] == f"zebra_{ds.b_index(0, 7)}"


def test_serial_batches_take_b_in_order(tmp_path):
    ds = UnpairedImageDataset(_cfg(_unpaired(tmp_path)), serial_batches=True)
    assert [_index(ds[(i, 5)]["B"], 2) for i in range(5)] == [0, 1, 2, 0, 1]


def test_direction_swaps_sides_and_sizes_cap_each_side(tmp_path):
    ds = UnpairedImageDataset(_cfg(_unpaired(tmp_path), direction="BtoA", max_dataset_size=2),
                              input_nc=1)
    sample = ds[(1, 0)]
    assert len(ds) == 2 and sample["key"] == "zebra_1" and sample["key_B"].startswith("horse_")
    assert sample["A"].shape == (1, SIZE, SIZE) and sample["B"].shape == (3, SIZE, SIZE)
    assert _index(sample["B"], 0) in (0, 1)


def test_side_by_side_files_give_left_halves_as_a_and_right_halves_as_b(tmp_path):
    for i in range(4):
        pixels = np.zeros((SIZE, 2 * SIZE, 3), dtype=np.uint8)
        pixels[:, :SIZE, 0] = 20 * (i + 1)
        pixels[:, SIZE:, 2] = 20 * (i + 1)
        (tmp_path / "train").mkdir(exist_ok=True)
        Image.fromarray(pixels).save(tmp_path / "train" / f"{i}.png")
    ds = UnpairedImageDataset(_cfg(tmp_path))
    assert ds.files.side_by_side and len(ds) == 4
    sample = ds[(2, 9)]
    assert sample["A"].shape == sample["B"].shape == (3, SIZE, SIZE)
    assert _index(sample["A"], 0) == 2 and float(sample["A"][2].max()) == -1.0
    assert _index(sample["B"], 2) == ds.b_index(2, 9) and float(sample["B"][0].max()) == -1.0
    item = ds.items[2]  # what datasets check reads: one item per file, both halves
    assert item.files == {"A": tmp_path / "train" / "2.png", "B": tmp_path / "train" / "2.png"}
    halves = ds.load(item)
    assert halves["A"].shape == halves["B"].shape == (3, SIZE, SIZE)


def test_unreadable_files_are_skipped_on_either_side(tmp_path):
    root = _unpaired(tmp_path, count_b=1)
    broken = root / "trainB" / "zebra_1.png"
    broken.write_bytes(b"not a png")
    ds = UnpairedImageDataset(_cfg(root), serial_batches=True)
    sample = ds[(1, 0)]  # B image 1 is broken: replaced by the next readable one
    assert sample["key_B"] == "zebra_0" and "skipped" not in sample
    assert ds.skipped == [broken]


def test_datasets_check_reads_unpaired_folders_through_cyclegan(color2gray, gray2color):
    report = check_dataset(color2gray)
    assert report.family == "cyclegan" and not report.problems
    train = next(s for s in report.splits if s.split == "train")
    assert [(s.name, s.files) for s in train.streams] == [("A", 48), ("B", 48)]
    paired = check_dataset(gray2color)
    assert paired.family == "pix2pix" and paired.also_readable_by == ["cyclegan", "cut"]


def test_evaluation_reads_the_models_input_side_and_the_other_as_real_images(tmp_path):
    root = _unpaired(tmp_path / "ds")
    data = DataConfig(root=str(root), phase="train")

    def split(direction, data_direction="AtoB"):
        model = SimpleNamespace(options={"direction": direction})
        return CycleGANDescription.evaluation_split(replace(data, direction=data_direction), model)

    forward = split("AtoB")
    assert [e.key for e in forward.examples] == [f"horse_{i}.png" for i in range(5)]
    assert [r.path.name for r in forward.references] == [f"zebra_{j}.png" for j in range(3)]
    assert not forward.paired and forward.input_half is None
    assert [e.key for e in split("BtoA").examples] == [f"zebra_{j}.png" for j in range(3)]
    assert split("AtoB", data_direction="BtoA").examples[0].key == "zebra_0.png"

    Image.new("RGB", (2 * SIZE, SIZE)).save(tmp_path / "ab.png")
    halves = CycleGANDescription.evaluation_split(DataConfig(root=str(tmp_path), phase="x"),
                                                  SimpleNamespace(options={}))
    assert halves.input_half == "A" and [str(r) for r in halves.references] == [
        f"{tmp_path / 'ab.png'} [B half]"]
