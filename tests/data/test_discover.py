"""find_images / find_pairs / split_ab: every accepted layout, pairing by stem, clear errors."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from img2img.data.discover import (
    DatasetLayoutError,
    accepted_layouts,
    find_images,
    find_pairs,
    split_ab,
)


def _touch(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")  # discovery never decodes, so empty files are enough


def _make_two_folder(dir_a: Path, dir_b: Path) -> None:
    _touch(dir_a / "1.png", dir_a / "sub" / "2.png", dir_a / "3.jpg", dir_a / "notes.txt")
    _touch(dir_b / "1.jpg", dir_b / "sub" / "2.JPEG", dir_b / "4.png", dir_b / ".hidden.png")


TWO_FOLDER = [
    ("train/A", "train/B", "train/A + train/B"),
    ("A/train", "B/train", "A/train + B/train"),
    ("trainA", "trainB", "trainA + trainB"),
    ("train_A", "train_B", "train_A + train_B"),
    ("A", "B", "A + B"),
]


@pytest.mark.parametrize(("sub_a", "sub_b", "layout"), TWO_FOLDER)
def test_two_folder_layouts_pair_by_relative_stem(
    tmp_path: Path, sub_a: str, sub_b: str, layout: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "ds"
    _make_two_folder(root / sub_a, root / sub_b)
    with caplog.at_level(logging.WARNING, logger="img2img.data.discover"):
        found = find_pairs(root, "train")
    assert found.layout == layout and not found.side_by_side and len(found) == 2
    assert [p.key for p in found.pairs] == ["1", "sub/2"]
    assert [(p.a.name, p.b.name) for p in found.pairs] == [("1.png", "1.jpg"), ("2.png", "2.JPEG")]
    assert found.unpaired_a == [root / sub_a / "3.jpg"]
    assert found.unpaired_b == [root / sub_b / "4.png"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("1 A file(s) have no partner" in m and "3.jpg" in m for m in messages)
    assert any("1 B file(s) have no partner" in m and "4.png" in m for m in messages)


def test_side_by_side_in_phase_folder(tmp_path: Path) -> None:
    _touch(tmp_path / "train" / "b.jpg", tmp_path / "train" / "a.png", tmp_path / "train/x/c.jpg")
    _touch(tmp_path / "val" / "z.jpg")
    found = find_pairs(tmp_path, "train")
    assert found.side_by_side and found.layout.startswith("train/*")
    assert [p.key for p in found.pairs] == ["a", "b", "x/c"]
    assert all(p.b is None for p in found.pairs)
    assert [p.key for p in find_pairs(tmp_path, "val").pairs] == ["z"]


def test_side_by_side_in_root_without_phase(tmp_path: Path) -> None:
    _touch(tmp_path / "1.jpg", tmp_path / "2.jpg", tmp_path / "deeper" / "3.jpg")
    found = find_pairs(tmp_path, "test")
    assert found.side_by_side and [p.key for p in found.pairs] == ["1", "2"]


def test_side_by_side_wins_over_later_layouts(tmp_path: Path) -> None:
    _touch(tmp_path / "train" / "ab.jpg")
    _make_two_folder(tmp_path / "A" / "train", tmp_path / "B" / "train")
    assert find_pairs(tmp_path, "train").side_by_side


def test_phase_ab_wins_over_side_by_side_when_both_folders_exist(tmp_path: Path) -> None:
    _make_two_folder(tmp_path / "train" / "A", tmp_path / "train" / "B")
    assert find_pairs(tmp_path, "train").layout == "train/A + train/B"


def test_missing_phase_does_not_borrow_other_phases(tmp_path: Path) -> None:
    _make_two_folder(tmp_path / "A" / "train", tmp_path / "B" / "train")
    with pytest.raises(DatasetLayoutError, match="no images for phase 'val'"):
        find_pairs(tmp_path, "val")
    _touch(tmp_path / "other" / "train" / "x.jpg")
    with pytest.raises(DatasetLayoutError):
        find_pairs(tmp_path / "other", "val")


def test_empty_phase_folder_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    _touch(tmp_path / "loose.jpg")
    with pytest.raises(DatasetLayoutError, match="phase 'train'"):
        find_pairs(tmp_path, "train")


def test_layout_error_names_directory_and_lists_layouts(tmp_path: Path) -> None:
    root = tmp_path / "foo"
    root.mkdir()
    _touch(root / "readme.txt")
    with pytest.raises(DatasetLayoutError) as info:
        find_pairs(root, "train")
    message = str(info.value)
    assert message.startswith(f"no images for phase 'train' under {root}; expected one of: ")
    for layout in accepted_layouts(root, "train"):
        assert layout in message
    assert "foo/train/*.jpg (A|B side by side)" in message
    assert "foo/train/A + foo/train/B" in message and "foo/A/train + foo/B/train" in message
    assert info.value.root == root and info.value.phase == "train"


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=r"nowhere does not exist; expected one of"):
        find_pairs(tmp_path / "nowhere", "train")


def test_no_common_names(tmp_path: Path) -> None:
    _touch(tmp_path / "train" / "A" / "a1.png", tmp_path / "train" / "B" / "b1.png")
    with pytest.raises(DatasetLayoutError, match=r"share no file names.*a1\.png.*b1\.png"):
        find_pairs(tmp_path, "train")


def test_duplicate_stems_keep_first(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _touch(tmp_path / "A" / "x.jpg", tmp_path / "A" / "x.png", tmp_path / "B" / "x.png")
    with caplog.at_level(logging.WARNING):
        found = find_pairs(tmp_path, "train")
    assert [p.a.name for p in found.pairs] == ["x.jpg"]
    assert any("share the name 'x'" in r.getMessage() for r in caplog.records)


def test_find_images_sorted_skips_hidden(tmp_path: Path) -> None:
    _touch(
        tmp_path / "b.png",
        tmp_path / "a.JPG",
        tmp_path / "c.txt",
        tmp_path / ".hidden.png",
        tmp_path / ".git" / "x.png",
        tmp_path / "sub" / "d.webp",
    )
    assert [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path)] == [
        "a.JPG",
        "b.png",
        "sub/d.webp",
    ]
    assert [p.name for p in find_images(tmp_path, recursive=False)] == ["a.JPG", "b.png"]
    with pytest.raises(NotADirectoryError, match="b.png"):
        find_images(tmp_path / "b.png")


def test_find_images_follows_links_once(tmp_path: Path) -> None:
    _touch(tmp_path / "real" / "x.png")
    os.symlink(tmp_path / "real", tmp_path / "link")
    os.symlink(tmp_path, tmp_path / "real" / "loop")  # a cycle must not hang or repeat
    names = [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path)]
    assert names in (["link/x.png"], ["real/x.png"])


def test_split_ab_tensor_and_array() -> None:
    image = torch.arange(2 * 3 * 8, dtype=torch.float32).reshape(2, 3, 8)
    a, b = split_ab(image)
    assert torch.equal(a, image[..., :4]) and torch.equal(b, image[..., 4:])
    left, right = split_ab(np.zeros((5, 6)))
    assert left.shape == right.shape == (5, 3)


def test_split_ab_odd_width_splits_at_half_like_the_reference() -> None:
    image = torch.arange(4 * 7, dtype=torch.float32).reshape(1, 4, 7)
    a, b = split_ab(image, source="photo.jpg")
    assert torch.equal(a, image[..., :3]) and torch.equal(b, image[..., 3:])
    left, right = split_ab(np.zeros((5, 9)))
    assert left.shape == (5, 4) and right.shape == (5, 5)


def test_split_ab_too_narrow_names_source() -> None:
    with pytest.raises(ValueError, match=r"photo\.jpg: width 1 cannot be split"):
        split_ab(torch.zeros(3, 4, 1), source="photo.jpg")


def test_flat_layouts_are_marked(tmp_path: Path) -> None:
    _touch(tmp_path / "ab" / "A" / "1.png", tmp_path / "ab" / "B" / "1.png")
    _touch(tmp_path / "sbs" / "1.png", tmp_path / "phased" / "train" / "1.png")
    assert find_pairs(tmp_path / "ab", "val").flat
    assert find_pairs(tmp_path / "sbs", "test").flat
    assert not find_pairs(tmp_path / "phased", "train").flat
