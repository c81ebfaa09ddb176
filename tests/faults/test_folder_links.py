"""The folder walk of translate and the datasets: links out of the input folder and cycles.

A symbolic link to a folder inside the input folder is followed once; one that leads out of
it (to a sibling, to ``/``) is not, and a warning names it; a cycle of links ends.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from img2img.data.discover import find_files, find_images

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not decoded here")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``inputs/`` with real images, a link inside it, links out of it, and a link cycle."""
    root = tmp_path / "inputs"
    _touch(root / "a.png")
    _touch(root / "sub" / "b.png")
    _touch(tmp_path / "outside" / "secret.png")
    (root / "again").symlink_to("sub")  # inside: its images are found once
    (root / "sibling").symlink_to("../outside")  # out of the input folder
    (root / "sub" / "loop").symlink_to("..")  # a cycle back to the input folder
    return root


def test_links_out_of_the_input_folder_are_not_followed(tree: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="img2img.data.discover"):
        found = find_images(tree)
    names = [p.relative_to(tree).as_posix() for p in found]
    assert sorted(p.name for p in found) == ["a.png", "b.png"]  # each real file once
    assert not any("secret" in n for n in names)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert f"{tree}: skipped" in warnings[0]
    assert f"sibling -> {tree.parent / 'outside'} (outside the input folder)" in warnings[0]


def test_a_link_to_the_file_system_root_is_not_walked(tmp_path: Path, caplog) -> None:
    _touch(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "rootfs").symlink_to("/")
    with caplog.at_level(logging.WARNING, logger="img2img.data.discover"):
        assert [p.name for p in find_images(tmp_path / "in")] == ["a.png"]
    assert "rootfs -> / (outside the input folder)" in caplog.text


def test_a_link_cycle_ends_and_each_folder_is_visited_once(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _touch(root / "x" / "1.jpg")
    (root / "x" / "y").symlink_to("../x")
    (root / "z").symlink_to("x/y/y/y")
    found = find_files(root, lambda name: name.endswith(".jpg"))
    assert [p.name for p in found] == ["1.jpg"]


def test_an_input_folder_that_is_a_link_is_walked(tmp_path: Path) -> None:
    _touch(tmp_path / "real" / "deep" / "c.png")
    (tmp_path / "alias").symlink_to("real")
    assert [p.name for p in find_images(tmp_path / "alias")] == ["c.png"]


def test_a_link_to_itself_is_listed_as_a_file_for_the_reader_to_report(tmp_path: Path) -> None:
    _touch(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "loop").symlink_to("loop")
    (tmp_path / "in" / "loop.png").symlink_to("loop.png")
    assert [p.name for p in find_images(tmp_path / "in")] == ["a.png", "loop.png"]
