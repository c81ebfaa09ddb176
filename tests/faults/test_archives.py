"""Hostile dataset archives served from 127.0.0.1: links, bombs, a disk too small or full.

Each is refused in one line naming the member or the folder; nothing lands outside the
datasets folder, nothing of an outside file is copied in, and no staging folder is left.
"""

from __future__ import annotations

import errno
import os
import shutil
import tarfile
import zlib
from collections import namedtuple
from pathlib import Path

import pytest
from typer.testing import CliRunner

from img2img.cli import app
from img2img.hub import archive as archive_module
from img2img.hub.archive import UnsafeArchiveError
from img2img.hub.datasets import DATASETS_ENV, get_published
from img2img.hub.install import fetch_archive, install_dataset, unpack_dataset
from img2img.hub.space import DiskFullError
from tests.archives import link, tar_bytes, zip_bytes, zip_symlink

FACADES = get_published("pix2pix/facades")  # a .tar.gz
HORSES = get_published("horse2zebra")  # a .zip
SYM, HARD = tarfile.SYMTYPE, tarfile.LNKTYPE
BOMB = 20 * 1024**2  # zeros: deflate packs them ~1000 times


def _dirs(*names: str) -> list[tarfile.TarInfo]:
    out = []
    for name in names:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        out.append(info)
    return out


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file beside the datasets folder that no archive may reach."""
    path = tmp_path / "victim"
    path.write_text("outside secret")
    return path


def _nothing_leaked(tmp_path: Path, root: Path) -> None:
    """No dataset, no staging folder, no copy of the outside file anywhere."""
    left = sorted(p.name for p in root.iterdir()) if root.exists() else []
    assert [n for n in left if not n.endswith(".tar.gz") and not n.endswith(".zip")
            and not n.endswith(".sha256")] == []
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.name != "victim":
            assert b"outside secret" not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("members", "named"),
    [
        ([("facades/a.png", b"1"), link("facades/sibling", "../victim")],
         "'facades/sibling' is a symbolic link to '../victim'"),
        ([*_dirs("facades/a", "facades/a/b", "facades/a/b/c"),
          link("facades/a/b/c/u", "../../../.."),
          link("facades/esc", "a/b/c/u/../../victim")], "'facades/a/b/c/u' is a symbolic link"),
        ([("facades/a.png", b"1"), link("facades/h", "facades/s", HARD),
          link("facades/s", "../../victim")], "'facades/h' is a hard link to 'facades/s'"),
        ([("facades/a.png", b"1"), link("facades/zero", "/dev/zero", HARD)],
         "'facades/zero' is a hard link to '/dev/zero'"),
        ([("facades/a.png", b"1"), link("facades/ab", "a.png")],
         "'facades/ab' is a symbolic link to 'a.png'"),
    ],
    ids=["sibling-escape", "chained-links", "hardlink-to-symlink", "hardlink-to-dev-zero",
         "link-inside"],
)
def test_tar_links_are_refused(mirror, tmp_path: Path, victim: Path, members,
                               named: str) -> None:
    mirror.publish(FACADES, tar_bytes(members))
    root = tmp_path / "datasets"
    with pytest.raises(UnsafeArchiveError, match=named) as caught:
        install_dataset(FACADES, root)
    assert "\n" not in str(caught.value) and "links are refused" in str(caught.value)
    _nothing_leaked(tmp_path, root)
    assert not any(root.iterdir())  # the refused archive is removed too


def test_zip_links_are_refused(mirror, tmp_path: Path, victim: Path) -> None:
    mirror.publish(HORSES, zip_bytes([("horse2zebra/trainA/a.jpg", b"1"),
                                      zip_symlink("horse2zebra/trainB", "../../victim")]))
    root = tmp_path / "datasets"
    with pytest.raises(UnsafeArchiveError,
                       match="'horse2zebra/trainB' is a symbolic link to '../../victim'"):
        install_dataset(HORSES, root)
    _nothing_leaked(tmp_path, root)


def test_members_pass_tarfiles_data_filter(tmp_path: Path, monkeypatch) -> None:
    """Python's own data filter runs on every tar member as a second line of defence."""
    if not hasattr(tarfile, "data_filter"):
        pytest.skip("tarfile.data_filter needs Python 3.11.4")
    seen: list[str] = []

    def spy(member: tarfile.TarInfo, dest: str):
        seen.append(member.name)
        if member.name.endswith("b.png"):
            raise tarfile.OutsideDestinationError(member, dest)
        return member

    monkeypatch.setattr(tarfile, "data_filter", spy)
    path = tmp_path / "x.tar.gz"
    path.write_bytes(tar_bytes([("facades/a.png", b"1"), ("facades/b.png", b"2")]))
    with pytest.raises(UnsafeArchiveError, match="'facades/b.png' is refused by tarfile's"):
        archive_module.extract_archive(path, tmp_path / "out")
    assert seen == ["facades/a.png", "facades/b.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tar.gz"]


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "zip-member"])
def test_decompression_bombs_are_refused_before_writing(mirror, tmp_path: Path,
                                                        kind: str) -> None:
    zeros = bytes(BOMB)
    if kind == "tar.gz":
        entry, data = FACADES, tar_bytes([("facades/zeros.png", zeros)])
    elif kind == "zip":
        entry, data = HORSES, zip_bytes([("horse2zebra/trainA/zeros.png", zeros)])
    else:  # a bomb hidden among incompressible files: the whole stays under the ratio
        entry, data = HORSES, zip_bytes([("horse2zebra/trainA/zeros.png", zeros),
                                         ("horse2zebra/trainB/noise.png", os.urandom(300_000))])
    assert len(zlib.compress(zeros)) < BOMB / 500
    mirror.publish(entry, data)
    root = tmp_path / "datasets"
    with pytest.raises(UnsafeArchiveError, match="refused as a decompression bomb") as caught:
        install_dataset(entry, root)
    assert "unpacks to 21.0 MB" in str(caught.value)
    assert not any(root.iterdir())


