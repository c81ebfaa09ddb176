"""``img2img datasets ...`` and ``train --data NAME`` downloading what it needs."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from img2img.cli import app
from img2img.hub.datasets import DATASETS_ENV, get_published
from img2img.hub.download import MIRROR_ENV
from tests.archives import tar_bytes
from tests.conftest import CITYSCAPES

runner = CliRunner()

TINY = ["--netG", "unet_128", "--ngf", "4", "--ndf", "4", "--load-size", "142",
        "--crop-size", "128", "--num-workers", "0", "--device", "cpu"]


def _words(text: str) -> str:
    return " ".join(text.split())


def _png(path: Path, seed: int, size=(16, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty datasets folder ($IMG2IMG_DATASETS), working from another folder."""
    store = tmp_path / "store"
    store.mkdir()
    monkeypatch.setenv(DATASETS_ENV, str(store))
    monkeypatch.chdir(tmp_path)
    return store


@pytest.fixture
def mirror(file_server, monkeypatch: pytest.MonkeyPatch):
    """facades.tar.gz (side-by-side pairs, as published) served through IMG2IMG_MIRROR."""
    members = []
    for i in range(2):
        data = io.BytesIO()
        rng = np.random.default_rng(i)
        Image.fromarray(rng.integers(0, 256, (16, 32, 3), dtype=np.uint8)).save(data, "PNG")
        members.append((f"facades/train/{i}.png", data.getvalue()))
    target = file_server.root / "m" / "pix2pix" / "datasets" / "facades.tar.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(tar_bytes(members))
    monkeypatch.setenv(MIRROR_ENV, f"{file_server.url}/m")
    return file_server


def test_list_shows_every_dataset_and_what_is_present(store: Path) -> None:
    (store / "horse2zebra").mkdir()
    rows = json.loads(runner.invoke(app, ["datasets", "list", "--json"]).stdout)
    assert len(rows) == 17
    by_name = {row["name"]: row for row in rows}
    assert by_name["horse2zebra"]["installed"] == str(store / "horse2zebra")
    assert by_name["pix2pix/facades"]["installed"] is None
    assert by_name["cityscapes"]["downloadable"] is False
    table = runner.invoke(app, ["datasets", "list"])
    assert table.exit_code == 0 and "edges2handbags" in table.output


def test_download_installs_and_explains_what_it_cannot(store: Path, mirror) -> None:
    result = runner.invoke(app, ["datasets", "download", "pix2pix/facades"])
    assert result.exit_code == 0, result.output
    assert "facades installed in" in _words(result.output)
    assert sorted(p.name for p in (store / "facades" / "train").iterdir()) == ["0.png", "1.png"]
    again = runner.invoke(app, ["datasets", "download", "pix2pix/facades"])
    assert again.exit_code == 0 and "already in" in again.output

    refused = runner.invoke(app, ["datasets", "download", "facades", "cityscapes", "--dir",
                                  str(store / "other")])
    assert refused.exit_code == 1
    words = _words(refused.output)
    assert "expected one of: pix2pix/facades, cyclegan/facades" in words
    assert "cannot be downloaded" in words and "cityscapes-dataset.com" in words
    assert f"--leftimg8bit leftImg8bit {store / 'other' / 'cityscapes'}" in words


def test_train_downloads_a_missing_dataset_and_says_so(store: Path, mirror) -> None:
    result = runner.invoke(app, ["train", "pix2pix", "--data", "facades", *TINY, "--dry-run"])
    assert result.exit_code == 0, result.output
    words = _words(result.output)
    assert "facades is not installed: downloading it from" in words
    assert "not asking: no terminal" in words
    assert re.search(r"downloading facades\.\S+: \d+(\.\d)? (bytes|kB|MB)$", result.output, re.M)
    assert "2 examples" in words and "dry run" in words
    assert (store / "facades" / "train" / "0.png").is_file()


