"""SIGTERM: the requests in flight finish, new ones are refused, the process exits."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.serve.conftest import photo

REPO = Path(__file__).resolve().parents[2]


def _start(checkpoint: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("IMG2IMG_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "img2img", "serve", "--model", str(checkpoint), "--port", "0",
         "--device", "cpu", "--batch-window-ms", "1000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    for line in process.stdout:
        found = re.search(r"Uvicorn running on (http://\S+)", line)
        if found:
            return process, found.group(1)
        assert time.monotonic() < deadline, "the server did not start"
    raise AssertionError(f"the server exited ({process.wait()}) before it listened")


def test_sigterm_finishes_the_requests_in_flight_and_exits(checkpoint, tmp_path):
    image = photo(tmp_path / "x.png", 64, 64, seed=0).read_bytes()
    process, url = _start(checkpoint)
    try:
        clients = [httpx.Client(timeout=60) for _ in range(6)]
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(c.post, f"{url}/v1/translate", content=image)
                       for c in clients]
            time.sleep(0.6)  # all sent; they wait in the 1 s batching window
            process.send_signal(signal.SIGTERM)
            replies = [f.result() for f in futures]
        for client in clients:
            client.close()
        assert [r.status_code for r in replies] == [200] * 6
        assert len({r.content for r in replies}) == 1
        try:
            late = httpx.post(f"{url}/v1/translate", content=image, timeout=5)
        except httpx.TransportError:
            pass  # the port is closed: refused, as it should be
        else:
            assert late.status_code == 503
        # uvicorn ends by re-raising the signal it caught, after the graceful shutdown
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        log = process.stdout.read()  # type: ignore[union-attr]
        assert log.count('"POST /v1/translate HTTP/1.1" 200') == 6  # access log lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
