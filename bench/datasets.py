"""Benchmark of dataset preparation: files per second of check, combine, split and edges.

Usage: ``python bench/datasets.py [--files 400] [--size 256] [--workers 1 2]``.

Builds a two-folder paired dataset of ``--files`` real photo crops (scikit-image's public-domain
and CC0 photographs) in a temporary folder, then times each command's library function with
each worker count, with torch at one thread per worker as the ``img2img datasets`` commands run
it (``--torch-threads N`` to see the difference). Wall time depends on what else runs on the
machine; the process CPU time per file (all threads) much less, so both are printed. Paste the
table into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from img2img.prep.check import check_dataset
from img2img.prep.combine import CombineOptions, combine_dirs
from img2img.prep.edges import EdgeOptions, edges_dataset
from img2img.prep.split import split_folder


def make_pairs(root: Path, files: int, size: int) -> tuple[Path, Path]:
    """``root/A/train`` gray and ``root/B/train`` colour crops of real photos, paired by name."""
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    rng = np.random.default_rng(0)
    for side in ("A", "B"):
        (root / side / "train").mkdir(parents=True)
    for i in range(files):
        photo = photos[i % len(photos)]
        side = int(rng.integers(min(photo.shape[:2]) // 3, min(photo.shape[:2])))
        y = int(rng.integers(0, photo.shape[0] - side + 1))
        x = int(rng.integers(0, photo.shape[1] - side + 1))
        crop = Image.fromarray(photo[y : y + side, x : x + side]).resize((size, size))
        crop.convert("L").save(root / "A" / "train" / f"{i:05d}.jpg", quality=90)
        crop.save(root / "B" / "train" / f"{i:05d}.jpg", quality=90)
    return root / "A", root / "B"


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.torch_threads)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dir_a, dir_b = make_pairs(root / "pairs", args.files, args.size)
        print(f"{platform.processor() or platform.machine()}, {args.files} pairs of "
              f"{args.size}x{args.size} JPEGs, torch threads {torch.get_num_threads()}\n")
        print("| task | workers | wall s | files/s | CPU ms per file |")
        print("|---|---:|---:|---:|---:|")
        for workers in args.workers:
            out = root / f"out{workers}"
            tasks = {
                "check --fast (headers, pairing)": lambda w=workers: check_dataset(
                    root / "pairs", "pix2pix", phases=["train"], thorough=False, workers=w),
                "check (decode every pair, hash)": lambda w=workers: check_dataset(
                    root / "pairs", "pix2pix", phases=["train"], workers=w),
                "combine A B -> AB (.jpg)": lambda w=workers, o=out: combine_dirs(
                    dir_a, dir_b, o / "ab", options=CombineOptions(), workers=w),
                "split AB -> A, B": lambda w=workers, o=out: split_folder(
                    o / "ab", o / "split", workers=w),
                "edges photos -> edges|photo": lambda w=workers, o=out: edges_dataset(
                    dir_b, o / "edges", options=EdgeOptions(size=args.size), workers=w),
            }
            for name, work in tasks.items():
                wall, cpu = timed(work)
                print(f"| {name} | {workers} | {wall:.2f} | {args.files / wall:.0f} | "
                      f"{1000 * cpu / args.files:.2f} |")


if __name__ == "__main__":
    main()
