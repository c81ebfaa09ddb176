"""Training under kill -9, SIGINT, SIGTERM and full disks: real processes, exact resumes.

Every interrupted run is resumed until it ends and must then equal the uninterrupted
reference run bit for bit: weights, optimizer and schedule states, and ``metrics.jsonl``
(apart from wall-clock fields).
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import time
from pathlib import Path

import pytest

from img2img.checkpoints import load_checkpoint
from tests.faults import processes
from tests.faults.conftest import TOTAL_STEPS

pytestmark = pytest.mark.slow

RESUME = ["--num-workers", "0"]


def _new_run(data: Path, runs: Path, name: str) -> list:
    return ["train", "pix2pix", "--data", data, "--runs-dir", runs, "--name", name,
            "--max-steps", TOTAL_STEPS, *processes.TINY_RUN]


def _assert_equals_reference(run: Path, reference: Path) -> None:
    processes.assert_same_state(load_checkpoint(reference), load_checkpoint(run))
    assert processes.metrics(run) == processes.metrics(reference)
    assert processes.temp_files(run / "checkpoints") == []  # unfinished writes cleared


def _finish(run: Path, cwd: Path, *options: str) -> None:
    result = processes.run("train", "--resume", run, *RESUME, *options, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(run)["step"] == TOTAL_STEPS


def test_kill_9_at_random_moments_then_resume_equals_an_uninterrupted_run(
    gray2color, reference_run, tmp_path
):
    """Resumed from another working folder each time, and from a moved dataset at the end.

    The dataset folder's name has spaces, an apostrophe and accents and no ``--name`` is
    given: the run's default name is made valid from it.
    """
    rng = random.Random(9)
    shutil.copytree(gray2color / "train", tmp_path / "mes photos d'été" / "train")
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    run = work / "runs" / "mes_photos_d_ete_pix2pix"
    killed_at = []
    for round_ in range(5):
        if round_ == 0:
            proc = processes.start("train", "pix2pix", "--data", "../mes photos d'été",
                                   "--runs-dir", "runs", "--max-steps", TOTAL_STEPS,
                                   *processes.TINY_RUN, cwd=work)
        else:
            proc = processes.start("train", "--resume", "../work/runs/" + run.name, *RESUME,
                                   cwd=elsewhere)
        # past the next checkpoint (so every round moves on), then a random moment
        target = 4 * (round_ + 1) + rng.randint(1, 4)
        assert processes.wait_for(lambda t=target: processes.logged_step(run) >= t, proc), (
            proc.communicate()[1])
        time.sleep(rng.uniform(0, 0.03))  # anywhere in the steps that follow
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        killed_at.append(processes.logged_step(run))
    assert killed_at == sorted(killed_at) and killed_at[-1] < TOTAL_STEPS
    data = json.loads((run / "config.json").read_text())["data"]
    assert data["root"] == str(tmp_path / "mes photos d'été")  # absolute
    assert data["root_given"] == "../mes photos d'été"  # as typed

    (tmp_path / "mes photos d'été").rename(tmp_path / "moved")
    lost = processes.run("train", "--resume", run, *RESUME, cwd=elsewhere)
    assert lost.returncode == 2 and "Traceback" not in lost.stderr
    assert "if the dataset moved, give its new place with --data PATH along with --resume" in (
        " ".join(lost.stderr.split()))
    _finish(run, elsewhere, "--data", "../moved")
    data = json.loads((run / "config.json").read_text())["data"]
    assert data["root"] == str(tmp_path / "moved") and data["root_given"] == "../moved"
    record = json.loads((run / "resumes.jsonl").read_text().splitlines()[-1])
    assert record["changes"]["data"] == str(tmp_path / "moved")
    _assert_equals_reference(run, reference_run)


@pytest.mark.parametrize("first, second", [(signal.SIGINT, signal.SIGTERM)])
def test_sigint_and_sigterm_end_the_step_then_resume_equals_an_uninterrupted_run(
    gray2color, reference_run, tmp_path, first, second
):
    runs, run = tmp_path / "runs", tmp_path / "runs" / "s"
    # SIGINT at a moment chosen by the data (between log lines, mid-step or not)
    proc = processes.start(*_new_run(gray2color, runs, "s"), cwd=tmp_path)
    assert processes.wait_for(lambda: processes.logged_step(run) >= 7, proc)
    proc.send_signal(first)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + first, err
    stopped = load_checkpoint(run)["step"]
    assert f"stopped by {first.name} after step {stopped}" in " ".join(out.split())
    assert processes.logged_step(run) <= stopped < TOTAL_STEPS

    # SIGTERM while a checkpoint is being written
    proc = processes.start("train", "--resume", run, *RESUME, cwd=tmp_path)
    writing = processes.wait_for(lambda: processes.temp_files(run / "checkpoints"), proc)
    assert writing, "no checkpoint write was seen to send the signal into"
    proc.send_signal(second)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + second, err
    assert "Traceback" not in err
    assert load_checkpoint(run)["step"] > stopped

    _finish(run, tmp_path)
    _assert_equals_reference(run, reference_run)


def test_sigterm_before_the_first_checkpoint_leaves_a_resumable_run(gray2color, tmp_path):
    runs, run = tmp_path / "runs", tmp_path / "runs" / "early"
    proc = processes.start(*_new_run(gray2color, runs, "early"), "--checkpoint-every", "1000",
                           cwd=tmp_path)
    assert processes.wait_for(lambda: processes.logged_step(run) >= 3, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert load_checkpoint(run)["step"] >= 3


_KILL_WRITER = """
import json, os, signal, sys, time
from pathlib import Path
from img2img.checkpoints import load_checkpoint, save_checkpoint

