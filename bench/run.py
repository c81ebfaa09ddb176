"""Benchmarks: the machine's matmul peak, pix2pix and CycleGAN training MFU, translate throughput.

Usage: ``python bench/run.py [--device cpu] [--steps 10] [--images 64] [--batch-size 8]
[--train pix2pix cyclegan] [--channels-last] [--no-translate]``.
Prints one table; paste it into bench/RESULTS.md with the date and the machine. On the CPU
it also prints the process CPU time of the step and of the matmuls: on a machine shared with
other jobs, FLOPs per CPU second move much less than FLOPs per wall-clock second.
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
from img2img.config import CycleGANConfig, DataConfig, Pix2PixConfig, RunConfig, TrainConfig
from img2img.families import run_config
from img2img.infer.translate import plan_outputs, translate_files
from img2img.launch import build_recipe


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(
    device: torch.device, dtype=torch.float32, size: int = 2048, repeats: int = 10
) -> tuple[float, float]:
    """Best GFLOP/s of square matmuls (the machine's practical peak for this dtype), per
    second of wall-clock time and per second of this process's CPU time."""
    best = best_cpu = 0.0
    for n in (size // 2, size, size * 2):
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        a @ b
        sync(device)
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            a @ b
            sync(device)
            best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
            best_cpu = max(best_cpu, 2 * n**3 / max(time.process_time() - c, 1e-9) / 1e9)
    return best, best_cpu


#: the training step each family is measured on: its paper's networks, crop size, batch 1
TRAIN_BENCHES = {
    "pix2pix": (Pix2PixConfig, 256, "unet_256 + basic D, 256px, batch 1"),
    "cyclegan": (CycleGANConfig, 128, "2 x resnet_9blocks + 2 x basic D, 128px, batch 1"),
}


def family_config(family: str, device: str, precision: str, channels_last: bool) -> RunConfig:
    """The paper's defaults of ``family`` (its config class's defaults) for a benchmark run."""
    config_class, size, _ = TRAIN_BENCHES[family]
    return run_config(
        family,
        config_class(),
        data=DataConfig(root=".", load_size=size, crop_size=size),
        train=TrainConfig(device=device, precision=precision, channels_last=channels_last),
        name="bench",
    )


def train_step_benchmark(
    family: str, device: str, precision: str, channels_last: bool, steps: int
) -> dict:
    recipe = build_recipe(family_config(family, device, precision, channels_last))
    dev = recipe.device
    size = TRAIN_BENCHES[family][1]
    g = torch.Generator().manual_seed(0)
    batch = {
        "A": torch.rand(1, 3, size, size, generator=g) * 2 - 1,
        "B": torch.rand(1, 3, size, size, generator=g) * 2 - 1,
    }
    with FlopCounterMode(display=False) as counter:
        recipe.train_step(batch)
    flops = counter.get_total_flops()
    for _ in range(2):
        recipe.train_step(batch)
    sync(dev)
    times, cpu_times = [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        recipe.train_step(batch)
        sync(dev)
        times.append(time.perf_counter() - t)
        cpu_times.append(time.process_time() - c)
    return {"flops": flops, "seconds": statistics.median(times),
            "cpu_seconds": statistics.median(cpu_times)}


def make_images(folder: Path, count: int, size: int = 256) -> None:
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")


def translate_benchmark(device: str, images: int, batch_size: int) -> dict:
    recipe = build_recipe(family_config("pix2pix", device, "fp32", False))
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
    parser.add_argument("--train", nargs="*", default=list(TRAIN_BENCHES),
                        choices=list(TRAIN_BENCHES), help="training steps to measure")
    parser.add_argument("--no-translate", action="store_true", help="skip translate throughput")
    args = parser.parse_args()
    device = torch.device(args.device)
    tune_allocator()  # what the img2img command does (IMG2IMG_MALLOC)

    peak_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[
        args.precision
    ]
    peak, peak_cpu = matmul_peak(device, peak_dtype)
    steps = {family: train_step_benchmark(family, args.device, args.precision,
                                          args.channels_last, args.steps)
             for family in args.train}
    tr = None if args.no_translate else translate_benchmark(args.device, args.images,
                                                            args.batch_size)

    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, device {device}, precision {args.precision}, "
        f"{'channels_last' if args.channels_last else 'contiguous'}"
    )
    print("| measure | value |")
    print("|---|---|")
    print(f"| matmul peak ({args.precision}) | {peak:.1f} GFLOP/s |")
    if device.type == "cpu":
        print(f"| matmul peak per CPU second | {peak_cpu:.1f} GFLOP/CPU-s |")
    for family, step in steps.items():
        achieved = step["flops"] / step["seconds"] / 1e9
        what = TRAIN_BENCHES[family][2]
        print(f"| {family} train step FLOPs ({what}) | {step['flops'] / 1e9:.2f} GFLOP |")
        print(f"| {family} train step time | {step['seconds']:.3f} s |")
        print(f"| {family} train achieved | {achieved:.1f} GFLOP/s |")
        print(f"| {family} train MFU (vs matmul peak) | {achieved / peak:.1%} |")
        if device.type == "cpu":  # the same ratio in CPU time: steadier on a shared machine
            per_cpu = step["flops"] / step["cpu_seconds"] / 1e9
            print(f"| {family} train step CPU time | {step['cpu_seconds']:.3f} CPU-s, "
                  f"{per_cpu:.1f} GFLOP/CPU-s, {per_cpu / peak_cpu:.1%} of the matmul's |")
    if tr is None:
        return
    print(f"| translate forward only (batch {args.batch_size}) | {tr['forward_ips']:.2f} img/s |")
    print(
        f"| translate end to end ({args.images} PNGs 256x256) | {tr['end_to_end_ips']:.2f} img/s |"
    )
    print(
        f"| translate end to end / forward only | {tr['end_to_end_ips'] / tr['forward_ips']:.1%} |"
    )


if __name__ == "__main__":
    main()
