"""PairedImageDataset: layouts, direction, channels, determinism, corrupt files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.config import DataConfig
from img2img.data import dataset as dataset_module
from img2img.data import streams as streams_module
from img2img.data.dataset import PairedImageDataset
from img2img.data.io import LUMA_WEIGHTS, read_image
from img2img.data.ranges import to_model_range
from img2img.data.seeding import mix_seed
from img2img.data.transforms import PairedTransform

SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "edges2photos_mini"


def _write_ab_set(root: Path, count: int = 4, size: int = 16) -> list[np.ndarray]:
    """Side-by-side PNGs whose left (A) half is reddish and right (B) half bluish."""
    rng = np.random.default_rng(0)
    images = []
    (root / "train").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        ab = rng.integers(0, 100, size=(size, 2 * size, 3), dtype=np.uint8)
        ab[:, :size, 0] += 150
        ab[:, size:, 2] += 150
        Image.fromarray(ab).save(root / "train" / f"{i:02d}.png")
        images.append(ab)
    return images


def _cfg(root: Path, **kw: object) -> DataConfig:
    base = {"preprocess": "none", "flip": False, "load_size": 16, "crop_size": 16}
    return DataConfig(root=str(root), **{**base, **kw})


def _expected(half: np.ndarray) -> torch.Tensor:
    return to_model_range(torch.from_numpy(half.astype(np.float32) / 255).permute(2, 0, 1))


def test_side_by_side_sample_exact(tmp_path: Path) -> None:
    images = _write_ab_set(tmp_path)
    ds = PairedImageDataset(_cfg(tmp_path))
    assert len(ds) == 4 and ds.layout.startswith("train/*")
    sample = ds[2]
    assert sample["key"] == "02"
    assert torch.equal(sample["A"], _expected(images[2][:, :16]))
    assert torch.equal(sample["B"], _expected(images[2][:, 16:]))
    assert sample["A"].min() >= -1 and sample["A"].max() <= 1


def test_direction_and_channels(tmp_path: Path) -> None:
    images = _write_ab_set(tmp_path)
    ds = PairedImageDataset(_cfg(tmp_path, direction="BtoA"), input_nc=1, output_nc=3)
    sample = ds[1]
    assert sample["A"].shape == (1, 16, 16) and sample["B"].shape == (3, 16, 16)
    assert torch.equal(sample["B"], _expected(images[1][:, :16]))  # B is the old A (reddish)
    blue = torch.from_numpy(images[1][:, 16:].astype(np.float32) / 255).permute(2, 0, 1)
    r, g, b = LUMA_WEIGHTS
    gray = blue[0:1] * r + blue[1:2] * g + blue[2:3] * b
    torch.testing.assert_close(sample["A"], to_model_range(gray), atol=1e-6, rtol=0)


def test_two_folder_layout_mixed_formats(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for key in ("x", "y"):
        (tmp_path / "A" / "train").mkdir(parents=True, exist_ok=True)
        (tmp_path / "B" / "train").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (20, 24), dtype=np.uint8)).save(
            tmp_path / "A" / "train" / f"{key}.png"
        )
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(
            tmp_path / "B" / "train" / f"{key}.jpg"
        )
    ds = PairedImageDataset(
        _cfg(tmp_path, preprocess="resize_and_crop", load_size=18, crop_size=16, flip=True),
        input_nc=1,
        output_nc=3,
    )
    sample = ds[(1, 99)]
    assert ds.layout == "A/train + B/train" and sample["key"] == "y"
    assert sample["A"].shape == (1, 16, 16) and sample["B"].shape == (3, 16, 16)


def test_keys_are_deterministic(tmp_path: Path) -> None:
    _write_ab_set(tmp_path, size=24)
    ds = PairedImageDataset(
        _cfg(tmp_path, preprocess="resize_and_crop", load_size=24, crop_size=16, flip=True), seed=5
    )
    one, again = ds[(0, 11)], ds[(0, 11)]
    assert torch.equal(one["A"], again["A"]) and torch.equal(one["B"], again["B"])
    others = [ds[(0, s)]["A"] for s in range(12, 20)]
    assert any(not torch.equal(one["A"], o) for o in others)
    assert torch.equal(ds[3]["A"], ds[(3, mix_seed(5, 3))]["A"])
    assert torch.equal(ds[-1]["A"], ds[3]["A"])
    fresh = PairedImageDataset(ds.cfg, seed=5)  # another process would compute the same sample
    assert torch.equal(fresh[(0, 11)]["B"], one["B"])


def test_index_errors(tmp_path: Path) -> None:
    _write_ab_set(tmp_path)
    ds = PairedImageDataset(_cfg(tmp_path))
    with pytest.raises(IndexError, match="out of range"):
        ds[4]
    with pytest.raises(TypeError):
        ds[(1, 2, 3)]


def test_max_dataset_size(tmp_path: Path) -> None:
    _write_ab_set(tmp_path)
    ds = PairedImageDataset(_cfg(tmp_path, max_dataset_size=3))
    assert len(ds) == 3 and [p.key for p in ds.pairs] == ["00", "01", "02"]


def test_construction_does_not_decode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_ab_set(tmp_path / "ab")
    for side in ("A", "B"):
        (tmp_path / "two" / side).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "two" / side / "x.png")
    calls: list[Path] = []
    for module in (dataset_module, streams_module):
        monkeypatch.setattr(module, "read_image", lambda p, channels=3: calls.append(p))
    assert PairedImageDataset(_cfg(tmp_path / "ab")).files.side_by_side
    assert PairedImageDataset(_cfg(tmp_path / "two")).layout == "A + B"
    assert calls == []


@pytest.mark.parametrize("layout", ["side_by_side", "two_folder"])
def test_sample_is_the_paired_transform_of_its_files(tmp_path: Path, layout: str) -> None:
    images = _write_ab_set(tmp_path, count=2, size=24)
    if layout == "two_folder":
        for i, ab in enumerate(images):
            (tmp_path / "train" / f"{i:02d}.png").unlink()
            for side, half in (("A", ab[:, :24]), ("B", ab[:, 24:])):
                (tmp_path / "train" / side).mkdir(exist_ok=True)
                Image.fromarray(half).save(tmp_path / "train" / side / f"{i:02d}.png")
    cfg = _cfg(tmp_path, preprocess="resize_and_crop", load_size=28, crop_size=16, flip=True)
    ds = PairedImageDataset(cfg, seed=3)
    transform = PairedTransform("resize_and_crop", load_size=28, crop_size=16, flip=True)
    for key in (1, (0, 77)):
        sample = ds[key]
        index, seed = key if isinstance(key, tuple) else (key, mix_seed(3, key))
        a = torch.from_numpy(images[index][:, :24].astype(np.float32) / 255).permute(2, 0, 1)
        b = torch.from_numpy(images[index][:, 24:].astype(np.float32) / 255).permute(2, 0, 1)
        a, b = transform(a, b, torch.Generator().manual_seed(seed))
        assert torch.equal(sample["A"], to_model_range(a))
        assert torch.equal(sample["B"], to_model_range(b))


def test_corrupt_file_is_skipped_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    images = _write_ab_set(tmp_path)
    bad = tmp_path / "train" / "01.png"
    bad.write_text("this is not a png")
    ds = PairedImageDataset(_cfg(tmp_path))
    with caplog.at_level(logging.WARNING, logger="img2img.data.dataset"):
        first = ds[1]
        second = ds[(1, 3)]
    assert first["key"] == second["key"] == "02"  # the next good pair
    assert torch.equal(first["A"], _expected(images[2][:, :16]))
    assert ds.skipped == [bad]
    warnings = [r.getMessage() for r in caplog.records if "01.png" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not once per access


def test_corrupt_last_file_wraps_around(tmp_path: Path) -> None:
    _write_ab_set(tmp_path)
    (tmp_path / "train" / "03.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    assert PairedImageDataset(_cfg(tmp_path))[3]["key"] == "00"


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_odd_width_side_by_side_is_split_at_half(tmp_path: Path, direction: str) -> None:
    _write_ab_set(tmp_path, count=2)
    ab = np.zeros((16, 33, 3), np.uint8)
    ab[:, :16] = 200  # A: columns [0, 16); B: [16, 33), one column wider, a flat colour
    ab[:, 16:] = 40
    Image.fromarray(ab).save(tmp_path / "train" / "00.png")
    ds = PairedImageDataset(_cfg(tmp_path, direction=direction))
    sample = ds[0]
    assert sample["key"] == "00" and ds.skipped == []
    a, b = (sample["B"], sample["A"]) if direction == "BtoA" else (sample["A"], sample["B"])
    assert a.shape == b.shape == (3, 16, 16)  # B brought to A's size
    torch.testing.assert_close(a, torch.full_like(a, 200 / 255 * 2 - 1))
    torch.testing.assert_close(b, torch.full_like(b, 40 / 255 * 2 - 1))


def test_too_narrow_side_by_side_is_skipped(tmp_path: Path) -> None:
    _write_ab_set(tmp_path, count=2)
    Image.fromarray(np.zeros((16, 1, 3), np.uint8)).save(tmp_path / "train" / "00.png")
    ds = PairedImageDataset(_cfg(tmp_path))
    assert ds[0]["key"] == "01" and ds.skipped == [tmp_path / "train" / "00.png"]


def test_all_files_corrupt(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    for i in range(2):
        (tmp_path / "train" / f"{i}.jpg").write_text("nope")
    ds = PairedImageDataset(_cfg(tmp_path))
    with pytest.raises(ValueError, match="none of the 2 examples could be read"):
        ds[0]


def test_bad_arguments(tmp_path: Path) -> None:
    _write_ab_set(tmp_path)
    with pytest.raises(ValueError, match="input_nc"):
        PairedImageDataset(_cfg(tmp_path), input_nc=2)
    with pytest.raises(ValueError, match="max_dataset_size"):
        PairedImageDataset(_cfg(tmp_path, max_dataset_size=0))


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="bundled sample dataset not present")
def test_bundled_sample_dataset() -> None:
    counts = {}
    for phase in ("train", "val", "test"):
        ds = PairedImageDataset(
            DataConfig(root=str(SAMPLE), phase=phase, crop_size=64, load_size=72)
        )
        counts[phase] = len(ds)
        for pair in ds.pairs:
            assert read_image(pair.a).shape == (3, 256, 512), pair.a
        sample = ds[0]
        assert sample["A"].shape == sample["B"].shape == (3, 64, 64)
        assert ds.skipped == []
    assert counts["train"] >= 70 and counts["val"] >= 8 and counts["test"] >= 10
    size = sum(p.stat().st_size for p in SAMPLE.rglob("*.jpg"))
    assert size < 6 * 2**20
