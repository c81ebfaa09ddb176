"""``img2img serve`` under load: concurrent clients against offline ``translate`` throughput.

Usage: ``python bench/serve.py [--clients 8] [--requests 50] [--size 256] [--ngf 64]``.

A pix2pix ``unet_256`` (batch norm, dropout, the paper's test mode) is saved as generator
weights; ``img2img serve`` runs it in its own process on the CPU; ``--clients`` threads each
send ``--requests`` PNGs of ``--size`` x ``--size`` one after another (multipart, as ``curl
-F`` does). Printed: images per second served, p50/p99 latency, errors, and the ratio to
``translate_files`` over the same images on the same machine, measured right before and right
after (batch 8, the best of two runs each; their mean is the reference, so a shared machine's
changing load weighs on both sides alike). Both use every core; the server batches requests
that arrive together, which is what lets it come near the offline rate.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import torch
from machine import describe, load_average
from run import make_images

from img2img.families.loading import load_inference_model
from img2img.infer.plan import plan_outputs
from img2img.infer.translate import translate_files
from img2img.nn import create_generator

REPO = Path(__file__).resolve().parents[1]


def start_server(weights: Path, batch_size: int,
                 log: list[str]) -> tuple[subprocess.Popen, str]:
    """``img2img serve`` on a free port; its process and URL once it listens (its output
    goes on into ``log``)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "img2img", "serve", "--model", f"bench={weights}", "--port", "0",
         "--device", "cpu", "--batch-size", str(batch_size)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"Uvicorn running on (http://\S+)", line)
        if found:
            threading.Thread(target=lambda: log.extend(process.stdout), daemon=True).start()
            return process, found.group(1)
    raise SystemExit(f"the server exited ({process.wait()}) before it listened")


def load(url: str, images: list[Path], clients: int, requests: int) -> tuple[list[float], int,
                                                                                float]:
    """Latencies of every request, errors, and the wall-clock time of the whole load."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def client(index: int) -> None:
        nonlocal errors
        with httpx.Client(timeout=300) as http:
            for r in range(requests):
                path = images[(index * requests + r) % len(images)]
                start = time.perf_counter()
                reply = http.post(f"{url}/v1/translate", files={"image": (path.name,
                                                                          path.read_bytes())})
                took = time.perf_counter() - start
                with lock:
                    latencies.append(took)
                    errors += reply.status_code != 200

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return latencies, errors, time.perf_counter() - start


def offline_rate(weights: Path, src: Path, dst: Path, batch_size: int) -> float:
    """Images per second of ``translate_files`` over ``src`` (the best of two runs)."""
    model = load_inference_model(weights, "cpu")
    jobs = plan_outputs(src, dst)
    translate_files(model, jobs[:batch_size], batch_size=batch_size, device="cpu")  # warm-up
    best = 0.0
    for _ in range(2):
        summary = translate_files(model, jobs, batch_size=batch_size, device="cpu",
                                  overwrite=True)
        best = max(best, summary.written / summary.seconds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=50, help="per client")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--images", type=int, default=64, help="distinct input images")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        torch.manual_seed(0)
        net = create_generator("unet_256", ngf=args.ngf, norm="batch", dropout=True)
        weights = root / "unet_256.pth"
        torch.save(net.state_dict(), weights)
        (root / "in").mkdir()
        make_images(root / "in", args.images, args.size)
        images = sorted((root / "in").glob("*.png"))
        offline_before = offline_rate(weights, root / "in", root / "out", args.batch_size)
        log: list[str] = []
        process, url = start_server(weights, args.batch_size, log)
        try:
            # warm-up: the first batch of each size pays its probes and weight packing (once
            # per machine: the verdicts are kept on disk), as the offline warm-up does
            load(url, images, args.clients, 3)
            before = load_average()
            latencies, errors, seconds = load(url, images, args.clients, args.requests)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)
        offline_after = offline_rate(weights, root / "in", root / "out", args.batch_size)
    offline = (offline_before + offline_after) / 2
    served = len(latencies) / seconds
    cuts = statistics.quantiles(latencies, n=100)
    machine = describe(torch.device("cpu"))
    print(f"img2img serve, {args.clients} clients x {args.requests} requests, unet_256 ngf "
          f"{args.ngf}, {args.size}x{args.size} PNG, batch {args.batch_size}; {machine.label}, "
          f"{machine.cores} cores, load average {before:.1f} before")
    print("| served img/s | p50 latency | p99 latency | errors | offline translate img/s "
          "(before, after) | served / offline |")
    print("|---|---|---|---|---|---|")
    print(f"| {served:.2f} | {cuts[49]:.2f} s | {cuts[98]:.2f} s | {errors} | {offline:.2f} "
          f"({offline_before:.2f}, {offline_after:.2f}) | {served / offline:.0%} |")
    print("".join(line for line in log if " images in " in line).strip())


if __name__ == "__main__":
    main()
