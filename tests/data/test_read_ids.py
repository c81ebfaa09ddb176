"""read_ids: raw integer ids from every kind of label and instance map, failures naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.data import io as img_io
from img2img.data.io import ImageReadError, read_ids
from tests.conftest import CITYSCAPES

INSTANCE_IDS = np.array([[26001, 26002, 33000], [7, 26001, 65535]], np.uint16)


def _as_ids(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.astype(np.int64))[None]


def test_16bit_png_keeps_its_ids(tmp_path: Path) -> None:
    Image.fromarray(INSTANCE_IDS).save(tmp_path / "x_instanceIds.png")
    with Image.open(tmp_path / "x_instanceIds.png") as img:
        assert img.mode.startswith("I;16")
    ids = read_ids(tmp_path / "x_instanceIds.png")
    assert ids.dtype == torch.int64 and ids.shape == (1, 2, 3)
    assert torch.equal(ids, _as_ids(INSTANCE_IDS))


def test_16bit_map_opened_as_mode_i(tmp_path: Path) -> None:
    Image.fromarray(INSTANCE_IDS).save(tmp_path / "x.png")
    with Image.open(tmp_path / "x.png") as img:
        as_i = img.convert("I")  # how older PIL versions open 16-bit PNGs
    assert as_i.mode == "I"
    ids = img_io._decode_ids(as_i, tmp_path / "x.png")
    assert np.array_equal(ids, INSTANCE_IDS.astype(np.int64))


def test_32bit_int_tiff(tmp_path: Path) -> None:
    wide = np.array([[100_000, -5], [2**31 - 1, 0]], np.int32)
    Image.fromarray(wide).save(tmp_path / "x.tif")
    assert torch.equal(read_ids(tmp_path / "x.tif"), _as_ids(wide))


def test_8bit_label_map(tmp_path: Path) -> None:
    labels = np.array([[0, 7, 33], [255, 26, 7]], np.uint8)
    Image.fromarray(labels).save(tmp_path / "labels.png")
    assert torch.equal(read_ids(tmp_path / "labels.png"), _as_ids(labels))


def test_palette_png_keeps_indices(tmp_path: Path) -> None:
    indices = np.array([[0, 1, 2], [3, 2, 1]], np.uint8)
    img = Image.fromarray(indices, mode="P")
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9] + [0] * (256 * 3 - 12))
    img.info["transparency"] = 0
    img.save(tmp_path / "p.png", transparency=0)
    with Image.open(tmp_path / "p.png") as check:
        assert check.mode == "P"
    ids = read_ids(tmp_path / "p.png")
    assert ids.shape == (1, 2, 3) and torch.equal(ids, _as_ids(indices))


def test_rgb_coded_ids(tmp_path: Path) -> None:
    rgb = np.array([[[1, 2, 3], [0, 0, 7]], [[255, 255, 255], [0, 1, 0]]], np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    expected = np.array([[65536 + 2 * 256 + 3, 7], [2**24 - 1, 256]])
    assert torch.equal(read_ids(tmp_path / "rgb.png"), _as_ids(expected))
    rgba = np.concatenate([rgb, np.full((2, 2, 1), 128, np.uint8)], axis=2)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert torch.equal(read_ids(tmp_path / "rgba.png"), _as_ids(expected))


def test_gray_with_alpha_drops_alpha(tmp_path: Path) -> None:
    la = np.stack([np.array([[3, 4], [5, 6]], np.uint8), np.full((2, 2), 200, np.uint8)], axis=2)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    assert torch.equal(read_ids(tmp_path / "la.png"), _as_ids(la[..., 0]))


def test_exif_orientation_applied(tmp_path: Path) -> None:
    ids = np.arange(12, dtype=np.uint8).reshape(3, 4)
    img = Image.fromarray(ids)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "rot.png", exif=exif)
    assert torch.equal(read_ids(tmp_path / "rot.png"), _as_ids(np.rot90(ids, -1)))


def test_float_map_needs_whole_numbers(tmp_path: Path) -> None:
    Image.fromarray(np.array([[3.0, 40000.0]], np.float32), mode="F").save(tmp_path / "f.tif")
    assert read_ids(tmp_path / "f.tif").tolist() == [[[3, 40000]]]
    Image.fromarray(np.array([[0.5, 1.0]], np.float32), mode="F").save(tmp_path / "frac.tif")
    with pytest.raises(ImageReadError, match=r"frac\.tif.*fractional"):
        read_ids(tmp_path / "frac.tif")


def test_failures_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match=r"missing\.png: no such file"):
        read_ids(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageReadError, match=r"text\.png"):
        read_ids(tmp_path / "text.png")
    Image.new("CMYK", (2, 2)).save(tmp_path / "cmyk.jpg")
    with pytest.raises(ImageReadError, match=r"cmyk\.jpg: mode CMYK holds no integer ids"):
        read_ids(tmp_path / "cmyk.jpg")


@pytest.mark.skipif(not CITYSCAPES.is_dir(), reason="Cityscapes sample not present")
def test_cityscapes_instance_and_label_maps() -> None:
    inst_path = next(iter(sorted((CITYSCAPES / "train_inst").glob("*_instanceIds.png"))))
    label_path = CITYSCAPES / "train_label" / inst_path.name.replace("instanceIds", "labelIds")
    inst, label = read_ids(inst_path), read_ids(label_path)
    with Image.open(inst_path) as img:
        raw = np.asarray(img)
    assert inst.shape == label.shape == (1, *raw.shape)
    assert torch.equal(inst, _as_ids(raw))
    assert inst.max() >= 1000  # 16-bit instance ids class * 1000 + k, not rescaled
    # below 1000 an instance id is the label id; above, class * 1000 + k
    assert torch.equal(torch.where(inst >= 1000, inst // 1000, inst), label)
