"""``kill -9`` of ``train --devices N``: its processes end with it and the run resumes."""

from __future__ import annotations

import signal

import pytest

from img2img.checkpoints import load_checkpoint
from tests.faults import processes, proctree

pytestmark = pytest.mark.slow


def test_the_processes_of_a_killed_launcher_end_and_the_run_resumes(gray2color, tmp_path):
    run = tmp_path / "runs" / "orphans"
    launcher = processes.start(
        "train", "pix2pix", "--data", gray2color, "--runs-dir", tmp_path / "runs", "--name",
        "orphans", *processes.TINY_RUN, "--num-workers", "2", "--devices", "2",
        "--checkpoint-every", "2", "--max-steps", "100000", cwd=tmp_path)
    below: set[int] = set()
    try:
        def training() -> bool:
            below.update(proctree.descendants(launcher.pid))
            return (run / "checkpoints" / "latest.pt").is_file() and processes.logged_step(run) >= 3

        assert processes.wait_for(training, launcher, timeout=90), launcher.communicate()[1]
        assert len(below) >= 2  # the two training processes (and their loader workers)
        launcher.send_signal(signal.SIGKILL)
        launcher.communicate(timeout=30)
        assert proctree.wait_gone(below, timeout=15) == set()
    finally:
        for pid in proctree.alive(below):
            __import__("os").kill(pid, signal.SIGKILL)
    stopped = load_checkpoint(run)["step"]
    resumed = processes.run("train", "--resume", run, "--max-steps", stopped + 2,
                            "--num-workers", "0", cwd=tmp_path, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(run)["step"] == stopped + 2
