"""Preparation helpers: edge maps, side-by-side combination, folder conversion."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.data.discover import DatasetLayoutError, find_pairs, split_ab
from img2img.data.io import read_image
from img2img.prep.combine import combine_folders, combine_pair, write_ab
from img2img.prep.edges import edges_from_photo


def _square_photo() -> np.ndarray:
    photo = np.full((64, 64, 3), 40, np.uint8)
    photo[16:48, 16:48] = (220, 180, 60)
    return photo


def test_edges_trace_the_square_black_on_white() -> None:
    edges = edges_from_photo(_square_photo())
    assert edges.shape == (64, 64) and edges.dtype == np.uint8
    assert set(np.unique(edges)) == {0, 255}
    ys, xs = np.nonzero(edges == 0)
    distance = np.minimum(
        np.abs(ys[:, None] - [15.5, 47.5]).min(1), np.abs(xs[:, None] - [15.5, 47.5]).min(1)
    )
    assert distance.max() <= 2.0  # every edge pixel hugs the square's outline
    outline = np.zeros((64, 64), bool)
    outline[15:17, 16:48] = outline[47:49, 16:48] = True
    outline[16:48, 15:17] = outline[16:48, 47:49] = True
    covered = [(edges[r, c] == 0) for r, c in zip(*np.nonzero(outline), strict=True)]
    assert (edges == 0).sum() > 100 and np.mean(covered) > 0.4


def test_edges_of_flat_image_are_empty() -> None:
    assert (edges_from_photo(np.full((32, 32, 3), 128, np.uint8)) == 255).all()
    assert (edges_from_photo(np.zeros((32, 32), np.uint8)) == 255).all()


def test_edges_gray_and_rgba_inputs_agree_with_rgb() -> None:
    photo = _square_photo()
    rgba = np.concatenate([photo, np.zeros((64, 64, 1), np.uint8)], axis=2)
    assert np.array_equal(edges_from_photo(rgba), edges_from_photo(photo))
    gray = np.asarray(Image.fromarray(photo).convert("L"))
    assert (edges_from_photo(gray) == 0).sum() > 100


def test_edges_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        edges_from_photo(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="H x W x 3"):
        edges_from_photo(np.zeros((8, 8, 2), np.uint8))


def test_combine_pair_numpy_and_torch() -> None:
    a = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    gray = np.full((2, 3), 9, np.uint8)
    ab = combine_pair(a, gray)
    assert ab.shape == (2, 6, 3)
    assert np.array_equal(ab[:, :3], a) and (ab[:, 3:] == 9).all()
    t = combine_pair(torch.zeros(1, 4, 5), torch.ones(3, 4, 5))
    assert t.shape == (3, 4, 10) and t[:, :, 5:].eq(1).all() and t[:, :, :5].eq(0).all()


def test_combine_pair_rejects_mismatch() -> None:
    with pytest.raises(ValueError, match="A is 4x5 but B is 4x6"):
        combine_pair(np.zeros((4, 5, 3), np.uint8), np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        combine_pair(np.zeros((4, 5), np.uint8), np.zeros((4, 5), np.float32))
    with pytest.raises(TypeError):
        combine_pair(np.zeros((4, 5), np.float32), torch.zeros(1, 4, 5))


def test_write_ab_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (8, 6), dtype=np.uint8)
    out = write_ab(tmp_path / "ab.png", a, b)
    left, right = split_ab(read_image(out))
    assert torch.equal(left, torch.from_numpy(a).permute(2, 0, 1).float() / 255)
    assert torch.equal(right, torch.from_numpy(b).float().div(255).expand(3, -1, -1))


def test_write_ab_from_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    b = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    write_ab(tmp_path / "ab.png", tmp_path / "a.png", b)  # a file and an array
    left, right = split_ab(read_image(tmp_path / "ab.png"))
    assert torch.equal(left, read_image(tmp_path / "a.png"))
    assert torch.equal(right, torch.from_numpy(b).permute(2, 0, 1).float() / 255)


def test_combine_folders(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    rng = np.random.default_rng(2)
    for phase, keys in (("train", ["1", "2", "bad"]), ("val", ["3"])):
        for side in ("A", "B"):
            (src / side / phase).mkdir(parents=True)
            for key in keys:
                path = src / side / phase / f"{key}.png"
                if key == "bad" and side == "A":
                    path.write_text("broken")
                else:
                    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path)
    report = combine_folders(src, out, ext=".png")
    assert report.written == {"train": 2, "val": 1} and report.notes == []
    assert report.layouts == {"train": "A/train + B/train", "val": "A/val + B/val"}
    assert [p.name for p, _ in report.failed] == ["bad.png"]
    combined = find_pairs(out, "train")
    assert combined.side_by_side and [p.key for p in combined.pairs] == ["1", "2"]
    left, right = split_ab(read_image(out / "train" / "2.png"))
    assert torch.equal(left, read_image(src / "A" / "train" / "2.png"))
    assert torch.equal(right, read_image(src / "B" / "train" / "2.png"))


def test_combine_folders_flat_layout_goes_to_train_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    rng = np.random.default_rng(3)
    for side in ("A", "B"):
        (src / side).mkdir(parents=True)
        for key in ("1", "2", "3"):
            image = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(image).save(src / side / f"{key}.png")
    with caplog.at_level(logging.INFO, logger="img2img.prep.combine"):
        report = combine_folders(src, out, ext=".png")
    assert report.written == {"train": 3} and report.layouts == {"train": "A + B"}
    assert not (out / "val").exists() and not (out / "test").exists()
    assert sorted(p.name for p in (out / "train").iterdir()) == ["1.png", "2.png", "3.png"]
    assert len(report.notes) == 1 and "no phase folders" in report.notes[0]
    assert any("no phase folders" in r.getMessage() for r in caplog.records)
    left, right = split_ab(read_image(out / "train" / "3.png"))
    assert torch.equal(left, read_image(src / "A" / "3.png"))
    assert torch.equal(right, read_image(src / "B" / "3.png"))


def test_combine_folders_without_pairs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="no A/B pairs to combine"):
        combine_folders(tmp_path / "empty", tmp_path / "out")


def _build_sample_module():  # datasets/build_sample.py is a script, not a package module
    pytest.importorskip("skimage")
    path = Path(__file__).resolve().parents[2] / "datasets" / "build_sample.py"
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout")
    if "build_sample" not in sys.modules:
        spec = importlib.util.spec_from_file_location("build_sample", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["build_sample"] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules["build_sample"]


def test_sample_splits_are_disjoint_regions() -> None:
    build_sample = _build_sample_module()
    for height, width in ((512, 512), (300, 451), (427, 640), (1411, 1411)):
        masks = {}
        for split in ("train", "val", "test"):
            top, left, bottom, right = build_sample.split_region(split, height, width)
            assert bottom - top >= 96 and right - left >= 96
            mask = np.zeros((height, width), bool)
            mask[top:bottom, left:right] = True
            masks[split] = mask
        assert not (masks["train"] & masks["test"]).any()
        assert not (masks["train"] & masks["val"]).any()
        assert not (masks["val"] & masks["test"]).any()


def test_sample_build_is_deterministic(tmp_path: Path) -> None:
    build_sample = _build_sample_module()
    counts = {"train": 2, "test": 1}
    first = build_sample.build(tmp_path / "one", counts=counts)
    second = build_sample.build(tmp_path / "two", counts=counts)
    assert [p.name for p in first["train"]] == ["astronaut_000.jpg", "chelsea_001.jpg"]
    for a, b in zip(first["train"] + first["test"], second["train"] + second["test"], strict=True):
        assert a.read_bytes() == b.read_bytes()
    ab = read_image(first["test"][0])
    assert ab.shape == (3, 256, 512)
    edges, photo = split_ab(ab)
    assert edges.mean() > 0.8 and edges.min() < 0.2  # mostly white with some dark lines
