"""Streams: label and instance maps keep their ids through resize, crop and flip, aligned with
the photo; the multi-stream dataset reads, seeds and skips like the paired one."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from img2img.data.dataset import StreamDataset, StreamFiles
from img2img.data.io import read_ids, read_image
from img2img.data.ranges import to_model_range
from img2img.data.streams import Stream, stream_kinds
from img2img.data.transforms import StreamTransform, resize_nearest
from tests.conftest import CITYSCAPES

# instance id -> photo colour; ids >= 1000 are class * 1000 + k, as in Cityscapes
COLOURS = {
    7: (0.30, 0.30, 0.30),
    26001: (0.80, 0.20, 0.20),
    26002: (0.20, 0.80, 0.20),
    33000: (0.20, 0.20, 0.80),
    24000: (0.70, 0.70, 0.20),
}
KINDS = {"photo": "image", "label": "label", "instance": "instance"}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _class_of(instance: torch.Tensor) -> torch.Tensor:
    return torch.where(instance >= 1000, instance // 1000, instance)


def _scene(height: int = 48, width: int = 64) -> dict[str, torch.Tensor]:
    """An asymmetric scene of rectangles: the photo's colour tells each pixel's instance."""
    instance = torch.full((1, height, width), 7, dtype=torch.int64)
    instance[:, 4:30, 3:25] = 26001
    instance[:, 20:44, 30:45] = 26002
    instance[:, 6:18, 48:62] = 33000
    instance[:, 34:46, 4:20] = 24000
    photo = torch.empty(3, height, width)
    for key, colour in COLOURS.items():
        photo[:, instance[0] == key] = torch.tensor(colour)[:, None]
    return {"photo": photo, "label": _class_of(instance), "instance": instance}


def _interior(ids: torch.Tensor, radius: int) -> torch.Tensor:
    """Pixels at least ``radius`` from the edges whose neighbourhood holds one id.

    Bicubic blur reaches neither them nor (across a crop edge) from regions cropped away.
    """
    x = ids.double()[None]
    size = 2 * radius + 1
    high = F.max_pool2d(x, size, stride=1)
    low = -F.max_pool2d(-x, size, stride=1)
    return F.pad(high == low, (radius,) * 4)[0, 0]


def _check_aligned(out: dict[str, torch.Tensor], ids_in: set[int], radius: int = 3) -> None:
    photo, label, instance = out["photo"], out["label"], out["instance"]
    assert instance.dtype == label.dtype == torch.int64 and photo.dtype == torch.float32
    assert set(instance.unique().tolist()) <= ids_in
    assert torch.equal(label, _class_of(instance))  # one nearest grid for both id maps
    inside = _interior(instance, radius)
    assert inside.sum() > 0.15 * inside.numel()  # enough pixels are checked
    keys = torch.tensor(sorted(COLOURS))
    palette = torch.tensor([COLOURS[int(k)] for k in keys])
    expected = palette[torch.searchsorted(keys, instance[0][inside])].T
    torch.testing.assert_close(photo[:, inside], expected, atol=0.02, rtol=0)


@pytest.mark.parametrize(
    ("mode", "load", "crop"),
    [
        ("resize_and_crop", 40, 32),  # shrink, then crop
        ("resize_and_crop", 100, 80),  # enlarge, then crop
        ("crop", 64, 40),
        ("scale_width_and_crop", 96, 64),
    ],
)
def test_ids_survive_and_stay_aligned_with_the_photo(mode: str, load: int, crop: int) -> None:
    scene = _scene()
    ids_in = set(scene["instance"].unique().tolist())
    transform = StreamTransform(mode, load_size=load, crop_size=crop, flip=True)
    flips = set()
    for seed in range(12):
        out = transform(scene, KINDS, _gen(seed))
        assert {t.shape[1:] for t in out.values()} == {(crop, crop)}
        _check_aligned(out, ids_in)
        flips.add(transform.get_params(48, 64, _gen(seed)).flip)
    assert flips == {True, False}


@pytest.mark.parametrize(("mode", "load"), [("scale_width", 40), ("scale_width", 128), ("none", 0)])
def test_without_crop_every_id_survives(mode: str, load: int) -> None:
    scene = _scene(48, 62)  # "none" rounds 62 to 64
    ids_in = set(scene["instance"].unique().tolist())
    out = StreamTransform(mode, load_size=max(load, 1), crop_size=1)(scene, KINDS, _gen(3))
    assert set(out["instance"].unique().tolist()) == ids_in
    _check_aligned(out, ids_in)


def test_streams_of_other_sizes_are_aligned_to_the_first() -> None:
    scene = _scene()
    big = {
        "photo": scene["photo"],
        "label": resize_nearest(scene["label"], (96, 128)),
        "instance": resize_nearest(scene["instance"], (24, 32)),
    }
    out = StreamTransform("resize_and_crop", 40, 32)(big, KINDS, _gen(0))
    assert {t.shape for t in out.values()} == {(3, 32, 32), (1, 32, 32)}
    assert set(out["instance"].unique().tolist()) <= set(COLOURS)


def test_draws_the_same_three_numbers_as_for_two_images() -> None:
    transform = StreamTransform("resize_and_crop", 40, 32)
    g = _gen(9)
    transform(_scene(), KINDS, g)
    reference = _gen(9)
    torch.rand(3, generator=reference, dtype=torch.float64)
    assert torch.equal(g.get_state(), reference.get_state())


def test_resize_nearest_picks_pixel_centres_and_keeps_dtype() -> None:
    ids = torch.tensor([[[10, 20, 30, 40]]], dtype=torch.int32)
    assert resize_nearest(ids, (1, 2)).tolist() == [[[20, 40]]]  # centres 1 and 3
    assert resize_nearest(ids, (2, 8)).tolist() == [[[10, 10, 20, 20, 30, 30, 40, 40]] * 2]
    assert resize_nearest(ids, (1, 4)) is ids
    palette = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16)
    out = resize_nearest(palette, (37, 5))
    assert out.dtype == torch.uint8 and set(out.unique().tolist()) <= set(range(256))


def test_transform_checks_streams() -> None:
    transform = StreamTransform("none", 32, 32)
    with pytest.raises(ValueError, match="'label' .*expected integer ids with 1 channel"):
        transform({"label": torch.zeros(1, 8, 8)}, {"label": "label"}, _gen(0))
    with pytest.raises(ValueError, match="'photo' .*expected float pixels"):
        transform({"photo": torch.zeros(3, 8, 8, dtype=torch.long)}, {"photo": "image"}, _gen(0))
    with pytest.raises(ValueError, match="'x': kind None is not valid"):
        transform({"x": torch.zeros(3, 8, 8)}, {}, _gen(0))
    with pytest.raises(ValueError, match="C x H x W"):
        transform({"x": torch.zeros(8, 8)}, {"x": "image"}, _gen(0))


def test_stream_spec() -> None:
    assert Stream("label", "label").is_ids and not Stream("photo").is_ids
    with pytest.raises(ValueError, match="kind 'depth' is not valid"):
        Stream("d", "depth")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stream .photo.: channels: 2 is not valid"):
        Stream("photo", "image", channels=2)
    with pytest.raises(ValueError, match="'key' is not valid"):
        Stream("key")
    with pytest.raises(ValueError, match="used twice"):
        stream_kinds([Stream("a"), Stream("a", "label")])
    with pytest.raises(ValueError, match="at least one stream"):
        stream_kinds([])


# --- the multi-stream dataset over files ----------------------------------------------------


STREAMS = (Stream("photo", "image", 3), Stream("label", "label"), Stream("instance", "instance"))


def _write_scene_files(root: Path, keys: list[str]) -> list[StreamFiles]:
    scene = _scene()
    photo = (scene["photo"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    items = []
    for key in keys:
        files = {name: root / name / f"{key}.png" for name in KINDS}
        for path in files.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo).save(files["photo"])
        Image.fromarray(scene["label"][0].numpy().astype(np.uint8)).save(files["label"])
        Image.fromarray(scene["instance"][0].numpy().astype(np.uint16)).save(files["instance"])
        items.append(StreamFiles(key, files))
    return items


def test_dataset_returns_every_stream_in_its_form(tmp_path: Path) -> None:
    items = _write_scene_files(tmp_path, ["a", "b"])
    ds = StreamDataset(items, STREAMS, StreamTransform("resize_and_crop", 40, 32), seed=1)
    sample = ds[(1, 5)]
    assert sample["key"] == "b" and "skipped" not in sample and ds.skipped == []
    assert sample["photo"].shape == (3, 32, 32) and sample["photo"].dtype == torch.float32
    assert sample["photo"].min() >= -1 and sample["photo"].max() <= 1
    assert sample["label"].shape == sample["instance"].shape == (1, 32, 32)
    out = {
        "photo": (sample["photo"] + 1) / 2,
        "label": sample["label"],
        "instance": sample["instance"],
    }
    _check_aligned(out, set(COLOURS))
    again = StreamDataset(items, STREAMS, StreamTransform("resize_and_crop", 40, 32), seed=1)
    assert all(torch.equal(sample[n], again[(1, 5)][n]) for n in KINDS)
    assert torch.equal(ds[0]["instance"], ds[(0, ds._parse_key(0)[1])]["instance"])


def test_dataset_untransformed_sample_is_exact(tmp_path: Path) -> None:
    items = _write_scene_files(tmp_path, ["a"])
    sample = StreamDataset(items, STREAMS, StreamTransform("none", 1, 1, flip=False))[0]
    scene = _scene()
    assert torch.equal(sample["instance"], scene["instance"])
    assert torch.equal(sample["label"], scene["label"])
    assert torch.equal(sample["photo"], to_model_range(read_image(items[0].files["photo"])))


def test_dataset_skips_a_bad_instance_map(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    items = _write_scene_files(tmp_path, ["a", "b", "c"])
    bad = items[1].files["instance"]
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    ds = StreamDataset(items, STREAMS, StreamTransform("none", 1, 1), source="scenes [train]")
    with caplog.at_level(logging.WARNING, logger="img2img.data.dataset"):
        first, second = ds[1], ds[(1, 8)]
    assert first["key"] == second["key"] == "c"
    assert "skipped" not in first and ds.skipped == [bad]  # reported beside, not in, samples
    assert sum("instance/b.png" in r.getMessage() for r in caplog.records) == 1


def test_dataset_checks_its_streams_and_files(tmp_path: Path) -> None:
    items = [StreamFiles("a", {"photo": tmp_path / "a.png", "label": tmp_path / "l.png"})]
    with pytest.raises(
        ValueError, match=r"scenes: example 'a' has no file for stream\(s\) instance"
    ):
        StreamDataset(items, STREAMS, StreamTransform(), source="scenes")
    with pytest.raises(ValueError, match="used twice"):
        StreamDataset(items, (Stream("photo"), Stream("photo")), StreamTransform())


@pytest.mark.skipif(not CITYSCAPES.is_dir(), reason="Cityscapes sample not present")
def test_cityscapes_ids_survive_resize_crop_flip() -> None:
    photo_path = sorted((CITYSCAPES / "train_img").glob("*.png"))[0]
    stem = photo_path.name.replace("_leftImg8bit.png", "")
    files = {
        "photo": photo_path,
        "label": CITYSCAPES / "train_label" / f"{stem}_gtFine_labelIds.png",
        "instance": CITYSCAPES / "train_inst" / f"{stem}_gtFine_instanceIds.png",
    }
    instance, label = read_ids(files["instance"]), read_ids(files["label"])
    ids_in = set(instance.unique().tolist())
    assert len(ids_in) > 10
    transform = StreamTransform("scale_width_and_crop", 256, 96)
    sample = StreamDataset([StreamFiles(stem, files)], STREAMS, transform)[(0, 0)]
    assert sample["photo"].shape == (3, 96, 96) and sample["instance"].shape == (1, 96, 96)
    assert set(sample["instance"].unique().tolist()) <= ids_in
    ids, kinds = {"label": label, "instance": instance}, {"label": "label", "instance": "instance"}
    flips = set()
    for seed in range(6):
        out = transform(ids, kinds, _gen(seed))
        flips.add(transform.get_params(1024, 2048, _gen(seed)).flip)
        assert set(out["instance"].unique().tolist()) <= ids_in  # no interpolated ids
        assert torch.equal(out["label"], _class_of(out["instance"]))
    assert flips == {True, False}
    # no crop at width 512: every id of the map survives the nearest resize
    out = StreamTransform("scale_width", 512, 256)(ids, kinds, _gen(0))
    assert out["instance"].shape == (1, 256, 512)
    assert set(out["instance"].unique().tolist()) == ids_in
