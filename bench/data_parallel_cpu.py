"""CPU data-parallel throughput: ``train --devices 2`` against one process, same global batch.

Usage: ``python bench/data_parallel_cpu.py [--steps 30] [--batch 4 8 16] [--size 128]``.

Both runs train pix2pix (unet_128, ngf 32, batch norm) on the bundled colorize_mini sample
through the real ``img2img train`` command: one process with every core at ``--batch-size B``,
then ``--devices 2`` (one thread per process) at ``--batch-size B/2`` each. Throughput is the
mean ``images_per_s`` of the logged windows after the first (warm-up) one, read back from each
run's metrics.jsonl. Each global batch is measured both ways; the gradients exchanged per step
are the same at every batch, so their share of a step falls as the batch grows. Prints a table
for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "datasets" / "colorize_mini"


def train(runs: Path, name: str, devices: int, batch: int, steps: int, size: int) -> float:
    """Images per second over all processes, after the first logged window."""
    command = [
        sys.executable, "-m", "img2img", "train", "pix2pix", "--data", str(DATA),
        "--netG", "unet_128", "--ngf", "32", "--ndf", "32", "--input-nc", "1",
        "--load-size", str(size), "--crop-size", str(size), "--batch-size", str(batch),
        "--num-workers", "0", "--max-steps", str(steps), "--log-every", "5",
        "--sample-every", "100000", "--checkpoint-every", "100000", "--device", "cpu",
        "--runs-dir", str(runs), "--name", name, "--devices", str(devices),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // devices))}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    metrics = (runs / name / "metrics.jsonl").read_text()
    records = [json.loads(line) for line in metrics.splitlines()]
    return statistics.mean(r["images_per_s"] for r in records[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, nargs="+", default=[4, 8, 16],
                        help="global batches (per step; even numbers)")
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    if any(b < 2 or b % 2 for b in args.batch):
        parser.error(f"--batch {args.batch}: expected even numbers >= 2 (split over 2 processes)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        for batch in args.batch:
            one = train(runs, f"one_{batch}", 1, batch, args.steps, args.size)
            two = train(runs, f"two_{batch}", 2, batch // 2, args.steps, args.size)
            rows.append((batch, one, two))
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}; pix2pix unet_128 ngf 32, {args.size}px, "
          f"{args.steps} steps")
    print(f"| global batch | 1 process ({os.cpu_count()} threads), images/s | 2 processes "
          "(gloo, 1 thread each), images/s | 2 / 1 (target 85%) |")
    print("|---|---|---|---|")
    for batch, one, two in rows:
        print(f"| {batch} | {one:.2f} | {two:.2f} | {two / one:.1%} |")


if __name__ == "__main__":
    main()
