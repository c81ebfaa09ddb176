"""Benchmarks: the matmul peak, pix2pix, CycleGAN, CUT and FastCUT training MFU, translate speed
and start-up.

Usage: ``python bench/run.py [--device cpu] [--threads N] [--steps 10] [--images 64]
[--batch-size 8] [--train pix2pix cyclegan cut fastcut] [--results bench/RESULTS.md]
[--cpu-time]``.

CUT and FastCUT are measured at CycleGAN's size and each step is also given as a share of
CycleGAN's (time and FLOPs): CUT trains one generator where CycleGAN trains two.

Every figure is printed with the machine beside it (CPU model, instruction set, threads); the
matmul peak is measured with the same thread count right before each section and each share of
it uses that section's peak. ``--results`` appends the table to a file with the date and the
load average. ``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2``
(``make bench-avx2``) measures the AVX2 kernels on a CPU that has AVX-512. On a machine other
work shares, ``--threads 1 --cpu-time`` times with the process's CPU time, which does not count
waiting for a core (two threads there also wait for each other at every parallel region).
"""

from __future__ import annotations

import argparse
import copy
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bf16
import torch
from flops import FlopCounterMode
from machine import describe, load_average
from PIL import Image
from report import Table, append_results
from startup import one_image_run, save_pix2pix_checkpoint

from img2img.cli.memory import tune_allocator
from img2img.config import DataConfig, RunConfig, TrainConfig
from img2img.families import get_family, run_config
from img2img.families.cut.config import CUTConfig
from img2img.families.cyclegan.config import CycleGANConfig
from img2img.families.pix2pix.config import Pix2PixConfig
from img2img.infer import stochastic
from img2img.infer.plan import plan_outputs
from img2img.infer.translate import translate_files
from img2img.launch import build_recipe
from img2img.nn.cpu_fast import (
    FastConv2d,
    FastConvTranspose2d,
    release_packed_weights,
    restore_plain_layers,
    use_cpu_fast_path,
)

#: the clock of the peak, training and forward timings (``--cpu-time``: the process's CPU time)
clock = time.perf_counter


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
            t = clock()
            a @ b
            sync(device)
            best = max(best, 2 * n**3 / (clock() - t) / 1e9)
    return best


#: the training steps measured: (family, its model config, crop size, what it is); the
#: paper's networks and defaults, batch 1
TRAIN_BENCHES = {
    "pix2pix": ("pix2pix", Pix2PixConfig(), 256, "unet_256 + basic D, 256 px, batch 1"),
    "cyclegan": ("cyclegan", CycleGANConfig(), 128,
                 "2 x resnet_9blocks + 2 x basic D, 128 px, batch 1"),
    "cut": ("cut", CUTConfig(), 128, "antialiased resnet_9blocks + basic D + F, NCE on 5 "
            "layers x 256 patches with the identity term, 128 px, batch 1"),
    "fastcut": ("cut", CUTConfig(cut_mode="fastcut"), 128, "antialiased resnet_9blocks + "
                "basic D + F, NCE without the identity term, flips, 128 px, batch 1"),
}
#: the step the others are compared with
BASELINE = "cyclegan"


def family_config(bench: str, device: str, precision: str,
                  channels_last: bool) -> RunConfig:
    """The paper's defaults of training bench ``bench`` for a benchmark run."""
    family, model, size, _ = TRAIN_BENCHES[bench]
    return run_config(
        family,
        model,
        data=DataConfig(root=".", load_size=size, crop_size=size),
        train=TrainConfig(device=device, precision=precision, channels_last=channels_last),
        name="bench",
    )


def has_fast_layers(net: torch.nn.Module) -> bool:
    """Whether :func:`use_cpu_fast_path` swapped layers of ``net``."""
    return any(isinstance(m, (FastConv2d, FastConvTranspose2d)) for m in net.modules())


def step_flops(recipe, batch: dict, steps: int) -> float:
    """FLOPs of one training step, the mean of ``steps`` (FastCUT flips half of them).

    They are counted on the plain torch layers: the CPU fast path's packed convolutions (which
    run wherever a step computes without autograd, as CUT's PatchNCE keys can) are operators
    the counter does not know.
    """
    fast = [net for net in recipe.nets.values() if has_fast_layers(net)]
    for net in fast:
        restore_plain_layers(net)
    try:
        with FlopCounterMode(display=False) as counter:
            for _ in range(steps):
                recipe.train_step(batch)
    finally:
        for net in fast:
            use_cpu_fast_path(net)
    return counter.get_total_flops() / steps


def pix2pix_batch(size: int = 256) -> dict:
    """The one-image batch every training step is measured on (seeded)."""
    g = torch.Generator().manual_seed(0)
    return {
        "A": torch.rand(1, 3, size, size, generator=g) * 2 - 1,
        "B": torch.rand(1, 3, size, size, generator=g) * 2 - 1,
    }


