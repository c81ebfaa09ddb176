"""Folders that translate writes to, and run folders that were stopped early.

Inputs that differ only in their extension are all translated, under names that keep their
extension; temp files a killed translate left are removed by the next run into the folder;
a run stopped before its first checkpoint says how to start it again.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from img2img.cli import app
from img2img.cli.restart import train_command
from img2img.infer.plan import plan_outputs
from tests.faults import processes

runner = CliRunner()


def _image(path: Path, level: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(level)
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(path)
    return path


def _translate(model: Path, inp: Path, out: Path, *extra: str):
    return runner.invoke(app, ["-v", "translate", "--model", str(model), str(inp), str(out),
                               "--device", "cpu", *extra])


def test_inputs_differing_only_in_extension_are_all_translated(reference_run, tmp_path):
    inp = tmp_path / "in"
    for name, level in (("x.jpg", 1), ("x.png", 2), ("y.png", 3), ("sub/x.png", 4)):
        _image(inp / name, level)
    out = tmp_path / "out"
    result = _translate(reference_run, inp, out)
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["sub/x.png", "x.jpg.png", "x.png.png", "y.png"]
    text = " ".join(result.output.split())
    assert text.count("would all be written to") == 1, result.output
    assert "x.jpg" in text and "writing them as x.jpg.png, x.png.png" in text
    # each output is its own input's translation
    assert not np.array_equal(np.asarray(Image.open(out / "x.jpg.png")),
                              np.asarray(Image.open(out / "x.png.png")))


def test_renamed_outputs_never_take_another_inputs_output(tmp_path):
    for name in ("x.jpg", "x.png", "x.jpg.png", "x.jpg.png.webp"):
        _image(tmp_path / "in" / name, 0)
    jobs = plan_outputs(tmp_path / "in", tmp_path / "out")
    outputs = {job.src.name: job.dst.name for job in jobs}
    assert outputs == {"x.jpg": "x.jpg.png", "x.png": "x.png.png",
                       "x.jpg.png": "x.jpg.png.png", "x.jpg.png.webp": "x.jpg.png.webp.png"}


def test_a_second_run_removes_the_temp_files_a_killed_run_left(reference_run, tmp_path):
    inp = tmp_path / "in"
    _image(inp / "a.png", 1)
    _image(inp / "sub" / "b.png", 2)
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    stale = [out / ".a.png.0123abcd.tmp", out / "sub" / ".b.png.89abcdef.tmp",
             out / ".clip.fedcba98.tmp.mp4"]
    fresh = out / ".c.png.00112233.tmp"  # another translate may be writing it right now
    elsewhere = tmp_path / "other" / ".a.png.0123abcd.tmp"  # a folder it does not write to
    not_ours = [out / "notes.tmp", out / ".settings.tmp", out / "a.png.0123abcd.tmp"]
    for path in [*stale, fresh, elsewhere, *not_ours]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half an image")
    an_hour_ago = time.time() - 3600
    for path in [*stale, elsewhere, *not_ours]:
        os.utime(path, (an_hour_ago, an_hour_ago))

    result = _translate(reference_run, inp, out)
    assert result.exit_code == 0, result.output
    assert not any(path.exists() for path in stale)
    assert fresh.exists() and elsewhere.exists() and all(p.exists() for p in not_ours)
    assert (out / "a.png").is_file() and (out / "sub" / "b.png").is_file()
    assert "removed 3 unfinished output file(s)" in " ".join(result.output.split())


def _stopped_before_first_checkpoint(reference_run: Path, runs: Path) -> Path:
    """A run folder as a kill before the first checkpoint leaves it: config, no checkpoint."""
    run = runs / "ref"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(reference_run / "config.json", run / "config.json")
    return run


def test_resuming_a_run_without_checkpoint_says_how_to_start_it_again(reference_run, tmp_path):
    run = _stopped_before_first_checkpoint(reference_run, tmp_path / "runs")
    result = runner.invoke(app, ["train", "--resume", str(run)])
    assert result.exit_code == 2, result.output
    assert result.output.count("Error:") == 1 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "no checkpoint found; the run stopped before its first checkpoint" in text
    assert f"remove {run} and start it again with: img2img train pix2pix --data" in text


def test_the_restart_command_makes_the_same_run(reference_run, tmp_path):
    config = json.loads((reference_run / "config.json").read_text())
    command = shlex.split(train_command(config, tmp_path / "runs", "again"))
    assert command[:3] == ["img2img", "train", "pix2pix"]
    result = processes.run(*command[1:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    again = json.loads((tmp_path / "runs" / "again" / "config.json").read_text())
    for section in ("model", "train"):
        assert again[section] == config[section]
    assert {**again["data"], "root_given": None} == {**config["data"], "root_given": None}
    assert again["family"] == config["family"]


def test_a_folder_without_config_or_checkpoint_is_not_called_a_run(tmp_path):
    result = runner.invoke(app, ["train", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and "start it again" not in result.output


def test_the_restart_command_spells_out_a_local_pix2pixhd_generators_filters(tmp_path):
    """``--ngf`` defaults to 32 for ``--netG local``: a local generator of 64 filters must
    say so, or the command would start a smaller network."""
    config = {"family": "pix2pixhd", "name": "hd",
              "model": {"netG": "local", "ngf": 64, "label_nc": 35},
              "data": {"root": str(tmp_path / "maps")}, "train": {}}
    words = shlex.split(train_command(config, tmp_path / "runs"))
    assert words[words.index("--ngf") + 1] == "64"
    assert words[words.index("--netG") + 1] == "local"