def test_train_asks_on_a_terminal(store: Path, mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("img2img.cli.datasets._interactive", lambda: True)
    args = ["train", "pix2pix", "--data", "facades", *TINY, "--dry-run"]
    declined = runner.invoke(app, args, input="n\n")
    assert declined.exit_code == 2 and "not downloaded" in _words(declined.output)
    assert not (store / "facades").exists()
    accepted = runner.invoke(app, args, input="y\n")
    assert accepted.exit_code == 0 and re.search(r"Download it \(\d+(\.\d)? (bytes|kB|MB)\) "
                                                 r"from http", _words(accepted.output))
    assert (store / "facades").is_dir()


def test_train_with_yes_does_not_ask(store: Path, mirror, monkeypatch) -> None:
    monkeypatch.setattr("img2img.cli.datasets._interactive", lambda: True)
    result = runner.invoke(app, ["train", "pix2pix", "--data", "facades", "--yes", *TINY,
                                 "--dry-run"])
    assert result.exit_code == 0 and "Download it" not in result.output
    assert "not asking" not in result.output and (store / "facades").is_dir()


def test_train_on_cityscapes_says_how_to_get_it(store: Path) -> None:
    result = runner.invoke(app, ["train", "pix2pix", "--data", "cityscapes", *TINY])
    assert result.exit_code == 2
    assert "img2img datasets prepare cityscapes" in _words(result.output)


def test_train_stops_before_starting_when_no_image_can_be_read(tmp_path: Path) -> None:
    for side in ("A", "B"):
        (tmp_path / "data" / "train" / side).mkdir(parents=True)
        (tmp_path / "data" / "train" / side / "x.png").write_bytes(b"junk")
    runs = tmp_path / "runs"
    result = runner.invoke(app, ["train", "pix2pix", "--data", str(tmp_path / "data"), *TINY,
                                 "--runs-dir", str(runs)])
    assert result.exit_code == 2
    assert "training would fail: none of the 1 examples can be read" in _words(result.output)
    assert not runs.exists()


def test_combine_split_and_edges_commands(tmp_path: Path) -> None:
    for i in range(3):
        _png(tmp_path / "A" / "train" / f"{i}.png", i)
        _png(tmp_path / "B" / "train" / f"{i}.png", i + 10, size=(16, 32) if i else (8, 8))
    out = tmp_path / "ab"
    failed = runner.invoke(app, ["datasets", "combine", str(tmp_path / "A"), str(tmp_path / "B"),
                                 str(out), "--ext", ".png", "-j", "2"])
    assert failed.exit_code == 1  # one pair of different sizes
    assert "2 written (2 train), 0 kept" in _words(failed.output) and "--resize" in failed.output
    fixed = runner.invoke(app, ["datasets", "combine", str(tmp_path / "A"), str(tmp_path / "B"),
                                str(out), "--ext", ".png", "--resize"])
    assert fixed.exit_code == 0 and "1 written (1 train), 2 kept" in _words(fixed.output)

    kept = runner.invoke(app, ["datasets", "combine", str(tmp_path / "A"), str(tmp_path / "B"),
                               str(tmp_path / "same_format"), "--resize"])
    assert kept.exit_code == 0, kept.output  # no --ext: PNG in, PNG out
    assert sorted(p.name for p in (tmp_path / "same_format" / "train").iterdir()) == [
        "0.png", "1.png", "2.png"]

    back = runner.invoke(app, ["datasets", "split", str(out), str(tmp_path / "back")])
    assert back.exit_code == 0 and "3 written" in back.output
    assert (tmp_path / "back" / "B" / "train" / "2.png").is_file()

    edges = runner.invoke(app, ["datasets", "edges", str(tmp_path / "A"), str(tmp_path / "e"),
                                "--size", "16", "--split", "0.5"])
    assert edges.exit_code == 0, edges.output
    assert "3 photos: 2 to train, 1 to val" in _words(edges.output)
    assert len(list((tmp_path / "e" / "train").rglob("*.jpg"))) == 2  # keys keep sub-folders
    bad = runner.invoke(app, ["datasets", "edges", str(tmp_path / "A"), str(tmp_path / "e2"),
                              "--low", "3", "--high", "1"])
    assert bad.exit_code == 2 and "expected 0 < low < high" in bad.output


def test_check_command_exit_codes(tmp_path: Path) -> None:
    for i in range(2):
        for side in ("A", "B"):
            _png(tmp_path / "ds" / "train" / side / f"{i}.png", i)
    _png(tmp_path / "ds" / "train" / "A" / "extra.png", 5)
    ok = runner.invoke(app, ["datasets", "check", str(tmp_path / "ds")])
    assert ok.exit_code == 0, ok.output
    assert "pix2pix layout" in ok.output
    assert "OK: all 4 files decoded; training would not fail" in _words(ok.output)
    assert "extra.png" in ok.output and "no partner file" in _words(ok.output)
    strict = runner.invoke(app, ["datasets", "check", str(tmp_path / "ds"), "--strict"])
    assert strict.exit_code == 1
    report = json.loads(runner.invoke(app, ["datasets", "check", str(tmp_path / "ds"),
                                            "--json", "--fast"]).stdout)
    assert report["ok"] and not report["thorough"] and report["splits"][0]["examples"] == 2
    (tmp_path / "empty").mkdir()
    none = runner.invoke(app, ["datasets", "check", str(tmp_path / "empty")])
    assert none.exit_code == 1 and "no dataset layout found" in _words(none.output)
    unknown = runner.invoke(app, ["datasets", "check", str(tmp_path / "ds"), "--family", "x"])
    assert unknown.exit_code == 2 and "expected one of: pix2pix" in _words(unknown.output)


def test_check_names_what_could_not_be_decoded_and_fails(tmp_path: Path) -> None:
    for i in range(3):
        for side in ("A", "B"):
            _png(tmp_path / "ds" / "train" / side / f"{i}.png", i + (10 if side == "B" else 0))
    truncated = tmp_path / "ds" / "train" / "B" / "1.png"
    truncated.write_bytes(truncated.read_bytes()[:60])  # the header survives, the pixels not
    result = runner.invoke(app, ["datasets", "check", str(tmp_path / "ds")])
    assert result.exit_code == 1, result.output
    words = _words(result.output)
    assert (f"FAIL: 1 file(s) cannot be decoded: {truncated}; training would skip their examples "
            "(6 files: 4 decoded, 1 cannot be decoded, 1 left unread with a partner that failed; "
            "0 errors, 1 warnings)") in words
    assert "OK" not in words and "every file decoded" not in words
    report = json.loads(runner.invoke(app, ["datasets", "check", str(tmp_path / "ds"),
                                            "--json"]).stdout)
    assert report["ok"] and not report["passed"]
    assert (report["files"], report["read"], report["failed"]) == (6, 4, [str(truncated)])
    fast = runner.invoke(app, ["datasets", "check", str(tmp_path / "ds"), "--fast"])
    assert fast.exit_code == 0, fast.output
    assert "OK: all 6 files read (headers only, --fast); training would not fail" in _words(
        fast.output)


def test_check_detects_the_layout_from_every_split(tmp_path: Path) -> None:
    stems = {"trainA": ["h1", "h2"], "trainB": ["z1"], "testA": ["0001"], "testB": ["0001"]}
    for n, (folder, stem) in enumerate((f, s) for f, names in stems.items() for s in names):
        _png(tmp_path / "ds" / folder / f"{stem}.png", n, size=(16, 16))
    for phase in ([], ["--phase", "train"], ["--phase", "test"]):
        result = runner.invoke(app, ["datasets", "check", str(tmp_path / "ds"), *phase])
        assert result.exit_code == 0, result.output
        assert "ds: cyclegan layout (also readable as cut data)" in _words(result.output)
        report = json.loads(runner.invoke(app, ["datasets", "check", str(tmp_path / "ds"),
                                                *phase, "--json"]).stdout)
        assert [(s["split"], s["examples"], s["checked"]) for s in report["splits"]] == [
            ("train", 3, phase != ["--phase", "test"]), ("test", 2, phase != ["--phase", "train"])]
    missing = runner.invoke(app, ["datasets", "check", str(tmp_path / "ds"), "--phase", "val"])
    assert missing.exit_code == 1 and "has no 'val' split" in _words(missing.output)

    for i, size in enumerate([(48, 48), (40, 60)]):  # (height, width): photos, not A|B pairs
        _png(tmp_path / "photos" / f"{i}.png", i, size=size)
    photos = ["datasets", "check", str(tmp_path / "photos")]
    assert runner.invoke(app, photos).exit_code == 1
    trusted = runner.invoke(app, [*photos, "--trust-side-by-side"])
    assert trusted.exit_code == 0 and "OK: all 2 files decoded" in _words(trusted.output)


def test_train_refuses_single_photos_read_as_pairs(tmp_path: Path) -> None:
    for i, size in enumerate([(48, 48), (40, 60), (36, 48)]):  # (height, width)
        _png(tmp_path / "photos" / f"{i}.png", i, size=size)
    runs = tmp_path / "runs"
    data = ["train", "pix2pix", "--data", str(tmp_path / "photos"), *TINY]
    refused = runner.invoke(app, [*data, "--runs-dir", str(runs)])
    assert refused.exit_code == 2, refused.output
    words = _words(refused.output)
    assert "training would fail:" in words
    assert "3 files do not look like side-by-side A|B pairs: their sizes vary" in words
    assert "[train]" not in words  # the folder has no split folders: none is named
    assert not runs.exists()
    trusted = runner.invoke(app, [*data, "--trust-side-by-side", "--dry-run"])
    assert trusted.exit_code == 0, trusted.output
    words = _words(trusted.output)
    assert "read as A|B pairs all the same (--trust-side-by-side)" in words
    assert "from the training images (no other split" in words and "'val'" not in words


def test_datasets_help_has_examples() -> None:
    for command in (["list"], ["download"], ["combine"], ["split"], ["edges"], ["boundaries"],
                    ["check"],
                    ["prepare", "cityscapes"]):
        result = runner.invoke(app, ["datasets", *command, "--help"])
        assert result.exit_code == 0 and "Examples" in result.output, command


def test_registry_names_in_the_help_exist() -> None:
    assert get_published("edges2shoes").layout == "paired"


@pytest.mark.skipif(not CITYSCAPES.is_dir(), reason=f"{CITYSCAPES} not present")
def test_boundaries_of_real_instance_maps(tmp_path: Path) -> None:
    import os

    import torch

    from img2img.boundary import boundary_map
    from img2img.data.io import read_ids

    inst = tmp_path / "train_inst"
    inst.mkdir()
    name = "aachen_000001_000019_gtFine_instanceIds.png"
    os.symlink(CITYSCAPES / "train_inst" / name, inst / name)
    (inst / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "train_boundary"
    result = runner.invoke(app, ["datasets", "boundaries", str(inst), str(out), "-j", "2"])
    assert result.exit_code == 1 and "1 written" in result.output and "broken.png" in result.output
    written = np.asarray(Image.open(out / name.replace(".png", "_boundary.png")))
    expected = boundary_map(read_ids(inst / name))[0].numpy()
    assert np.array_equal(written, np.where(expected, 255, 0)) and expected.any()
    assert torch.equal(torch.from_numpy(written > 0), torch.from_numpy(expected))
    again = runner.invoke(app, ["datasets", "boundaries", str(inst), str(out)])
    assert "1 kept" in _words(again.output)
