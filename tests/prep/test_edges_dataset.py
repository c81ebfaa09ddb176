"""edges_dataset(): photos -> an edges|photo pix2pix dataset with a seeded train/val split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.data.discover import find_pairs, split_ab
from img2img.data.io import read_image, to_uint8
from img2img.prep.edges import EdgeOptions, edges_dataset, fit_square, thicken, train_count


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six crops of real photographs (scikit-image, public domain / CC0), of varied shapes."""
    from skimage import data

    root = tmp_path_factory.mktemp("photos")
    sources = [data.astronaut(), data.chelsea(), data.coffee()]
    for i, (h, w) in enumerate([(90, 120), (120, 90), (100, 100), (80, 160), (64, 64), (70, 90)]):
        photo = sources[i % 3][:h, :w]
        folder = root / ("indoor" if i % 2 else "")
        folder.mkdir(exist_ok=True)
        Image.fromarray(photo).save(folder / f"p{i}.png")
    return root


def test_every_photo_becomes_edges_beside_the_photo(photos: Path, tmp_path: Path) -> None:
    options = EdgeOptions(size=48)
    report = edges_dataset(photos, tmp_path / "out", options=options, split=0.7, seed=3,
                           ext=".png", workers=2)
    assert report.written == {"train": 4, "val": 2} and not report.failed
    files = find_pairs(tmp_path / "out", "train")
    assert files.side_by_side and len(files) == 4
    assert len(find_pairs(tmp_path / "out", "val")) == 2
    for split in ("train", "val"):
        for path in (tmp_path / "out" / split).rglob("*.png"):
            key = path.relative_to(tmp_path / "out" / split).with_suffix("")
            source = next(photos.glob(f"{key}.png"))
            edges, photo = split_ab(read_image(path))
            expected_photo = fit_square(to_uint8(read_image(source)), 48)
            assert np.array_equal(to_uint8(photo), expected_photo)
            expected_edges = options.draw(expected_photo)
            assert np.array_equal(to_uint8(edges)[..., 0], expected_edges)
            assert (expected_edges == 255).mean() > 0.6 and (expected_edges == 0).any()


def test_the_split_is_seeded_and_stable(photos: Path, tmp_path: Path) -> None:
    def assignment(seed: int, out: str) -> dict[str, list[str]]:
        edges_dataset(photos, tmp_path / out, options=EdgeOptions(size=16), split=0.5, seed=seed)
        return {s: sorted(p.name for p in (tmp_path / out / s).rglob("*.jpg"))
                for s in ("train", "val")}

    first = assignment(0, "a")
    assert first == assignment(0, "b") and len(first["train"]) == 3
    assert any(assignment(seed, f"s{seed}") != first for seed in (1, 2, 3))


def test_thickness_grows_the_lines() -> None:
    edges = np.full((20, 20), 255, np.uint8)
    edges[10, 3:17] = 0
    thick = thicken(edges, 3)
    assert (thick == 0).sum() > 2.5 * (edges == 0).sum() and thick[9, 10] == thick[11, 10] == 0
    assert thicken(edges, 1) is edges


def test_fit_square_scales_the_short_side_and_centres() -> None:
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 20:60] = 255  # the centre square
    out = fit_square(image, 20)
    assert out.shape == (20, 20, 3) and (out == 255).all()


def test_counts_bad_photos_and_options(photos: Path, tmp_path: Path) -> None:
    assert [train_count(n, 0.9) for n in (1, 2, 10, 100)] == [1, 1, 9, 90]
    assert train_count(5, 1.0) == 5
    with pytest.raises(ValueError, match="--split: 0"):
        train_count(5, 0.0)
    with pytest.raises(ValueError, match="expected 0 < low < high"):
        EdgeOptions(low=5, high=2)
    with pytest.raises(ValueError, match="--thickness"):
        EdgeOptions(thickness=0)
    broken = tmp_path / "mixed"
    broken.mkdir()
    (broken / "bad.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(np.full((20, 20, 3), 90, np.uint8)).save(broken / "ok.png")
    report = edges_dataset(broken, tmp_path / "out", options=EdgeOptions(size=16), split=1.0)
    assert report.written == {"train": 1} and [p.name for p, _ in report.failed] == ["bad.jpg"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        edges_dataset(tmp_path / "empty", tmp_path / "x")


def test_photo_tensors_round_trip_to_uint8() -> None:
    x = torch.rand(3, 5, 7)
    assert np.array_equal(to_uint8(x), np.rint(x.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
