"""Published models that share one archive (CUT, FastCUT): downloaded once, kept, unpacked safely.

The archive is built here and served by the local server as ``$IMG2IMG_MIRROR``.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
from pathlib import Path

import pytest
import torch

from img2img.hub.archive import UnsafeArchiveError
from img2img.hub.bundles import unpacked_folder
from img2img.hub.download import DownloadError, checksum_path, partial_path, record_sha256
from img2img.hub.weights import (
    WeightsError,
    archive_path,
    describe_published,
    fetch,
    get_published,
    local_path,
)
from tests.archives import link, make_tar

ARCHIVE = "/mirror/CUT/pretrained_models.tar"
IN_ARCHIVE = ["horse2zebra_cut", "cat2dog_fastcut", "cityscapes_cut"]
NOT_IN_ARCHIVE = ["horse2zebra_fastcut", "cat2dog_cut", "cityscapes_fastcut"]


def _state(seed: int) -> bytes:
    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save({"model.1.weight": torch.randn(4, 3, 7, 7), "model.1.bias": torch.randn(4)},
               buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def generators() -> dict[str, bytes]:
    """The ``latest_net_G.pth`` of each model in the archive."""
    return {name: _state(seed) for seed, name in enumerate(IN_ARCHIVE)}


def _members(generators: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """Two models under a top folder with the reference's other files beside them, one not."""
    return [
        ("checkpoints/horse2zebra_cut_pretrained/latest_net_G.pth", generators["horse2zebra_cut"]),
        ("checkpoints/horse2zebra_cut_pretrained/latest_net_D.pth", _state(10)),
        ("checkpoints/horse2zebra_cut_pretrained/latest_net_F.pth", _state(11)),
        ("checkpoints/horse2zebra_cut_pretrained/train_opt.txt", b"netG: resnet_9blocks\n"),
        ("checkpoints/cat2dog_fastcut_pretrained/latest_net_G.pth", generators["cat2dog_fastcut"]),
        ("checkpoints/cat2dog_fastcut_pretrained/train_opt.txt", b"nce_idt: False\n"),
        ("cityscapes_cut_pretrained/latest_net_G.pth", generators["cityscapes_cut"]),
        ("README.txt", b"CUT and FastCUT generators\n"),
    ]


def _publish(mirror, members) -> bytes:
    data = make_tar(io.BytesIO(), members, mode="w").getvalue()
    mirror.publish(get_published("horse2zebra_cut"), data)
    return data


def _archive_requests(mirror) -> int:
    return sum(r.path == ARCHIVE for r in mirror.requests)


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def weights(tmp_path) -> Path:
    """The weights folder (``tmp_path`` also holds the server's folder)."""
    return tmp_path / "weights"


def test_one_download_keeps_every_model_of_the_archive(mirror, generators, weights):
    data = _publish(mirror, _members(generators))
    seen: list[tuple[int, int | None]] = []
    path = fetch(get_published("horse2zebra_cut"), weights, progress=lambda d, t:
                 seen.append((d, t)))
    assert path == weights / "cut" / "horse2zebra_cut.pth"
    assert path.read_bytes() == generators["horse2zebra_cut"]
    assert seen[-1] == (len(data), len(data)) and _archive_requests(mirror) == 1
    digest = hashlib.sha256(generators["horse2zebra_cut"]).hexdigest()
    assert checksum_path(path).read_text() == f"{digest}  horse2zebra_cut.pth\n"

    for name in IN_ARCHIVE:  # the others were kept: no second download
        entry = get_published(name)
        assert local_path(entry, weights) == weights / "cut" / f"{name}.pth"
        assert fetch(entry, weights).read_bytes() == generators[name]
    assert _archive_requests(mirror) == 1
    assert all(local_path(get_published(n), weights) is None for n in NOT_IN_ARCHIVE)
    # the archive and everything unpacked from it but the generators are gone
    assert _left_in(weights) == ["cut"]
    assert _left_in(weights / "cut") == sorted(
        f"{n}.pth{s}" for n in IN_ARCHIVE for s in ("", ".sha256"))

    info = describe_published(get_published("cat2dog_fastcut"), weights)
    assert info["archive_folder"] == "cat2dog_fastcut_pretrained"
    assert info["path"] == str(weights / "cut" / "cat2dog_fastcut.pth")
    assert info["download_url"] == mirror.url + ARCHIVE and info["family"] == "cut"


