"""download(): mirrors, resume after a broken transfer, atomic completion, checksums."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from img2img.hub.download import (
    MIRROR_ENV,
    DownloadError,
    checksum_path,
    download,
    mirror_url,
    partial_path,
    recorded_sha256,
    sha256_file,
)

PAYLOAD = os.urandom(3 * (1 << 20) + 12345)  # spans several read chunks
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
PUBLISHED = "http://files.example.org/models/pretrained/net.pth"


@pytest.fixture
def served(file_server, monkeypatch: pytest.MonkeyPatch):
    """The payload published at PUBLISHED, reached through the local server as a mirror."""
    target = file_server.root / "base" / "models" / "pretrained" / "net.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(PAYLOAD)
    monkeypatch.setenv(MIRROR_ENV, f"{file_server.url}/base")
    return file_server


def test_mirror_keeps_the_path_and_replaces_scheme_host_and_prefix() -> None:
    got = mirror_url("https://host.org/a/b.pth?x=1", "http://127.0.0.1:8000/base/")
    assert got == "http://127.0.0.1:8000/base/a/b.pth?x=1"
    assert mirror_url("http://h/a.pth", "http://m:1") == "http://m:1/a.pth"
    assert mirror_url("http://h/a.pth", "") == "http://h/a.pth"


def test_mirror_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:9/m")
    assert mirror_url("http://h/x/y.zip") == "http://127.0.0.1:9/m/x/y.zip"
    monkeypatch.delenv(MIRROR_ENV)
    assert mirror_url("http://h/x/y.zip") == "http://h/x/y.zip"


def test_bad_mirror_is_refused() -> None:
    with pytest.raises(DownloadError, match="IMG2IMG_MIRROR='ftp://x'"):
        mirror_url("http://h/a", "ftp://x")


def test_download_writes_the_file_and_records_its_digest(served, tmp_path: Path) -> None:
    dest = tmp_path / "weights" / "net.pth"
    seen: list[tuple[int, int | None]] = []
    got = download(PUBLISHED, dest, sha256=DIGEST, progress=lambda d, t: seen.append((d, t)))
    assert dest.read_bytes() == PAYLOAD
    assert (got.sha256, got.size, got.resumed_from) == (DIGEST, len(PAYLOAD), 0)
    assert got.url == f"{served.url}/base/models/pretrained/net.pth"
    assert recorded_sha256(dest) == DIGEST == sha256_file(dest)
    assert checksum_path(dest).read_text() == f"{DIGEST}  net.pth\n"
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert not partial_path(dest).exists()


def test_broken_transfer_keeps_what_arrived_and_the_next_call_resumes(
    served, tmp_path: Path
) -> None:
    dest = tmp_path / "net.pth"
    served.drop_after["/base/models/pretrained/net.pth"] = 1_500_000
    with pytest.raises(DownloadError, match="run the command again to resume"):
        download(PUBLISHED, dest, sha256=DIGEST)
    assert not dest.exists()  # never a half file under the real name
    assert partial_path(dest).stat().st_size == 1_500_000

    got = download(PUBLISHED, dest, sha256=DIGEST)
    assert got.resumed_from == 1_500_000
    assert served.requests[-1].range == "bytes=1500000-"
    assert dest.read_bytes() == PAYLOAD
    assert got.sha256 == DIGEST


def test_server_without_ranges_restarts_from_the_beginning(served, tmp_path: Path) -> None:
    dest = tmp_path / "net.pth"
    partial_path(dest).write_bytes(b"garbage that is not the file's beginning")
    served.no_ranges = True
    got = download(PUBLISHED, dest, sha256=DIGEST)
    assert got.resumed_from == 0
    assert dest.read_bytes() == PAYLOAD


def test_a_partial_file_that_is_already_whole_is_finished(served, tmp_path: Path) -> None:
    dest = tmp_path / "net.pth"
    partial_path(dest).write_bytes(PAYLOAD)
    got = download(PUBLISHED, dest, sha256=DIGEST)
    assert served.requests[-1].range == f"bytes={len(PAYLOAD)}-"  # the server answered 416
    assert got.sha256 == DIGEST and dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_is_refused_and_nothing_is_kept(served, tmp_path: Path) -> None:
    dest = tmp_path / "net.pth"
    wrong = "0" * 64
    with pytest.raises(DownloadError, match=f"expected sha256 {wrong}, got {DIGEST}"):
        download(PUBLISHED, dest, sha256=wrong)
    assert not dest.exists() and not partial_path(dest).exists()
    assert recorded_sha256(dest) is None


def test_missing_file_names_the_url_and_status(served, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"here.pth: the server answered HTTP 404"):
        download("http://files.example.org/nothing/here.pth", tmp_path / "x.pth")
    assert not (tmp_path / "x.pth").exists()


def test_unreachable_server_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(DownloadError, match="cannot connect"):
        download(PUBLISHED, tmp_path / "x.pth", timeout=5)


def test_a_second_process_cannot_write_into_the_same_partial_file(
    served, tmp_path: Path
) -> None:
    fcntl = pytest.importorskip("fcntl")
    dest = tmp_path / "net.pth"
    with open(partial_path(dest), "ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match="another process is downloading"):
            download(PUBLISHED, dest)
    assert download(PUBLISHED, dest).sha256 == DIGEST