latest = Path(sys.argv[1])
payload = {k: v for k, v in load_checkpoint(latest).items()
           if k not in ("format", "format_version", "checksums")}
results = []
for round_ in range(10):
    pid = os.fork()
    if pid == 0:  # the child writes checkpoints without end
        step = 0
        while True:
            step += 1
            save_checkpoint(latest, {**payload, "step": step})
    while not any(n.endswith(".tmp") for n in os.listdir(latest.parent)):
        time.sleep(0.0002)
    os.kill(pid, signal.SIGKILL)  # mid-write: a temp file is open
    os.waitpid(pid, 0)
    left = [n for n in os.listdir(latest.parent) if n.endswith(".tmp")]
    results.append({"step": load_checkpoint(latest)["step"], "temp_files": len(left)})
print(json.dumps(results))
"""


def test_kill_9_during_checkpoint_writes_always_leaves_a_loadable_latest(
    copy_of_reference, tmp_path
):
    latest = copy_of_reference / "checkpoints" / "latest.pt"
    result = processes.finish(processes.start_code(_KILL_WRITER, latest, cwd=tmp_path))
    assert result.returncode == 0, result.stderr
    rounds = __import__("json").loads(result.stdout)
    assert len(rounds) == 10
    # every kill left the previous checkpoint whole (it loaded, checksums verified) and the
    # killed write's temp file behind
    assert all(r["temp_files"] >= 1 for r in rounds)
    # a resume clears those temp files
    resumed = processes.run("train", "--resume", copy_of_reference, "--max-steps",
                            TOTAL_STEPS, *RESUME, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert processes.temp_files(latest.parent) == []


def test_a_file_size_limit_during_a_checkpoint_write_keeps_the_previous_one(
    copy_of_reference, tmp_path
):
    latest = copy_of_reference / "checkpoints" / "latest.pt"
    before = latest.read_bytes()
    limit = len(before) // 4  # room for metrics and config, not for a checkpoint
    result = processes.run("train", "--resume", copy_of_reference, "--max-steps",
                           TOTAL_STEPS + 8, *RESUME, cwd=tmp_path,
                           limits={"RLIMIT_FSIZE": limit})
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len([line for line in errors if line.startswith("Error:")]) == 1, result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "cannot write checkpoint" in message and "File too large" in message
    assert f"the checkpoint of step {TOTAL_STEPS} is unchanged" in message
    assert latest.read_bytes() == before
    assert processes.temp_files(latest.parent) == []
