"""combine_dirs() pairs two folders into AB images; split_folder() cuts them back apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.data.discover import DatasetLayoutError, find_pairs, split_ab
from img2img.data.io import read_header, read_ids, read_image
from img2img.data.transforms import resize_bicubic
from img2img.prep.combine import CombineOptions, combine_dirs
from img2img.prep.split import split_folder


def _save(path: Path, seed: int, size=(12, 16), mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    shape = (*size, 3) if mode == "RGB" else size
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).convert(mode).save(path)
    return path


def _two_folders(root: Path) -> tuple[Path, Path]:
    """A/ and B/ with train and val splits, a gray A, an unmatched file and a size mismatch."""
    a, b = root / "photos", root / "labels"
    for i, split in enumerate(["train", "train", "train", "val"]):
        _save(a / split / f"{i}.png", i, mode="L" if i == 1 else "RGB")
        _save(b / split / f"{i}.jpg" if i == 0 else b / split / f"{i}.png", 10 + i)
    _save(b / "train" / "2.png", 12, size=(24, 32))  # twice the size of its A
    _save(a / "train" / "lonely.png", 99)
    _save(a / "test" / "5.png", 5)  # no test split on the B side
    return a, b


def test_combine_pairs_by_stem_per_split(tmp_path: Path) -> None:
    a, b = _two_folders(tmp_path)
    out = tmp_path / "ab"
    report = combine_dirs(a, b, out, options=CombineOptions(ext=".png"), workers=2)
    assert report.written == {"train": 2, "val": 1}
    assert [p.name for p in report.unmatched] == ["lonely.png"]
    assert [(p.name, "expected equal sizes" in why) for p, why in report.failed] == [
        ("2.png", True)]
    assert any("photos/test" in note for note in report.notes)
    left, right = split_ab(read_image(out / "train" / "1.png"))
    assert torch.equal(left, read_image(a / "train" / "1.png"))  # gray A, repeated to RGB
    assert torch.equal(right, read_image(b / "train" / "1.png"))
    left, right = split_ab(read_image(out / "train" / "0.png"))
    assert torch.equal(right, read_image(b / "train" / "0.jpg"))  # extensions may differ
    assert find_pairs(out, "val").side_by_side


def test_combine_resize_size_and_what_exists(tmp_path: Path) -> None:
    a, b = _two_folders(tmp_path)
    out = tmp_path / "ab"
    report = combine_dirs(a, b, out, options=CombineOptions(ext=".png", resize=True))
    assert report.written == {"train": 3, "val": 1} and not report.failed
    _, right = split_ab(read_image(out / "train" / "2.png"))
    assert torch.allclose(right, resize_bicubic(read_image(b / "train" / "2.png"), (12, 16)),
                          atol=1 / 255)
    before = (out / "train" / "0.png").read_bytes()
    again = combine_dirs(a, b, out, options=CombineOptions(ext=".png", size=8))
    assert again.kept == 4 and again.total_written == 0  # nothing replaced unasked
    assert (out / "train" / "0.png").read_bytes() == before
    forced = combine_dirs(a, b, out, options=CombineOptions(ext=".png", size=8, overwrite=True))
    assert forced.total_written == 4 and read_header(out / "train" / "2.png").size == (8, 16)


def test_combine_folders_without_splits_write_flat(tmp_path: Path) -> None:
    for i in range(2):
        _save(tmp_path / "A" / f"{i}.png", i)
        _save(tmp_path / "B" / f"{i}.png", i + 5)
    report = combine_dirs(tmp_path / "A", tmp_path / "B", tmp_path / "out")
    assert report.written == {"": 2}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "1.png"]
    with pytest.raises(DatasetLayoutError, match="share no file names"):
        _save(tmp_path / "C" / "x.png", 1)
        combine_dirs(tmp_path / "A", tmp_path / "C", tmp_path / "out2")


def test_combine_keeps_each_a_files_format_and_depth(tmp_path: Path) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    _save(a / "colour.png", 1)
    _save(b / "colour.png", 2)
    _save(a / "photo.jpg", 3)
    _save(b / "photo.png", 4)  # the A file's format is kept, as the reference does
    deep = np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 300
    Image.fromarray(deep).save(a / "deep.png")
    Image.fromarray(deep[::-1].copy()).save(b / "deep.png")
    _save(a / "gray.png", 5, mode="L")
    _save(b / "gray.png", 6, mode="L")

    report = combine_dirs(a, b, tmp_path / "out")
    assert report.written == {"": 4} and not report.failed
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "colour.png", "deep.png", "gray.png", "photo.jpg"]
    for name in ("colour.png", "gray.png"):  # pixel-exact, gray stays gray
        expected = np.concatenate([np.asarray(Image.open(a / name)),
                                   np.asarray(Image.open(b / name))], axis=1)
        assert np.array_equal(np.asarray(Image.open(out / name)), expected), name
    assert read_header(out / "gray.png").mode == "L"
    assert read_header(out / "photo.jpg").format == "JPEG"
    assert read_header(out / "deep.png").bits == 16
    expected = np.concatenate([deep, deep[::-1]], axis=1)
    assert np.array_equal(read_ids(out / "deep.png")[0].numpy(), expected)  # all 16 bits

    jpeg = combine_dirs(a, b, tmp_path / "jpeg", options=CombineOptions(ext=".jpg"))
    assert jpeg.written == {"": 4}
    assert {read_header(p).format for p in (tmp_path / "jpeg").iterdir()} == {"JPEG"}
    with pytest.raises(ValueError, match="--ext: cannot write .gif; expected one of"):
        CombineOptions(ext=".gif")


def test_split_undoes_combine(tmp_path: Path) -> None:
    a, b = _two_folders(tmp_path)
    combine_dirs(a, b, tmp_path / "ab", options=CombineOptions(ext=".png"))
    report = split_folder(tmp_path / "ab", tmp_path / "back", workers=2)
    assert report.written == {"train": 2, "val": 1}
    for split, key, side, source in (("train", "0", "B", b / "train" / "0.jpg"),
                                     ("train", "1", "A", a / "train" / "1.png"),
                                     ("val", "3", "A", a / "val" / "3.png")):
        got = read_image(tmp_path / "back" / side / split / f"{key}.png")
        assert torch.equal(got, read_image(source))
    assert find_pairs(tmp_path / "back", "train").layout == "A/train + B/train"
    assert split_folder(tmp_path / "ab", tmp_path / "back").kept == 3


def test_split_keeps_gray_16_bit_and_odd_widths(tmp_path: Path) -> None:
    ab = np.arange(4 * 9, dtype=np.uint16).reshape(4, 9) * 1000  # 16-bit gray, odd width
    (tmp_path / "ab").mkdir()
    Image.fromarray(ab).save(tmp_path / "ab" / "x.png")
    split_folder(tmp_path / "ab", tmp_path / "out")
    a = np.asarray(Image.open(tmp_path / "out" / "A" / "x.png"))
    b = np.asarray(Image.open(tmp_path / "out" / "B" / "x.png"))
    assert a.dtype == b.dtype == np.uint16
    assert np.array_equal(a, ab[:, :4]) and np.array_equal(b, ab[:, 4:])  # B one wider


def test_split_refuses_what_is_not_side_by_side(tmp_path: Path) -> None:
    _save(tmp_path / "ds" / "train" / "A" / "0.png", 0)
    _save(tmp_path / "ds" / "train" / "B" / "0.png", 1)
    with pytest.raises(DatasetLayoutError, match="nothing to split"):
        split_folder(tmp_path / "ds", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="no side-by-side images"):
        split_folder(tmp_path / "empty", tmp_path / "out")
