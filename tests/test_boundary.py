"""Boundary maps: pix2pixHD's 4-neighbour rule on crafted and real Cityscapes instance maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from img2img.boundary import (
    boundary_map,
    plan_boundaries,
    read_boundary,
    write_boundaries,
    write_boundary,
)
from img2img.cli import app
from img2img.data.io import read_ids
from tests.conftest import CITYSCAPES

needs_cityscapes = pytest.mark.skipif(
    not CITYSCAPES.is_dir(), reason=f"{CITYSCAPES} not present"
)


def naive_boundary(ids: np.ndarray) -> np.ndarray:
    """The rule written out pixel by pixel: any in-image 4-neighbour with another id."""
    h, w = ids.shape
    out = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                ny, nx = y + dy, x + dx
                if 0 <= ny < h and 0 <= nx < w and ids[ny, nx] != ids[y, x]:
                    out[y, x] = True
    return out


def padded_boundary(ids: np.ndarray) -> np.ndarray:
    """The rule by edge padding (a pixel outside equals its inner neighbour, so never differs)."""
    p = np.pad(ids, 1, mode="edge")
    centre = p[1:-1, 1:-1]
    return (
        (p[1:-1, :-2] != centre) | (p[1:-1, 2:] != centre)
        | (p[:-2, 1:-1] != centre) | (p[2:, 1:-1] != centre)
    )


def _edges(ids: np.ndarray) -> np.ndarray:
    return boundary_map(torch.from_numpy(ids.astype(np.int64))).numpy()


def test_both_sides_of_a_vertical_edge_are_marked() -> None:
    ids = np.zeros((4, 6), np.int64)
    ids[:, 3:] = 1
    expected = np.zeros((4, 6), bool)
    expected[:, 2:4] = True
    assert np.array_equal(_edges(ids), expected)


def test_single_pixel_marks_itself_and_its_four_neighbours_not_the_diagonals() -> None:
    ids = np.zeros((5, 5), np.int64)
    ids[2, 2] = 7
    expected = np.zeros((5, 5), bool)
    expected[2, 1:4] = True
    expected[1:4, 2] = True
    assert np.array_equal(_edges(ids), expected)


def test_image_border_is_not_a_boundary_and_uniform_maps_have_none() -> None:
    assert not _edges(np.full((3, 4), 26001)).any()
    ids = np.arange(12).reshape(3, 4)  # every pixel its own instance
    assert _edges(ids).all()


def test_batched_maps_do_not_bleed_into_each_other() -> None:
    ids = torch.zeros(2, 1, 4, 4, dtype=torch.int64)
    ids[1] = 5  # a different constant map: no boundary inside either
    assert not boundary_map(ids).any()
    assert boundary_map(ids).shape == ids.shape


@pytest.mark.parametrize(
    ("a", "b"),
    [(26001, 26002), (256, 512), (1, 65537), (70000, 70000 + 65536)],
    ids=["16-bit neighbours", "equal low bytes", "beyond 16 bits", "equal low 16 bits"],
)
def test_ids_compare_at_full_precision(a: int, b: int) -> None:
    ids = np.array([[a, a, b, b]], np.int64)
    assert _edges(ids).tolist() == [[False, True, True, False]]


def test_16bit_png_boundary(tmp_path: Path) -> None:
    ids = np.array([[26001, 26001, 26002], [26001, 26001, 26002]], np.uint16)
    Image.fromarray(ids).save(tmp_path / "inst.png")
    assert read_boundary(tmp_path / "inst.png")[0].tolist() == [[False, True, True]] * 2


def test_32bit_map_boundary(tmp_path: Path) -> None:
    ids = np.array([[70000, 70000 + 65536, 70000 + 65536]], np.int32)  # equal low 16 bits
    Image.fromarray(ids, mode="I").save(tmp_path / "inst.tif")
    assert read_boundary(tmp_path / "inst.tif")[0].tolist() == [[True, True, False]]


def test_rgb_coded_instances_differ_by_any_channel(tmp_path: Path) -> None:
    rgb = np.zeros((1, 4, 3), np.uint8)
    rgb[0, :2] = (10, 20, 30)
    rgb[0, 2:] = (10, 20, 31)  # only blue differs
    Image.fromarray(rgb).save(tmp_path / "inst.png")
    assert read_boundary(tmp_path / "inst.png")[0].tolist() == [[False, True, True, False]]


def test_write_boundary_values(tmp_path: Path) -> None:
    ids = np.zeros((3, 4), np.uint8)
    ids[:, 2:] = 9
    Image.fromarray(ids).save(tmp_path / "inst.png")
    write_boundary(tmp_path / "inst.png", tmp_path / "b.png")
    with Image.open(tmp_path / "b.png") as img:
        assert img.mode == "L"
        assert np.asarray(img).tolist() == [[0, 255, 255, 0]] * 3
    write_boundary(tmp_path / "inst.png", tmp_path / "raw.png", values=(0, 1))
    assert np.asarray(Image.open(tmp_path / "raw.png")).tolist() == [[0, 1, 1, 0]] * 3
    with pytest.raises(ValueError, match="values"):
        write_boundary(tmp_path / "inst.png", tmp_path / "x.png", values=(0, 256))


@needs_cityscapes
def test_real_cityscapes_maps_equal_the_straightforward_rule() -> None:
    maps = sorted((CITYSCAPES / "train_inst").glob("*.png"))
    maps += sorted((CITYSCAPES / "test_inst").glob("*.png"))[:4]
    assert maps
    for path in maps:
        ids = read_ids(path)[0].numpy()
        assert ids.shape == (1024, 2048) and ids.max() >= 1000  # 16-bit class*1000+k ids
        ours = read_boundary(path)[0].numpy()
        assert np.array_equal(ours, padded_boundary(ids)), path.name
        assert 0.001 < ours.mean() < 0.2


@needs_cityscapes
def test_real_cityscapes_crop_equals_the_pixel_loop() -> None:
    path = sorted((CITYSCAPES / "train_inst").glob("*.png"))[0]
    ids = read_ids(path)[0].numpy()
    # the 96x96 window with the most distinct instances
    windows = [(y, x) for y in range(0, 1024 - 96, 64) for x in range(0, 2048 - 96, 64)]
    y, x = max(windows, key=lambda p: len(np.unique(ids[p[0]:p[0] + 96, p[1]:p[1] + 96])))
    crop = np.ascontiguousarray(ids[y:y + 96, x:x + 96])
    assert len(np.unique(crop)) >= 4
    assert np.array_equal(_edges(crop), naive_boundary(crop))


def _inst(path: Path, value: int = 3) -> Path:
    ids = np.zeros((8, 8), np.uint16)
    ids[2:5, 2:5] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(ids).save(path)
    return path


def test_plan_beside_inputs_and_into_a_folder(tmp_path: Path) -> None:
    a = _inst(tmp_path / "in" / "a_instanceIds.png")
    b = _inst(tmp_path / "in" / "sub" / "b.png")
    (tmp_path / "in" / "old_boundary.png").write_bytes(a.read_bytes())  # an earlier output
    beside = plan_boundaries(tmp_path / "in")
    assert [(j.src, j.dst) for j in beside] == [
        (a, a.with_name("a_instanceIds_boundary.png")),
        (b, b.with_name("b_boundary.png")),
    ]
    out = tmp_path / "in" / "out"  # inside the input folder: its files are never inputs
    _inst(out / "c.png")
    into = plan_boundaries(tmp_path / "in", out)
    assert [j.dst for j in into] == [
        out / "a_instanceIds_boundary.png", out / "sub" / "b_boundary.png"
    ]
    assert plan_boundaries(a, tmp_path / "x.png")[0].dst == tmp_path / "x.png"
    folder = tmp_path / "dir"
    assert plan_boundaries(a, folder)[0].dst == folder / "a_instanceIds_boundary.png"


def test_plan_refuses_two_inputs_for_one_output(tmp_path: Path) -> None:
    _inst(tmp_path / "a.png")
    _inst(tmp_path / "a.tif")
    with pytest.raises(ValueError, match="would both be written"):
        plan_boundaries(tmp_path)


def test_a_corrupt_map_never_stops_the_folder(tmp_path: Path) -> None:
    _inst(tmp_path / "a.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    _inst(tmp_path / "c.png")
    summary = write_boundaries(plan_boundaries(tmp_path))
    assert summary.written == 2 and summary.kept == 0
    assert [p.name for p, _ in summary.failed] == ["broken.png"]
    assert "broken.png" in summary.failed[0][1]
    again = write_boundaries(plan_boundaries(tmp_path))
    assert (again.written, again.kept) == (0, 2)


runner = CliRunner()


def test_cli_writes_a_folder_and_keeps_existing_outputs(tmp_path: Path) -> None:
    _inst(tmp_path / "in" / "a.png")
    _inst(tmp_path / "in" / "b.png", value=40000)
    result = runner.invoke(app, ["boundary", str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "2 written" in result.output
    with Image.open(tmp_path / "out" / "b_boundary.png") as img:
        array = np.asarray(img)
    assert set(np.unique(array)) == {0, 255}
    ids = read_ids(tmp_path / "in" / "b.png")[0].numpy()
    assert np.array_equal(array > 0, padded_boundary(ids))
    stamp = (tmp_path / "out" / "a_boundary.png").stat().st_mtime_ns
    kept = runner.invoke(app, ["boundary", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                               "--values", "0,1"])
    assert kept.exit_code == 0 and "2 kept" in kept.output
    assert (tmp_path / "out" / "a_boundary.png").stat().st_mtime_ns == stamp
    raw = runner.invoke(app, ["boundary", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                              "--values", "0,1", "--overwrite"])
    assert raw.exit_code == 0 and "2 written" in raw.output
    assert set(np.unique(np.asarray(Image.open(tmp_path / "out" / "a_boundary.png")))) == {0, 1}


def test_cli_reports_failures_and_bad_values(tmp_path: Path) -> None:
    _inst(tmp_path / "a.png")
    (tmp_path / "broken.png").write_bytes(b"junk")
    result = runner.invoke(app, ["boundary", str(tmp_path)])
    assert result.exit_code == 1
    assert "1 written" in result.output and "broken.png" in result.output
    assert (tmp_path / "a_boundary.png").is_file()
    bad = runner.invoke(app, ["boundary", str(tmp_path), "--values", "0,300"])
    assert bad.exit_code == 2 and "--values" in bad.output
