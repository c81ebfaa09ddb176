"""prepare_cityscapes(): the official folders -> pix2pix, CycleGAN and pix2pixHD layouts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.data.discover import find_pairs, split_ab
from img2img.data.io import read_ids, read_image
from img2img.data.transforms import resize_bicubic
from img2img.prep.cityscapes import PALETTE, colorize, prepare_cityscapes
from tests.conftest import CITYSCAPES

needs_sample = pytest.mark.skipif(
    not CITYSCAPES.is_dir(), reason=f"{CITYSCAPES} not present"
)
TRAIN = ["aachen_000000_000019", "aachen_000001_000019"]
VAL_LABELS_ONLY = ["frankfurt_000000_000576", "frankfurt_000000_001236"]
SYNTHETIC = "lindau_000000_000019"


def official_layout(root: Path) -> tuple[Path, Path]:
    """gtFine/ and leftImg8bit/ as the official zips unpack, from the real sample frames (train),
    two val label maps without photos, and one small synthetic val frame with a colour file."""
    gt, left = root / "gtFine", root / "leftImg8bit"
    for key in TRAIN:
        city = key.split("_")[0]
        for folder, kind, suffix in (("train_label", gt, "gtFine_labelIds"),
                                     ("train_inst", gt, "gtFine_instanceIds"),
                                     ("train_img", left, "leftImg8bit")):
            target = kind / "train" / city / f"{key}_{suffix}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(CITYSCAPES / folder / f"{key}_{suffix}.png", target)
    for key in VAL_LABELS_ONLY:
        target = gt / "val" / "frankfurt" / f"{key}_gtFine_labelIds.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(CITYSCAPES / "test_label" / target.name, target)
    rng = np.random.default_rng(0)
    ids = rng.choice([7, 11, 26], size=(32, 64)).astype(np.uint8)
    (gt / "val" / "lindau").mkdir(parents=True)
    Image.fromarray(ids).save(gt / "val" / "lindau" / f"{SYNTHETIC}_gtFine_labelIds.png")
    Image.fromarray(ids.astype(np.uint16) * 1000 + 1).save(
        gt / "val" / "lindau" / f"{SYNTHETIC}_gtFine_instanceIds.png")
    Image.fromarray(255 - colorize(ids)).save(  # a colour file unlike the palette: it is used
        gt / "val" / "lindau" / f"{SYNTHETIC}_gtFine_color.png")
    (left / "val" / "lindau").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)).save(
        left / "val" / "lindau" / f"{SYNTHETIC}_leftImg8bit.png")
    return gt, left


@needs_sample
def test_official_download_becomes_three_layouts(tmp_path: Path) -> None:
    gt, left = official_layout(tmp_path / "download")
    out = tmp_path / "cityscapes"
    report = prepare_cityscapes(tmp_path / "download", left, out, size=32, workers=2)
    assert report.written == {"train": 2, "test": 1} and not report.failed
    assert sorted(p.name for p in report.unmatched) == [
        f"{key}_gtFine_labelIds.png" for key in VAL_LABELS_ONLY]

    # pix2pix: photo (A) | colour labels (B), drawn from the real label ids
    key = TRAIN[1]
    photo = read_image(CITYSCAPES / "train_img" / f"{key}_leftImg8bit.png")
    ids = read_ids(CITYSCAPES / "train_label" / f"{key}_gtFine_labelIds.png")[0]
    colour = torch.from_numpy(colorize(ids.numpy())).permute(2, 0, 1).float() / 255
    a, b = split_ab(read_image(out / "train" / f"{key}.png"))
    assert torch.allclose(a, resize_bicubic(photo, (32, 32)), atol=0.5 / 255 + 1e-6)
    assert torch.allclose(b, resize_bicubic(colour, (32, 32)), atol=0.5 / 255 + 1e-6)
    assert find_pairs(out, "train").side_by_side and len(find_pairs(out, "test")) == 1
    _, b_test = split_ab(read_image(out / "test" / f"{SYNTHETIC}.png"))  # official val -> test
    colour_file = read_image(gt / "val" / "lindau" / f"{SYNTHETIC}_gtFine_color.png")
    assert torch.allclose(b_test, resize_bicubic(colour_file, (32, 32)), atol=0.5 / 255 + 1e-6)

    # CycleGAN: the same images in trainA / trainB
    assert torch.equal(read_image(out / "trainA" / f"{key}.png"), a)
    assert torch.equal(read_image(out / "trainB" / f"{key}.png"), b)

    # pix2pixHD: the files themselves, 16-bit instance ids intact
    inst = out / "train_inst" / f"{key}_gtFine_instanceIds.png"
    original = CITYSCAPES / "train_inst" / inst.name
    assert inst.read_bytes() == original.read_bytes()
    assert torch.equal(read_ids(inst), read_ids(original)) and read_ids(inst).max() >= 1000
    for folder in ("train_label", "train_img", "test_label", "test_inst", "test_img"):
        assert len(list((out / folder).iterdir())) == (2 if folder.startswith("train") else 1)

    again = prepare_cityscapes(gt, left, out, size=32)
    assert again.kept == 3 and again.total_written == 0


def test_layouts_can_be_chosen(tmp_path: Path) -> None:
    gt, left = tmp_path / "gtFine", tmp_path / "leftImg8bit"
    ids = np.full((8, 16), 26, np.uint8)
    (gt / "train" / "ulm").mkdir(parents=True)
    (left / "train" / "ulm").mkdir(parents=True)
    Image.fromarray(ids).save(gt / "train" / "ulm" / "ulm_000001_000019_gtFine_labelIds.png")
    Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(
        left / "train" / "ulm" / "ulm_000001_000019_leftImg8bit.png")
    out = tmp_path / "out"
    report = prepare_cityscapes(gt, left, out, layouts=["pix2pixhd"])
    assert report.written == {"train": 1}
    assert sorted(p.name for p in out.iterdir()) == ["train_img", "train_label"]  # no inst
    with pytest.raises(ValueError, match="--layouts: pix2pixHD is not valid"):
        prepare_cityscapes(gt, left, out, layouts=["pix2pixHD"])
    with pytest.raises(FileNotFoundError, match="no Cityscapes frames"):
        prepare_cityscapes(tmp_path / "out", tmp_path / "out", tmp_path / "x")


def test_colours_are_the_official_ones() -> None:
    ids = np.array([[7, 26, 24], [0, 33, 300]])
    rgb = colorize(ids)
    assert rgb[0].tolist() == [[128, 64, 128], [0, 0, 142], [220, 20, 60]]  # road, car, person
    assert rgb[1].tolist() == [[0, 0, 0], [119, 11, 32], [0, 0, 0]]  # bicycle; unknown: black
    assert len(PALETTE) == 34