def train_step_benchmark(recipe, steps: int, size: int = 256, flop_steps: int = 4) -> dict:
    dev = recipe.device
    batch = pix2pix_batch(size)
    flops = step_flops(recipe, batch, flop_steps)
    for _ in range(2):
        recipe.train_step(batch)
    sync(dev)
    times = []
    for _ in range(steps):
        t = clock()
        recipe.train_step(batch)
        sync(dev)
        times.append(clock() - t)
    return {"flops": flops, "seconds": statistics.median(times), "best": min(times)}


#: the photos translated end to end: real images (PNG encoding time depends on the content)
PHOTOS = Path(__file__).resolve().parents[1] / "datasets" / "colorize_mini"


def make_images(folder: Path, count: int, size: int = 256) -> None:
    """``count`` PNG photos of ``size`` x ``size`` from the bundled sample, cycling over it."""
    photos = sorted(PHOTOS.glob("*/*.jpg"))
    if not photos:
        raise SystemExit(f"no photos under {PHOTOS}: the benchmark needs the bundled sample")
    for i in range(count):
        with Image.open(photos[i % len(photos)]) as photo:
            photo.convert("RGB").resize((size, size), Image.BICUBIC).save(folder / f"{i:04d}.png")


def _forget_verdicts(net: torch.nn.Module, keep_on_disk: bool) -> None:
    """Make the next batch pay what a new process pays: probes (unless on disk) and packing."""
    stochastic._BATCH_EXACT.clear()
    if not keep_on_disk:
        stochastic._STORE = None
    release_packed_weights(net)


