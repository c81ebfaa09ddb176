"""A one-process NCCL group trains and resumes exactly (in its own process: the group and the
deterministic-kernel setting are process-wide)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_process_group_trains_and_resumes_exactly(gray2color, tmp_path, device):
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
           "PYTHONPATH": str(ROOT), "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("nccl_worker.py")), str(gray2color),
         str(tmp_path / "runs"), str(device)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == ("nccl" if device.type == "cuda" else "gloo")
    assert result["steps"] == [2, 4] and result["saved_step"] == 4
    assert result["differ"] == []
