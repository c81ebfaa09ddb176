"""Run directory names and layout."""

from __future__ import annotations

import json
import os

import pytest

from img2img.engine.rundir import (
    RunInUseError,
    check_run_name,
    create_run_dir,
    open_run_dir,
    safe_run_name,
)


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


def _run(tmp_path):
    run = create_run_dir(tmp_path, "r")
    (run.checkpoints).mkdir()
    return run


def test_metrics_after_a_step_are_dropped_atomically(tmp_path):
    run = _run(tmp_path)
    for step in (3, 6, 9, 12):
        run.append_metrics({"step": step, "G": 0.5})
    with open(run.metrics, "a") as f:
        f.write('{"step": 15, "G": 0.')  # a line a kill cut short
    assert run.truncate_metrics(9) == 2  # step 12 and the torn line
    assert [json.loads(line)["step"] for line in run.metrics.read_text().splitlines()] == [3, 6, 9]
    before = run.metrics.stat().st_mtime_ns
    assert run.truncate_metrics(9) == 0 and run.metrics.stat().st_mtime_ns == before


def test_one_process_at_a_time_holds_a_run(tmp_path):
    run = _run(tmp_path)
    with run.lock():
        assert (run.path / ".lock").read_text().strip() == str(os.getpid())
        with pytest.raises(RunInUseError, match=f"another process \\(pid {os.getpid()}\\)"), \
                run.lock():
            pass
    with run.lock():  # released on exit
        pass


def test_stale_temp_files_are_removed_and_nothing_else(tmp_path):
    run = _run(tmp_path)
    run.samples.mkdir()
    stale = [run.checkpoints / ".latest.pt.0123abcd.tmp", run.path / ".config.json.89abcdef.tmp",
             run.samples / ".step_00000002.png.00ff00ff.tmp", run.path / ".clip.0a1b2c3d.tmp.mp4"]
    kept = [run.checkpoints / "latest.pt", run.path / ".notes.tmp", run.checkpoints / "x.tmp"]
    for path in stale + kept:
        path.write_bytes(b"x")
    assert sorted(run.remove_stale_temps()) == sorted(stale)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)


@pytest.mark.parametrize("text, name", [
    ("my photos", "my_photos"), ("données été", "donnees_ete"), ("日本語_pix2pix", "pix2pix"),
    ("..hidden", "hidden"), ("a/b", "a_b"), ("ok-name_1.2", "ok-name_1.2"), ("***", "run"),
])
def test_default_names_are_made_valid(text, name):
    assert safe_run_name(text) == name
    check_run_name(safe_run_name(text))