def test_an_archive_larger_than_the_free_space_is_refused(mirror, tmp_path: Path,
                                                          monkeypatch) -> None:
    mirror.publish(FACADES, tar_bytes([("facades/train/1.png", os.urandom(50_000))]))
    root = tmp_path / "datasets"
    got = fetch_archive(FACADES, root)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 20_000, 20_000))
    with pytest.raises(DiskFullError, match=r"unpacks to 50.0 kB but .*datasets has only "
                                            r"20.0 kB free \(needs 104.9 MB with a margin\)"):
        unpack_dataset(FACADES, got)
    assert sorted(p.name for p in root.iterdir()) == ["facades.tar.gz", "facades.tar.gz.sha256"]
    monkeypatch.undo()
    assert unpack_dataset(FACADES, got).path.is_dir()  # the kept archive installs later


def test_a_disk_that_fills_while_unpacking_names_the_folder(mirror, tmp_path: Path,
                                                           monkeypatch) -> None:
    mirror.publish(FACADES, tar_bytes([(f"facades/train/{i}.png", os.urandom(1000))
                                       for i in range(3)]))
    root = tmp_path / "datasets"
    write = archive_module._write_file
    calls = []

    def fill_up(source, dest, declared, name):
        calls.append(name)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(dest))
        write(source, dest, declared, name)

    monkeypatch.setattr(archive_module, "_write_file", fill_up)
    with pytest.raises(DiskFullError) as caught:
        install_dataset(FACADES, root)
    message = str(caught.value)
    assert message.startswith(f"{root}: no space left on its disk") and "Errno" not in message
    assert "it needs 104.9 MB" in message
    assert sorted(p.name for p in root.iterdir()) == ["facades.tar.gz", "facades.tar.gz.sha256"]


def test_a_disk_that_fills_on_the_provenance_record_names_the_folder(
    mirror, tmp_path: Path, monkeypatch
) -> None:
    mirror.publish(FACADES, tar_bytes([("facades/train/1.png", b"1")]))
    root = tmp_path / "datasets"

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("img2img.hub.install.atomic_write", full)
    with pytest.raises(DiskFullError, match=rf"{root}: no space left on its disk while "
                                            r"writing the record of facades"):
        install_dataset(FACADES, root)
    assert sorted(p.name for p in root.iterdir()) == ["facades.tar.gz", "facades.tar.gz.sha256"]


def test_the_cli_reports_a_refused_archive_in_one_line(mirror, tmp_path: Path,
                                                       monkeypatch) -> None:
    mirror.publish(FACADES, tar_bytes([link("facades/sibling", "../victim")]))
    monkeypatch.setenv(DATASETS_ENV, str(tmp_path / "store"))
    result = CliRunner().invoke(app, ["datasets", "download", "pix2pix/facades"])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if "Error:" in line]
    assert len(errors) == 1 and "'facades/sibling' is a symbolic link" in " ".join(
        result.output.split())
