"""Run directory names and layout."""

from __future__ import annotations

import pytest

from img2img.engine.rundir import check_run_name, create_run_dir, open_run_dir


def test_suffix_when_taken(tmp_path):
    names = [create_run_dir(tmp_path, "exp").path.name for _ in range(3)]
    assert names == ["exp", "exp-1", "exp-2"]


@pytest.mark.parametrize("bad", ["", "../escape", "a/b", ".hidden", "sp ace"])
def test_bad_names_are_refused(bad):
    with pytest.raises(ValueError, match="--name"):
        check_run_name(bad)


def test_open_requires_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        open_run_dir(tmp_path)
