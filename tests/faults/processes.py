"""Real ``img2img`` processes for the fault suite: start them, watch their files, hurt them.

Every child runs ``python -m img2img`` with this interpreter, one torch thread (tiny networks
run fastest so, and the results are bit for bit comparable between processes) and plain
output. ``limits`` sets resource limits inside the child before anything else runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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

_LAUNCH = """
import resource, runpy, sys
for name, value in {limits!r}.items():
    resource.setrlimit(getattr(resource, name), (value, value))
sys.argv = ["img2img", *sys.argv[1:]]
runpy.run_module("img2img", run_name="__main__")
"""


def command(*args: str | os.PathLike, limits: dict[str, int] | None = None) -> list[str]:
    """The argv of ``img2img ARGS`` in a child (with resource ``limits`` set inside it)."""
    if limits:
        return [sys.executable, "-c", _LAUNCH.format(limits=limits), *map(str, args)]
    return [sys.executable, "-m", "img2img", *map(str, args)]


def start(*args: str | os.PathLike, cwd: Path, limits: dict[str, int] | None = None,
          **popen: object) -> subprocess.Popen:
    """Start ``img2img ARGS`` in the background; stdout and stderr are captured as text."""
    return subprocess.Popen(command(*args, limits=limits), cwd=cwd, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def run(*args: str | os.PathLike, cwd: Path, timeout: float = 120,
        limits: dict[str, int] | None = None) -> subprocess.CompletedProcess:
    """Run ``img2img ARGS`` to the end."""
    return subprocess.run(command(*args, limits=limits), cwd=cwd, env=ENV, text=True,
                          capture_output=True, timeout=timeout)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 120,
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
    return [{k: v for k, v in json.loads(line).items() if k not in ("time", "images_per_s")}
            for line in lines]


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
