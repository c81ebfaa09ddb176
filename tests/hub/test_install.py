"""install_dataset(): archives served from 127.0.0.1, resumed, verified, unpacked safely."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from img2img.data.discover import find_pairs
from img2img.hub.archive import UnsafeArchiveError
from img2img.hub.datasets import get_published
from img2img.hub.download import DownloadError, partial_path, recorded_sha256
from img2img.hub.install import MARKER, fetch_archive, install_dataset, unpack_dataset
from tests.archives import link, tar_bytes

FACADES = get_published("pix2pix/facades")
HORSES = get_published("horse2zebra")


def _png(seed: int, size: tuple[int, int] = (8, 16)) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _facades_archive() -> bytes:
    """A small archive laid out like the published facades.tar.gz (A|B images per split),
    followed by incompressible padding so that a transfer can break off halfway."""
    members = [(f"facades/{split}/{i}.png", _png(i)) for split in ("train", "val")
               for i in range(3)]
    members.append(("facades/README.txt", os.urandom(300_000)))
    return tar_bytes(members)


@pytest.fixture
def publish(mirror):
    """Serve bytes at an entry's published URL path, through IMG2IMG_MIRROR (``.server``: the
    local server)."""
    return mirror.publish


def test_install_downloads_unpacks_and_records_provenance(publish, tmp_path: Path) -> None:
    data = _facades_archive()
    publish(FACADES, data)
    root = tmp_path / "datasets"
    done = install_dataset(FACADES, root)
    assert done.path == root / "facades" and done.members == 7
    assert done.archive.sha256 == hashlib.sha256(data).hexdigest()
    assert (done.archive.size, done.archive.resumed_from, done.archive.reused) == (
        len(data), 0, False)
    assert sorted(p.name for p in root.iterdir()) == ["facades"]  # archive and temp gone
    record = json.loads((done.path / MARKER).read_text())
    assert record["url"] == FACADES.url and record["archive_sha256"] == done.archive.sha256
    files = find_pairs(done.path, "train")
    assert files.side_by_side and [p.key for p in files.pairs] == ["0", "1", "2"]
    assert (done.path / "train" / "1.png").read_bytes() == _png(1)
    with pytest.raises(FileExistsError, match="already exists"):
        install_dataset(FACADES, root)


def test_an_interrupted_download_resumes_where_it_stopped(publish, tmp_path: Path) -> None:
    data = _facades_archive()
    path = publish(FACADES, data)
    publish.server.drop_after[path] = 100_000
    root = tmp_path / "datasets"
    with pytest.raises(DownloadError, match="run the command again to resume"):
        install_dataset(FACADES, root)
    assert partial_path(root / "facades.tar.gz").stat().st_size == 100_000
    assert not (root / "facades").exists()
    done = install_dataset(FACADES, root)
    assert done.archive.resumed_from == 100_000
    assert publish.server.requests[-1].range == "bytes=100000-"
    assert done.archive.sha256 == hashlib.sha256(data).hexdigest()
    assert (done.path / "val" / "2.png").read_bytes() == _png(2)


def test_a_checksum_mismatch_installs_nothing(publish, tmp_path: Path) -> None:
    data = _facades_archive()
    publish(FACADES, data)
    root = tmp_path / "datasets"
    wrong = dataclasses.replace(FACADES, sha256="ab" * 32)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        install_dataset(wrong, root)
    assert not root.exists() or not any(root.iterdir())
    right = dataclasses.replace(FACADES, sha256=hashlib.sha256(data).hexdigest())
    assert install_dataset(right, root).path.is_dir()


def test_a_finished_archive_is_reused_and_can_be_kept(publish, tmp_path: Path) -> None:
    publish(FACADES, _facades_archive())
    root = tmp_path / "datasets"
    archive = fetch_archive(FACADES, root)  # an install that stopped after the download
    requests = len(publish.server.requests)
    again = fetch_archive(FACADES, root)
    assert again.reused and len(publish.server.requests) == requests  # nothing fetched
    done = unpack_dataset(FACADES, again, keep_archive=True)
    assert done.archive.reused and archive.path.is_file()
    assert recorded_sha256(archive.path) == archive.sha256


def test_an_unverified_archive_is_downloaded_again(publish, tmp_path: Path) -> None:
    publish(FACADES, _facades_archive())
    root = tmp_path / "datasets"
    root.mkdir()
    (root / "facades.tar.gz").write_bytes(b"half an archive")  # no checksum record
    done = install_dataset(FACADES, root)
    assert not done.archive.reused and (done.path / "train" / "0.png").is_file()


def test_a_zip_of_unpaired_folders_installs(publish, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("horse2zebra/trainA/h1.jpg", b"h")
        zf.writestr("horse2zebra/trainB/z1.jpg", b"z")
        zf.writestr("__MACOSX/horse2zebra/._h1.jpg", b"mac")
    publish(HORSES, buffer.getvalue())
    done = install_dataset(HORSES, tmp_path)
    assert done.path == tmp_path / "horse2zebra"
    assert (done.path / "trainA" / "h1.jpg").read_bytes() == b"h"


@pytest.mark.parametrize(
    ("members", "limit", "message"),
    [
        ([("facades/train/1.png", b"1"), ("facades/../../evil.txt", b"x")], None, "climbs out"),
        ([("/tmp/evil.txt", b"x")], None, "absolute path"),
        ([link("facades/escape", "../../evil.txt"), ("facades/a", b"1")], None, "symbolic link"),
        ([(f"facades/{i}.png", b"x") for i in range(30)], 20, "30 members, more than"),
    ],
    ids=["dotdot", "absolute", "symlink-out", "too-many-members"],
)
def test_malicious_archives_are_refused_without_writing_outside(
    publish, tmp_path: Path, members, limit, message: str
) -> None:
    publish(FACADES, tar_bytes(members))
    root = tmp_path / "work" / "datasets"
    limits = {"max_members": limit} if limit else {}
    with pytest.raises(UnsafeArchiveError, match=message):
        install_dataset(FACADES, root, **limits)
    assert not (root / "facades").exists()
    assert not any(root.iterdir())  # no temp folder, and the refused archive is gone
    written = {p.name for p in tmp_path.rglob("*")} - {"work", "datasets"}
    assert "evil.txt" not in written and "escape" not in written


def test_a_damaged_archive_is_removed_so_the_next_run_fetches_it_anew(
    publish, tmp_path: Path
) -> None:
    publish(FACADES, _facades_archive()[:-500])  # a truncated gzip stream
    root = tmp_path / "datasets"
    with pytest.raises(ValueError, match="the archive is damaged"):
        install_dataset(FACADES, root)
    assert not any(root.iterdir())


def test_cityscapes_cannot_be_downloaded(tmp_path: Path) -> None:
    from img2img.hub.install import NotDownloadableError

    with pytest.raises(NotDownloadableError, match="prepare cityscapes"):
        install_dataset(get_published("cityscapes"), tmp_path)
