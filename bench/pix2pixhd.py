"""pix2pixHD training on one device: step time, FLOPs, MFU, and the memory estimate of
``train pix2pixhd --dry-run`` against the measured peak.

Usage: ``python bench/pix2pixhd.py [--device cpu] [--steps 3] [--height 256] [--width 512]``.

The network is the paper's coarse stage: the ``global`` generator (ngf 64, 4 downsamplings, 9
residual blocks) on 35 one-hot classes + the boundary map, the 2-scale PatchGAN (ndf 64,
n_layers 3), LSGAN + discriminator feature matching (the VGG loss off: its ImageNet weights are
not fetched here), Adam on both networks, batch 1 at 256x512 by default. The measured peak is
``torch.cuda.max_memory_allocated`` on a GPU and, on the CPU, the growth of the process's peak
resident set (``ru_maxrss``) over a fresh process that has only imported torch and built the
batch, measured in a child process. Prints a table to paste into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

import torch
from flops import FlopCounterMode
from run import matmul_peak, median_step, sync
from torch.utils.data import default_collate

from img2img.cli.memory import tune_allocator
from img2img.config import DataConfig, RunConfig, TrainConfig
from img2img.engine.memory import estimate_training_memory
from img2img.families import get_family, run_config
from img2img.families.pix2pixhd.config import Pix2PixHDConfig
from img2img.launch import build_recipe

LABEL_NC = 35
GIB = 1024**3


def hd_config(device: str, precision: str, batch_size: int) -> RunConfig:
    """The paper's 512p-stage networks, without the VGG loss."""
    return run_config(
        "pix2pixhd",
        Pix2PixHDConfig(label_nc=LABEL_NC, vgg_loss=False),
        data=DataConfig(root="."),
        train=TrainConfig(device=device, precision=precision, batch_size=batch_size),
        name="bench",
    )


def make_sample(height: int, width: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """One training sample of the label-map dataset's form: blocky label and instance maps
    (regions 32 px across, a few instances of one class) and a photo in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    grid = torch.randint(0, LABEL_NC, (height // 32 + 1, width // 32 + 1), generator=g)
    labels = grid.repeat_interleave(32, 0).repeat_interleave(32, 1)[:height, :width]
    instances = torch.where(labels == 26, 26000 + torch.arange(width) // 64, labels)
    image = torch.rand(3, height, width, generator=g) * 2 - 1
    return {"label": labels[None].long(), "instance": instances[None].long(), "image": image}


def train_step_benchmark(config: RunConfig, batch: dict, steps: int) -> dict:
    recipe = build_recipe(config)
    with FlopCounterMode(display=False) as counter:
        recipe.train_step(batch)
    recipe.train_step(batch)
    seconds = median_step(recipe, batch, steps)
    params = {k: sum(p.numel() for p in net.parameters()) for k, net in recipe.nets.items()}
    return {"flops": counter.get_total_flops(), "seconds": seconds, "params": params}


def measured_peak(args: argparse.Namespace) -> int:
    """Peak bytes of two training steps: the CUDA allocator's peak, or on the CPU the growth
    of peak RSS in a child process (this process has run other work already)."""
    device = torch.device(args.device)
    if device.type == "cuda":
        sample = make_sample(args.height, args.width)
        batch = default_collate([sample] * args.batch_size)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        recipe = build_recipe(hd_config(args.device, args.precision, args.batch_size))
        for _ in range(2):
            recipe.train_step(batch)
        sync(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        del recipe
        return peak
    command = [sys.executable, __file__, "--measure-rss", "--height", str(args.height),
               "--width", str(args.width), "--batch-size", str(args.batch_size),
               "--precision", args.precision]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return int(json.loads(out.strip().splitlines()[-1])["peak"])


def measure_rss(args: argparse.Namespace) -> None:
    """Child process: print the growth of peak RSS over two CPU training steps, as JSON."""
    tune_allocator()
    batch = default_collate([make_sample(args.height, args.width)] * args.batch_size)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    recipe = build_recipe(hd_config("cpu", args.precision, args.batch_size))
    for _ in range(2):
        recipe.train_step(batch)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    print(json.dumps({"peak": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--measure-rss", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_rss:
        measure_rss(args)
        return
    tune_allocator()  # what the img2img command does (IMG2IMG_MALLOC)
    device = torch.device(args.device)
    config = hd_config(args.device, args.precision, args.batch_size)
    sample = make_sample(args.height, args.width)
    recipe_class = get_family("pix2pixhd").recipe_class()
    estimate = estimate_training_memory(recipe_class, config, sample)
    peak_bytes = measured_peak(args)
    batch = default_collate([sample] * args.batch_size)
    step = train_step_benchmark(config, batch, args.steps)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    peak = matmul_peak(device, dtype[args.precision])
    achieved = step["flops"] / step["seconds"] / 1e9
    load = os.getloadavg()

    shape = f"{args.height}x{args.width}, batch {args.batch_size}"
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {device}, "
          f"precision {args.precision}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| measure | value |")
    print("|---|---|")
    print(f"| matmul peak ({args.precision}) | {peak:.1f} GFLOP/s |")
    params = ", ".join(f"{k} {v / 1e6:.1f} M" for k, v in step["params"].items())
    print(f"| parameters | {params} |")
    print(f"| pix2pixHD train step FLOPs (global G + 2-scale D + feature matching, {shape}) "
          f"| {step['flops'] / 1e9:.1f} GFLOP |")
    print(f"| pix2pixHD train step time | {step['seconds']:.2f} s |")
    print(f"| pix2pixHD train achieved | {achieved:.1f} GFLOP/s |")
    print(f"| pix2pixHD train MFU (vs matmul peak) | {achieved / peak:.1%} |")
    print(f"| memory estimate (--dry-run) | {estimate.total / GIB:.2f} GiB "
          f"(weights {estimate.weights / GIB:.2f}, gradients {estimate.gradients / GIB:.2f}, "
          f"Adam {estimate.optimizer / GIB:.2f}, activations {estimate.activations / GIB:.2f}) |")
    print(f"| measured peak | {peak_bytes / GIB:.2f} GiB |")
    print(f"| estimate / measured | {estimate.total / peak_bytes:.1%} |")


if __name__ == "__main__":
    main()
