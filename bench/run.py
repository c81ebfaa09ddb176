"""Benchmarks: the machine's matmul peak, pix2pix training MFU and translate throughput.

Usage: ``python bench/run.py [--device cpu] [--steps 10] [--images 64] [--batch-size 8]``.
Prints one table; paste it into bench/RESULTS.md with the date and the machine.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from img2img.cli.memory import tune_allocator
from img2img.config import DataConfig, Pix2PixConfig, RunConfig, TrainConfig
from img2img.families import run_config
from img2img.infer.translate import plan_outputs, translate_files
from img2img.launch import build_recipe


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_step(recipe, batch: dict, steps: int) -> float:
    """Median seconds of ``steps`` training steps of ``recipe`` on ``batch`` (warm already)."""
    sync(recipe.device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        recipe.train_step(batch)
        sync(recipe.device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak(
    device: torch.device, dtype=torch.float32, size: int = 2048, repeats: int = 10
) -> float:
    """Best GFLOP/s of square matmuls (the machine's practical peak for this dtype)."""
    best = 0.0
    for n in (size // 2, size, size * 2):
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        a @ b
        sync(device)
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            sync(device)
            best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def pix2pix_config(device: str, precision: str, channels_last: bool) -> RunConfig:
    return run_config(
        "pix2pix",
        Pix2PixConfig(),  # unet_256 + basic D, the paper's defaults
        data=DataConfig(root="."),
        train=TrainConfig(device=device, precision=precision, channels_last=channels_last),
        name="bench",
    )


def train_step_benchmark(device: str, precision: str, channels_last: bool, steps: int) -> dict:
    recipe = build_recipe(pix2pix_config(device, precision, channels_last))
    dev = recipe.device
    g = torch.Generator().manual_seed(0)
    batch = {
        "A": torch.rand(1, 3, 256, 256, generator=g) * 2 - 1,
        "B": torch.rand(1, 3, 256, 256, generator=g) * 2 - 1,
    }
    with FlopCounterMode(display=False) as counter:
        recipe.train_step(batch)
    flops = counter.get_total_flops()
    for _ in range(2):
        recipe.train_step(batch)
    sync(dev)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        recipe.train_step(batch)
        sync(dev)
        times.append(time.perf_counter() - t)
    return {"flops": flops, "seconds": statistics.median(times)}


def make_images(folder: Path, count: int, size: int = 256) -> None:
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")


def translate_benchmark(device: str, images: int, batch_size: int) -> dict:
    recipe = build_recipe(pix2pix_config(device, "fp32", False))
    dev = recipe.device
    model = recipe.inference_model(recipe.config, {"G": recipe.G})  # paper test mode
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        make_images(src, images)
        jobs = plan_outputs(src, dst)
        # forward only: the same batches, already on the device
        x = torch.rand(batch_size, 3, 256, 256, device=dev) * 2 - 1
        keys = [str(i) for i in range(batch_size)]
        with torch.inference_mode():
            model.run(x, keys)
            sync(dev)
            t = time.perf_counter()
            for _ in range(images // batch_size):
                model.run(x, keys)
            sync(dev)
        forward_ips = (images // batch_size) * batch_size / (time.perf_counter() - t)
        t = time.perf_counter()
        summary = translate_files(model, jobs, batch_size=batch_size, device=dev)
        end_to_end_ips = summary.written / (time.perf_counter() - t)
    return {"forward_ips": forward_ips, "end_to_end_ips": end_to_end_ips}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    device = torch.device(args.device)
    tune_allocator()  # what the img2img command does (IMG2IMG_MALLOC)

    peak_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[
        args.precision
    ]
    peak = matmul_peak(device, peak_dtype)
    step = train_step_benchmark(args.device, args.precision, args.channels_last, args.steps)
    achieved = step["flops"] / step["seconds"] / 1e9
    tr = translate_benchmark(args.device, args.images, args.batch_size)

    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, device {device}, precision {args.precision}"
    )
    print("| measure | value |")
    print("|---|---|")
    print(f"| matmul peak ({args.precision}) | {peak:.1f} GFLOP/s |")
    gflop = step["flops"] / 1e9
    print(f"| pix2pix train step FLOPs (unet_256 + basic D, 256px, batch 1) | {gflop:.2f} GFLOP |")
    print(f"| pix2pix train step time | {step['seconds']:.3f} s |")
    print(f"| pix2pix train achieved | {achieved:.1f} GFLOP/s |")
    print(f"| pix2pix train MFU (vs matmul peak) | {achieved / peak:.1%} |")
    print(f"| translate forward only (batch {args.batch_size}) | {tr['forward_ips']:.2f} img/s |")
    print(
        f"| translate end to end ({args.images} PNGs 256x256) | {tr['end_to_end_ips']:.2f} img/s |"
    )
    print(
        f"| translate end to end / forward only | {tr['end_to_end_ips'] / tr['forward_ips']:.1%} |"
    )


if __name__ == "__main__":
    main()
