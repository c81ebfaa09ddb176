"""Atomic writes: whole files or none, and the permissions a plain ``open()`` gives."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from img2img import atomic
from img2img.atomic import atomic_link, atomic_open, atomic_path, atomic_write

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")

_WRITE_UNDER_UMASK = textwrap.dedent(
    """
    import os, sys
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path
    from img2img.atomic import atomic_link, atomic_write

    os.umask(int(sys.argv[1], 8))
    folder = Path(sys.argv[2])
    with ThreadPoolExecutor(4) as pool:  # as translate writes its images
        names = [f"{i}.bin" for i in range(8)]
        list(pool.map(lambda n: atomic_write(folder / n, lambda f: f.write(b"x")), names))
    atomic_write(folder / "config.json", lambda f: f.write("{}"), mode="w")
    with open(folder / "plain.txt", "w") as f:
        f.write("reference")
    atomic_link(folder / "0.bin", folder / "linked.bin")
    """
)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@posix_only
@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_plain_open_permissions(tmp_path, umask, expected):
    subprocess.run(
        [sys.executable, "-c", _WRITE_UNDER_UMASK, oct(umask)[2:], str(tmp_path)],
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
    assert len(modes) == 11  # no temp file left behind
    assert modes["plain.txt"] == expected
    assert set(modes.values()) == {expected}


def test_failed_write_leaves_target_and_folder_untouched(tmp_path):
    target = tmp_path / "out.bin"
    atomic_write(target, lambda f: f.write(b"old"))

    def explode(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, explode)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_text_mode_and_missing_folders(tmp_path):
    target = tmp_path / "a" / "b" / "note.txt"
    with atomic_open(target, "w") as f:
        f.write("héllo\n")
    assert target.read_text(encoding=f.encoding) == "héllo\n"


def test_concurrent_writes_to_one_name_leave_one_whole_file(tmp_path):
    target = tmp_path / "same.bin"
    payloads = [bytes([i]) * 50_000 for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: atomic_write(target, lambda f: f.write(p)), payloads))
    assert target.read_bytes() in payloads
    assert [p.name for p in tmp_path.iterdir()] == ["same.bin"]


def test_link_gives_a_second_name_to_the_same_content(tmp_path):
    source, target = tmp_path / "latest.pt", tmp_path / "step.pt"
    atomic_write(source, lambda f: f.write(b"first"))
    atomic_write(target, lambda f: f.write(b"stale"))
    atomic_link(source, target)
    assert target.read_bytes() == b"first"
    atomic_write(source, lambda f: f.write(b"second"))  # replacing one name keeps the other
    assert target.read_bytes() == b"first" and source.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.pt", "step.pt"]


def test_link_copies_where_hard_links_are_refused(tmp_path, monkeypatch):
    source, target = tmp_path / "latest.pt", tmp_path / "step.pt"
    atomic_write(source, lambda f: f.write(b"payload" * 1000))

    def refuse(src, dst):
        raise PermissionError(1, "hard links not supported", str(dst))

    monkeypatch.setattr(atomic.os, "link", refuse)
    atomic_link(source, target)
    assert target.read_bytes() == source.read_bytes()
    assert os.stat(target).st_ino != os.stat(source).st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.pt", "step.pt"]


def test_link_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.pt"):
        atomic_link(tmp_path / "gone.pt", tmp_path / "step.pt")
    assert list(tmp_path.iterdir()) == []


def test_a_path_for_writers_that_take_names_keeps_the_suffix(tmp_path):
    target = tmp_path / "sub" / "clip.mp4"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".mp4" and tmp.name.startswith(".")
        tmp.write_bytes(b"whole")
        assert not target.exists()
    assert target.read_bytes() == b"whole"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert target.read_bytes() == b"whole"
    assert [p.name for p in target.parent.iterdir()] == ["clip.mp4"]
