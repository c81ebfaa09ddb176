"""Every fatal error ends training at once: one ``Error:`` line, the right status, no process left.

Training runs with loader workers (``--num-workers 2``) here, as it does by default: a run that
fails must end its workers, not wait for them.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from img2img.checkpoints import load_checkpoint, save_checkpoint
from img2img.data.labelmaps import LabelValueError
from img2img.data.sampler import SampleError, make_loader
from tests.faults import processes, proctree
from tests.faults.conftest import TOTAL_STEPS

pytestmark = pytest.mark.slow

WORKERS = ["--num-workers", "2"]
#: seconds a failing run may take to end (it ends in about one)
ENDS_WITHIN = 40

#: ``NAN_AT STEP_SECONDS ARGS``: runs ``img2img ARGS`` with pix2pix's losses NaN from step
#: NAN_AT (0: never), and every step taking at least STEP_SECONDS
_PATCHED = """
import runpy, sys, time
from img2img.families import get_family

recipe = get_family("pix2pix").recipe_class()
step, calls = recipe.train_step, []
nan_at, seconds = int(sys.argv[1]), float(sys.argv[2])

def patched(self, batch):
    losses = step(self, batch)
    calls.append(1)
    time.sleep(seconds)
    if nan_at and len(calls) >= nan_at:
        losses = {**losses, "G_L1": losses["G_L1"] * float("nan")}
    return losses

recipe.train_step = patched
sys.argv = ["img2img", *sys.argv[3:]]
runpy.run_module("img2img", run_name="__main__")
"""


def _start_patched(*args, nan_at: int = 0, step_seconds: float = 0.0,
                   cwd: Path) -> processes.Child:
    return processes.start_code(_PATCHED, nan_at, step_seconds, *args, cwd=cwd)


def _new_run(data: Path, runs: Path, name: str, *options: str) -> list:
    return ["train", "pix2pix", "--data", data, "--runs-dir", runs, "--name", name,
            "--max-steps", TOTAL_STEPS, *processes.TINY_RUN, *WORKERS, *options]


def _workers_of(proc: processes.Child, count: int = 2) -> set[int]:
    """The loader workers of ``proc`` once they run."""
    found: set[int] = set()

    def seen() -> bool:
        found.update(proctree.descendants(proc.pid))
        return len(found) >= count

    assert processes.wait_for(seen, proc, timeout=60), proc.communicate()[1]
    return found


def _assert_one_error(result, status: int, *expected: str) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.returncode == status, result.stderr
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    for text in expected:
        assert text in message, result.stderr


def _poison(run: Path) -> None:
    """Make the run's latest checkpoint hold NaN weights (checksums written anew)."""
    latest = run / "checkpoints" / "latest.pt"
    payload = {k: v for k, v in load_checkpoint(latest).items()
               if k not in ("format", "format_version", "checksums")}
    for tensor in payload["nets"]["G"].values():
        if tensor.is_floating_point():
            tensor.fill_(float("nan"))
    save_checkpoint(latest, payload)


def test_a_nan_loss_ends_the_run_and_its_loader_workers(gray2color, tmp_path):
    proc = _start_patched(*_new_run(gray2color, tmp_path / "runs", "nan"),
                          nan_at=10, cwd=tmp_path)
    workers = _workers_of(proc)
    result = processes.finish(proc, timeout=ENDS_WITHIN)
    _assert_one_error(result, 2, "a loss is not finite")
    assert proctree.wait_gone(workers, timeout=5) == set()


def test_resuming_nan_weights_ends_the_run(copy_of_reference, tmp_path):
    _poison(copy_of_reference)
    result = processes.run("train", "--resume", copy_of_reference, "--max-steps",
                           TOTAL_STEPS + 8, *WORKERS, cwd=tmp_path, timeout=ENDS_WITHIN)
    _assert_one_error(result, 2, "not finite")


def test_a_full_disk_at_a_checkpoint_ends_the_run(copy_of_reference, tmp_path):
    latest = copy_of_reference / "checkpoints" / "latest.pt"
    before = latest.read_bytes()
    result = processes.run("train", "--resume", copy_of_reference, "--max-steps",
                           TOTAL_STEPS + 8, *WORKERS, cwd=tmp_path, timeout=ENDS_WITHIN,
                           limits={"RLIMIT_FSIZE": len(before) // 4})
    _assert_one_error(result, 2, "cannot write checkpoint", "File too large")
    assert latest.read_bytes() == before


def test_a_second_ctrl_c_stops_at_once_with_status_130(gray2color, tmp_path):
    run = tmp_path / "runs" / "twice"
    proc = _start_patched(*_new_run(gray2color, tmp_path / "runs", "twice",
                                    "--checkpoint-every", "2"),
                          step_seconds=0.5, cwd=tmp_path)
    workers = _workers_of(proc)
    assert processes.wait_for(lambda: processes.logged_step(run) >= 3, proc)
    proc.send_signal(signal.SIGINT)
    stderr = Path(proc._err)
    assert processes.wait_for(lambda: "SIGINT received" in stderr.read_text(), proc)
    proc.send_signal(signal.SIGINT)  # while the step in progress (half a second) ends
    result = processes.finish(proc, timeout=ENDS_WITHIN)
    _assert_one_error(result, 130, "SIGINT received while stopping: stopped at once")
    assert proctree.wait_gone(workers, timeout=5) == set()
    assert load_checkpoint(run)["step"] >= 2  # the last checkpoint written is kept


def test_two_processes_with_nan_weights_both_end(copy_of_reference, tmp_path):
    _poison(copy_of_reference)
    result = processes.run("train", "--resume", copy_of_reference, "--max-steps",
                           TOTAL_STEPS + 8, "--devices", "2", *WORKERS, cwd=tmp_path,
                           timeout=90)
    _assert_one_error(result, 2, "not finite")


class _BadLabels(torch.utils.data.Dataset):
    """Eight samples; the fourth holds a class id its label count does not allow."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, key):
        index, _ = key
        if index == 3:
            raise LabelValueError("labels/3.png: class id 200 is outside 0..34")
        return {"x": torch.full((1,), float(index))}


@pytest.mark.parametrize("workers", [0, 2])
def test_a_bad_sample_in_a_loader_worker_is_one_line_naming_the_file(workers):
    before = proctree.descendants(os.getpid())
    loader, _ = make_loader(_BadLabels(), batch_size=2, num_workers=workers, seed=0,
                            shuffle=False)
    try:
        with pytest.raises(ValueError) as caught:
            for _ in loader:
                pass
    finally:
        loader.close()
    assert str(caught.value) == "labels/3.png: class id 200 is outside 0..34"
    assert isinstance(caught.value, SampleError if workers else LabelValueError)
    assert proctree.descendants(os.getpid()) <= before  # its workers ended
