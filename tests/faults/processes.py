"""Real ``img2img`` processes for the fault suite: start them, watch their files, hurt them.

Every child is forked from one server process (:mod:`tests.faults.forkserver`) that imported
torch and img2img once, and runs ``img2img ARGS`` as ``python -m img2img`` would: one torch
thread (tiny networks run fastest so, and results are bit for bit comparable between
processes) and plain output. ``limits`` sets resource limits in the child before the command
runs; ``headroom`` caps its address space at what it has mapped plus that many bytes.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

#: the environment of every child
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "1", "NO_COLOR": "1",
       "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
ENV.pop("IMG2IMG_DEBUG", None)

#: a pix2pix run that takes ~20 ms a step on one core: 4-filter ResNet, 32 px, 8 images
TINY_RUN = ["--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--input-nc", "1",
            "--load-size", "36", "--crop-size", "32", "--batch-size", "4",
            "--max-dataset-size", "8", "--num-workers", "0", "--device", "cpu",
            "--n-epochs", "30", "--n-epochs-decay", "30", "--log-every", "3",
            "--checkpoint-every", "4", "--sample-every", "1000"]


class _Server:
    """The fork server, started on first use and ended with the test session."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="img2img-forkserver-"))
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("forkserver.py"))], env=ENV,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.count = itertools.count()

    def fork(self, request: dict) -> tuple[int, Path, Path, Path]:
        n = next(self.count)
        files = [self.folder / f"{n}.{kind}" for kind in ("out", "err", "status")]
        request.update(zip(("stdout", "stderr", "status"), map(str, files), strict=True))
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError(f"the fork server ended (exit code {self.proc.wait()})")
        return (json.loads(reply)["pid"], *files)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)


_server: _Server | None = None


def _fork(request: dict) -> tuple[int, Path, Path, Path]:
    global _server
    if _server is None:
        _server = _Server()
        atexit.register(_server.close)
    return _server.fork(request)


class Child:
    """A running command: the parts of :class:`subprocess.Popen` the suite uses."""

    def __init__(self, args: Sequence[str], request: dict) -> None:
        self.args = list(args)
        self.pid, self._out, self._err, self._status = _fork(request)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self._status.exists():
            self.returncode = int(self._status.read_text())
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.002)
        return self.returncode  # type: ignore[return-value]

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the end; the whole stdout and stderr."""
        self.wait(timeout)
        return self._out.read_text(errors="replace"), self._err.read_text(errors="replace")


def _request(args: Sequence[str | os.PathLike], cwd: Path, limits: dict[str, int] | None,
             headroom: int | None) -> dict:
    return {"argv": [str(a) for a in args], "cwd": str(cwd), "limits": limits or {},
            "headroom": headroom}


def start(*args: str | os.PathLike, cwd: Path, limits: dict[str, int] | None = None,
          headroom: int | None = None) -> Child:
    """Start ``img2img ARGS`` in the background."""
    return Child([str(a) for a in args], _request(args, cwd, limits, headroom))


def start_code(code: str, *args: str | os.PathLike, cwd: Path) -> Child:
    """Start the Python snippet ``code`` with ``sys.argv[1:] = ARGS`` in the background."""
    return Child(["-c", *map(str, args)], {"code": code, "args": [str(a) for a in args],
                                           "cwd": str(cwd)})


def finish(child: Child, timeout: float = 120) -> subprocess.CompletedProcess:
    """Wait for ``child``; its exit code and output. After ``timeout`` s it is killed and
    the error shows where its threads were."""
    try:
        out, err = child.communicate(timeout)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGUSR1)  # its threads' stacks, to its stderr
        time.sleep(1)
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(30)
        raise AssertionError(f"{child.args} ran past {timeout} s; where it was:\n{err}") from None
    return subprocess.CompletedProcess(child.args, child.returncode or 0, out, err)


def run(*args: str | os.PathLike, cwd: Path, timeout: float = 120,
        limits: dict[str, int] | None = None,
        headroom: int | None = None) -> subprocess.CompletedProcess:
    """Run ``img2img ARGS`` to the end."""
    return finish(start(*args, cwd=cwd, limits=limits, headroom=headroom), timeout)


def wait_for(condition: Callable[[], bool], proc: Child, timeout: float = 120,
             poll: float = 0.0005) -> bool:
    """Poll ``condition`` until it holds (True) or ``proc`` ends first (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return condition()
        time.sleep(poll)
    raise TimeoutError(f"condition not met within {timeout} s")


def logged_step(run_dir: Path) -> int:
    """The last step in ``metrics.jsonl`` (0 when none is logged yet)."""
    try:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError):
            continue
    return 0


def temp_files(folder: Path) -> list[str]:
    """Unfinished atomic writes in ``folder``: ``.<name>.<hex>.tmp``."""
    try:
        return [e.name for e in os.scandir(folder) if e.name.endswith(".tmp")]
    except FileNotFoundError:
        return []


def metrics(run_dir: Path) -> list[dict]:
    """``metrics.jsonl`` without the fields that depend on the clock."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    clock = ("time", "images_per_s", "data_time")
    return [{k: v for k, v in json.loads(line).items() if k not in clock} for line in lines]


def assert_same_state(expected: dict, got: dict, sections: Sequence[str] = (
        "nets", "optimizers", "schedulers", "step", "epoch", "epoch_step")) -> None:
    """Two checkpoints hold bit-identical training state."""
    for section in sections:
        _assert_equal(expected[section], got[section], section)


def _assert_equal(a: object, b: object, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys differ"
        for key in a:
            _assert_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
