"""Downloads that go wrong: an HTML page instead of the file, a full disk, a missing file.

Nothing is saved under the file's name (nor a SHA-256 recorded) unless its first bytes show
it is what it should be; a failed download leaves no empty partial file, and a full disk is
named with the space needed.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import pickle
import shutil
import struct
import zipfile
from collections import namedtuple
from pathlib import Path

import pytest
from typer.testing import CliRunner

from img2img.cli import app
from img2img.hub import download as download_module
from img2img.hub import filekind
from img2img.hub.datasets import get_published
from img2img.hub.download import DownloadError, download, partial_path
from img2img.hub.install import install_dataset
from img2img.hub.weights import fetch
from img2img.hub.weights import get_published as get_weights
from tests.archives import tar_bytes

HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Log in</body></html>"
HORSE2ZEBRA = get_weights("horse2zebra")
FACADES = get_published("pix2pix/facades")
PUBLISHED = "http://files.example.org/models/net.pth"


def _left(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where downloads go (the local server serves another folder of ``tmp_path``)."""
    return tmp_path / "downloads"


def test_an_html_page_is_not_saved_as_weights(mirror, folder: Path) -> None:
    mirror.publish(HORSE2ZEBRA, HTML)
    with pytest.raises(DownloadError, match=r"horse2zebra.pth answered with an HTML page "
                                            r"\(not a PyTorch checkpoint"):
        fetch(HORSE2ZEBRA, folder)
    assert _left(folder) == []  # no .pth, no .sha256, no .part


def test_an_html_page_is_not_saved_as_a_dataset_archive(mirror, folder: Path) -> None:
    mirror.publish(FACADES, HTML)
    with pytest.raises(DownloadError, match=r"facades.tar.gz answered with an HTML page "
                                            r"\(not a zip or tar archive\)"):
        install_dataset(FACADES, folder)
    assert _left(folder) == []


def test_the_cli_names_the_html_page_in_one_line(mirror, folder: Path) -> None:
    mirror.publish(HORSE2ZEBRA, HTML)
    result = CliRunner().invoke(app, ["weights", "download", "horse2zebra", "--weights-dir",
                                      str(folder)])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "failed horse2zebra:" in text and "answered with an HTML page" in text
    assert _left(folder) == []


def _safetensors() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * 4


def _torch_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("archive/data.pkl", b"x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("head", "kind", "why"),
    [
        (_torch_zip(), "weights", None),
        (pickle.dumps({"w": 1}, protocol=2), "weights", None),
        (_safetensors(), "weights", None),
        (tar_bytes([("a", b"1")]), "archive", None),
        (_torch_zip(), "archive", None),
        (HTML, "weights", "an HTML page (not a PyTorch checkpoint"),
        (b"  \n<html><body>502</body></html>", "archive", "an HTML page (not a zip or tar"),
        (b"", "weights", "an empty file"),
        (b"plain text", "archive", "a file that is not a zip or tar archive (it starts with"),
    ],
    ids=["torch-zip", "pickle", "safetensors", "tar.gz", "zip", "html-weights", "html-archive",
         "empty", "text"],
)
def test_file_kinds_are_told_by_their_first_bytes(head: bytes, kind: str, why) -> None:
    got = filekind.mismatch(head[:filekind.HEAD_BYTES], kind)
    assert got == why if why is None else got.startswith(why)


@pytest.fixture
def served(file_server, monkeypatch: pytest.MonkeyPatch):
    """A 3 MB weights-like file at PUBLISHED, through the local server as a mirror."""
    payload = _torch_zip() + os.urandom(3_000_000)
    target = file_server.root / "m" / "models" / "net.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(payload)
    monkeypatch.setenv(download_module.MIRROR_ENV, f"{file_server.url}/m")
    file_server.payload = payload
    return file_server


def test_a_missing_file_leaves_no_empty_partial_file(served, folder: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download("http://files.example.org/models/absent.pth", folder / "absent.pth")
    assert _left(folder) == []


def test_a_download_larger_than_the_free_space_is_refused_before_writing(
    served, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 999, 999))
    with pytest.raises(DownloadError, match=rf"{folder}: not enough free space to download "
                                            r".*net.pth: it needs 3.0 MB, 999 bytes are free"):
        download(PUBLISHED, folder / "net.pth", kind="weights")
    assert _left(folder) == []


class _FillingFile:
    """A partial file whose disk fills after ``room`` more bytes."""

    def __init__(self, f, room: int) -> None:
        self._f, self._room = f, room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            self._f.write(data[:self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(data)
        return self._f.write(data)

    def __getattr__(self, name: str):
        return getattr(self._f, name)


def test_a_disk_that_fills_while_downloading_names_the_folder_and_resumes_later(
    served, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = download_module._locked

    @contextlib.contextmanager
    def filling(part, source):
        with locked(part, source) as f:
            yield _FillingFile(f, 1_500_000)

    monkeypatch.setattr(download_module, "_locked", filling)
    dest = folder / "net.pth"
    with pytest.raises(DownloadError) as caught:
        download(PUBLISHED, dest, kind="weights")
    message = str(caught.value)
    assert message.startswith(f"{folder}: not enough free space to download ")
    assert "it needs 2.0 MB" in message and "Errno" not in message
    assert partial_path(dest).stat().st_size == 1_500_000  # kept for the next attempt
    monkeypatch.setattr(download_module, "_locked", locked)  # room again
    got = download(PUBLISHED, dest, kind="weights")
    assert got.resumed_from == 1_500_000 and dest.read_bytes() == served.payload