def forward_flops(net: torch.nn.Module, x: torch.Tensor) -> float:
    """FLOPs of ``net`` on ``x`` in eval mode, counted on torch's own layers (a copy)."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        restore_plain_layers(copy.deepcopy(net)).eval()(x)
    return counter.get_total_flops()


def forward_benchmark(model, device: torch.device, batch_size: int, repeats: int) -> dict:
    """One batch through the model as translate runs it: first (cold) and steady timings."""
    net = model.net
    x = torch.rand(batch_size, 3, 256, 256, device=device) * 2 - 1
    keys = [str(i) for i in range(batch_size)]
    flops = forward_flops(net, x)
    with torch.inference_mode():
        first = {}
        for name, keep in (("probing", False), ("verdicts on disk", True)):
            _forget_verdicts(net, keep)
            t = clock()
            model.run(x, keys)
            sync(device)
            first[name] = clock() - t
        times, walls, cpus = [], [], []
        for _ in range(repeats):
            t, wall, cpu = clock(), time.perf_counter(), time.process_time()
            model.run(x, keys)
            sync(device)
            times.append(clock() - t)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return {"flops": flops, "seconds": statistics.median(times),
            "best": min(times), "first": first, "wall": statistics.median(walls),
            "cpu": statistics.median(cpus)}


def translate_benchmark(model, device: torch.device, images: int, batch_size: int,
                        forward: dict) -> dict:
    """Files end to end against the forward pass alone (already warm) at the same batch size.

    Also in CPU time (all threads): what decoding and encoding add to the forward pass's own
    work, which holds on a machine other work shares, where the wall clock does not.
    """
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        make_images(src, images)
        jobs = plan_outputs(src, dst)
        t, cpu = time.perf_counter(), time.process_time()
        summary = translate_files(model, jobs, batch_size=batch_size, device=device)
        end_to_end_ips = summary.written / (time.perf_counter() - t)
        cpu_per_image = (time.process_time() - cpu) / summary.written
    return {"forward_ips": batch_size / forward["wall"], "end_to_end_ips": end_to_end_ips,
            "cpu_ratio": (forward["cpu"] / batch_size) / cpu_per_image}


def _share(gflop: float, timing: dict, peak: float) -> str:
    """The median's and the best time's share of ``peak`` (GFLOP/s)."""
    return (f"{gflop / timing['seconds'] / peak:.1%} median, "
            f"{gflop / timing['best'] / peak:.1%} best (peak {peak:.1f} GFLOP/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch threads for every measurement, the peak included")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--train", nargs="*", default=list(TRAIN_BENCHES),
                        choices=list(TRAIN_BENCHES), help="training steps to measure")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--forward-repeats", type=int, default=5)
    parser.add_argument("--startup-repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, help="append the table to this file")
    parser.add_argument("--no-bf16", action="store_true",
                        help="leave out the bf16-against-fp32 comparison (CPU only)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time the peak, the training step and the forward pass with the "
                             "process's CPU time (needs --threads 1): on a shared machine, "
                             "time spent waiting for a core is not counted")
    args = parser.parse_args()
    if args.cpu_time:
        if args.threads != 1 or args.device != "cpu":
            parser.error("--cpu-time measures one CPU thread: use it with --threads 1")
        global clock
        clock = time.process_time
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    tune_allocator()  # what the img2img command does (IMG2IMG_MALLOC)
    peak_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[
        args.precision
    ]
    table = Table(describe(device), args.precision,
                  "process CPU time" if args.cpu_time else "wall clock")

    with tempfile.TemporaryDirectory() as cache:
        os.environ["IMG2IMG_CACHE_DIR"] = cache  # first batches probe as on a new machine
        steps = {}
        for bench in args.train:
            recipe = build_recipe(family_config(bench, args.device, args.precision,
                                                args.channels_last))
            peak = matmul_peak(device, peak_dtype)
            table.add(f"matmul peak ({args.precision}, before the {bench} training step)",
                      f"{peak:.1f} GFLOP/s")
            _, _, size, what = TRAIN_BENCHES[bench]
            step = steps[bench] = train_step_benchmark(recipe, args.steps, size)
            gflop = step["flops"] / 1e9
            table.add(f"{bench} train step ({what}): {gflop:.2f} GFLOP",
                      f"{step['seconds']:.3f} s median, {step['best']:.3f} s best, "
                      f"{gflop / step['seconds']:.1f} GFLOP/s", _share(gflop, step, peak))
            table.loads.append(load_average())
        for bench in ("cut", "fastcut"):
            if bench in steps and BASELINE in steps:
                step, base = steps[bench], steps[BASELINE]
                table.add(f"{bench} step against the {BASELINE} step (same size)",
                          f"{step['seconds'] / base['seconds']:.2f}x the time (median), "
                          f"{step['flops'] / base['flops']:.2f}x the FLOPs")

        recipe = build_recipe(family_config("pix2pix", args.device, args.precision,
                                            args.channels_last))
        description = get_family(recipe.family).description_class()
        model = description.inference_model(recipe.config, {"G": recipe.G})  # paper test mode
        peak = matmul_peak(device, peak_dtype)
        fwd = forward_benchmark(model, device, args.batch_size, args.forward_repeats)
        gflop = fwd["flops"] / 1e9
        table.add(f"translate forward (unet_256, 256 px, batch {args.batch_size}, paper test "
                  f"mode): {gflop:.1f} GFLOP",
                  f"{fwd['seconds']:.3f} s median, {fwd['best']:.3f} s best, "
                  f"{gflop / fwd['seconds']:.1f} GFLOP/s", _share(gflop, fwd, peak))
        table.add("translate first batch of a new shape: probing / verdicts on disk",
                  f"{fwd['first']['probing']:.2f} s / {fwd['first']['verdicts on disk']:.2f} s")
        tr = translate_benchmark(model, device, args.images, args.batch_size, fwd)
        table.add(f"translate end to end ({args.images} PNGs 256x256, batch {args.batch_size})",
                  f"{tr['end_to_end_ips']:.2f} img/s, "
                  f"{tr['end_to_end_ips'] / tr['forward_ips']:.1%} of the forward pass alone "
                  f"({tr['forward_ips']:.2f} img/s); in CPU time per image the forward pass is "
                  f"{tr['cpu_ratio']:.1%} of the whole")
        table.loads.append(load_average())

        if device.type == "cpu" and not args.no_bf16:
            if "pix2pix" in steps and args.precision == "fp32":
                pix2pix_flops = steps["pix2pix"]["flops"]
            else:
                pix2pix_flops = step_flops(build_recipe(family_config(
                    "pix2pix", args.device, "fp32", False)), pix2pix_batch(), 1)
            bf16.compare(table, matmul_peak, pix2pix_flops, fwd["flops"], args.steps,
                         args.forward_repeats, args.batch_size, clock)
            table.loads.append(load_average())

        if device.type == "cpu":
            with tempfile.TemporaryDirectory() as tmp:
                checkpoint = save_pix2pix_checkpoint(recipe, Path(tmp) / "latest.pt")
                make_images(Path(tmp), 1)
                one = one_image_run(checkpoint, Path(tmp) / "0000.png", Path(tmp) / "out.png",
                                    args.startup_repeats)
            table.add("translate one image, whole process (unet_256 checkpoint), wall clock",
                      f"{one['seconds']:.2f} s median, {one['best']:.2f} s best (python + "
                      f"import torch alone, without teardown: {one['import_torch']:.2f} s)")
            ratio = one["cpu"] / one["import_torch_cpu"]
            table.add("the same in CPU time (user + system)",
                      f"{one['cpu']:.2f} s median (python + import torch alone, without teardown: "
                      f"{one['import_torch_cpu']:.2f} s, ratio {ratio:.2f})")
    table.loads.append(load_average())

    print(table.heading())
    print(table.load_note())
    print(table.markdown())
    if args.results:
        append_results(table, args.results, shlex.join(["python", *sys.argv]))
        print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