def test_force_takes_the_file_out_again_and_leaves_the_others(mirror, generators, weights):
    _publish(mirror, _members(generators))
    fetch(get_published("cityscapes_cut"), weights)
    kept = weights / "cut" / "cat2dog_fastcut.pth"
    kept.write_bytes(b"changed by hand")
    path = fetch(get_published("cityscapes_cut"), weights, force=True)
    assert path.read_bytes() == generators["cityscapes_cut"] and _archive_requests(mirror) == 2
    assert kept.read_bytes() == b"changed by hand"


def test_a_folder_missing_from_the_archive_is_named(mirror, generators, weights):
    _publish(mirror, _members(generators))
    with pytest.raises(WeightsError) as error:
        fetch(get_published("horse2zebra_fastcut"), weights)
    assert str(error.value) == (
        f"cut/horse2zebra_fastcut: the archive {mirror.url}{ARCHIVE} has no folder "
        "'horse2zebra_fastcut_pretrained' holding latest_net_G.pth (folders holding one: "
        "checkpoints/cat2dog_fastcut_pretrained, checkpoints/horse2zebra_cut_pretrained, "
        "cityscapes_cut_pretrained)"
    )
    # what the archive did hold is kept, and the archive is not left behind
    assert all(local_path(get_published(n), weights) for n in IN_ARCHIVE)
    assert _left_in(weights / "cut") == sorted(
        f"{n}.pth{s}" for n in IN_ARCHIVE for s in ("", ".sha256"))


def test_an_interrupted_archive_download_resumes(mirror, generators, weights):
    data = _publish(mirror, _members(generators))
    mirror.drop_after[ARCHIVE] = 20000
    entry = get_published("cat2dog_fastcut")
    archive = archive_path(entry, weights)
    assert archive == weights / "cut" / "pretrained_models.tar"
    with pytest.raises(DownloadError, match=f"ended after 20000 of {len(data)} bytes"):
        fetch(entry, weights)
    assert partial_path(archive).stat().st_size == 20000 and not archive.exists()
    assert local_path(entry, weights) is None
    assert fetch(entry, weights).read_bytes() == generators["cat2dog_fastcut"]
    assert mirror.requests[-1].range == "bytes=20000-"
    assert not partial_path(archive).exists() and not archive.exists()


def test_a_complete_archive_from_an_earlier_call_is_used(mirror, generators, weights):
    entry = get_published("cityscapes_cut")
    archive = archive_path(entry, weights)
    archive.parent.mkdir(parents=True)
    make_tar(archive, _members(generators), mode="w")
    record_sha256(archive, "0" * 64)  # a finished download records its digest
    unpacked_folder(archive).mkdir()  # an interrupted unpacking is started again
    (unpacked_folder(archive) / "stale").write_bytes(b"x")
    assert fetch(entry, weights).read_bytes() == generators["cityscapes_cut"]
    assert not mirror.requests and not archive.exists()
    assert not unpacked_folder(archive).exists() and not checksum_path(archive).exists()


@pytest.mark.parametrize(
    "hostile",
    [("../outside.pth", b"x"), link("checkpoints/escape", "../../..")],
    ids=["dotdot", "symlink"],
)
def test_an_unsafe_archive_writes_nothing(mirror, generators, tmp_path, hostile):
    weights = tmp_path / "weights"
    _publish(mirror, [*_members(generators), hostile])
    with pytest.raises(UnsafeArchiveError, match="refused"):
        fetch(get_published("horse2zebra_cut"), weights)
    assert _left_in(weights / "cut") == []  # no generator, no archive, no unpacked folder
    assert _left_in(tmp_path) == ["served", "weights"]
    assert _left_in(weights) == ["cut"]


def test_another_process_unpacking_is_left_alone(mirror, generators, weights):
    _publish(mirror, _members(generators))
    folder = weights / "cut"
    folder.mkdir(parents=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(DownloadError, match="another process is downloading or unpacking"):
            fetch(get_published("horse2zebra_cut"), weights)
    finally:
        os.close(fd)
    assert not mirror.requests
    assert fetch(get_published("horse2zebra_cut"), weights).is_file()
