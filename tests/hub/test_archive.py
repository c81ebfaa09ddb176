"""extract_archive(): well-formed archives unpack; hostile ones are refused, writing nothing."""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from img2img.hub.archive import UnsafeArchiveError, extract_archive
from tests.archives import link as _link
from tests.archives import make_tar as _tar


def _nothing_written(tmp_path: Path, target: Path) -> None:
    assert not target.exists()
    assert not (tmp_path / "evil.txt").exists()
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == []


def test_tar_gz_unpacks_files_and_folders(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "ds.tar.gz",
        [("facades/train/1.jpg", b"one"), ("facades/test/2.jpg", b"two"),
         ("facades/train/1.jpg", b"later")],
    )
    target = tmp_path / "out" / "facades_unpacked"
    names = extract_archive(archive, target)
    assert sorted(set(names)) == ["facades/test/2.jpg", "facades/train/1.jpg"]
    assert (target / "facades/train/1.jpg").read_bytes() == b"later"  # the last one wins
    assert (target / "facades/test/2.jpg").read_bytes() == b"two"


def test_zip_unpacks(tmp_path: Path) -> None:
    archive = tmp_path / "ds.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("horse2zebra/trainA/a.jpg", b"A")
        zf.writestr("horse2zebra/trainB/", b"")
    target = tmp_path / "out"
    extract_archive(archive, target)
    assert (target / "horse2zebra/trainA/a.jpg").read_bytes() == b"A"
    assert (target / "horse2zebra/trainB").is_dir()


def test_a_plain_tar_ending_in_a_zip_is_unpacked_as_the_tar(tmp_path: Path) -> None:
    inner = tmp_path / "inner.zip"  # a torch.save file is a zip too
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("archive/data.pkl", b"pickled")
    members = [("models/a/notes.txt", b"a"), ("models/a/latest_net_G.pth", inner.read_bytes())]
    target = tmp_path / "out"
    assert extract_archive(_tar(tmp_path / "models.tar", members, mode="w"), target) == [
        "models/a/notes.txt", "models/a/latest_net_G.pth"]
    assert (target / "models/a/latest_net_G.pth").read_bytes() == inner.read_bytes()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("ok.txt", b"1"), ("../evil.txt", b"x")], "climbs out of the target"),
        ([("a/../../evil.txt", b"x")], "climbs out of the target"),
        ([("/tmp/evil.txt", b"x")], "absolute path"),
        ([_link("inside/link", "../../evil.txt")], "'inside/link' is a symbolic link to"),
        ([_link("link", "/etc/passwd")], "'link' is a symbolic link to '/etc/passwd'"),
        ([("a", b"1"), _link("inner", "a")], "'inner' is a symbolic link to 'a'"),
        ([_link("hard", "../evil.txt", tarfile.LNKTYPE)], "'hard' is a hard link"),
        ([("a", b"1"), _link("hard", "a", tarfile.LNKTYPE)], "'hard' is a hard link to 'a'"),
        ([_link("d", "."), ("d/evil.txt", b"x")], "'d' is a symbolic link"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-abs", "symlink-in",
         "hardlink-out", "hardlink-in", "through-link"],
)
def test_hostile_tar_members_are_refused(tmp_path: Path, entries, message: str) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", entries)
    target = tmp_path / "out" / "ds"
    target.parent.mkdir()
    with pytest.raises(UnsafeArchiveError, match=message):
        extract_archive(archive, target)
    _nothing_written(tmp_path, target)


def test_device_and_fifo_members_are_refused(tmp_path: Path) -> None:
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    archive = _tar(tmp_path / "evil.tar", [fifo], mode="w")
    with pytest.raises(UnsafeArchiveError, match="special file"):
        extract_archive(archive, tmp_path / "out")


def test_hostile_zip_members_are_refused(tmp_path: Path) -> None:
    for name, message in (("../evil.txt", "climbs out"), ("/abs/evil.txt", "absolute path"),
                          ("C:/evil.txt", "absolute path")):
        archive = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("fine.txt", b"1")
            zf.writestr(name, b"x")
        target = tmp_path / "out"
        with pytest.raises(UnsafeArchiveError, match=message):
            extract_archive(archive, target)
        assert not target.exists()


def test_zip_symlinks_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        extract_archive(archive, tmp_path / "out")


def test_member_count_and_size_limits(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "many.tar.gz", [(f"f{i}", b"x" * 10) for i in range(20)])
    with pytest.raises(UnsafeArchiveError, match="20 members, more than the limit of 10"):
        extract_archive(archive, tmp_path / "a", max_members=10)
    with pytest.raises(UnsafeArchiveError, match="unpacks to 200 bytes"):
        extract_archive(archive, tmp_path / "b", max_bytes=199)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    extract_archive(archive, tmp_path / "c", max_members=20, max_bytes=200)


def test_existing_target_and_non_archives_are_refused(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "ok.tar.gz", [("a", b"1")])
    (tmp_path / "there").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        extract_archive(archive, tmp_path / "there")
    text = tmp_path / "notes.tar.gz"
    text.write_text("not an archive")
    with pytest.raises(UnsafeArchiveError, match="not a zip or tar archive"):
        extract_archive(text, tmp_path / "x")
