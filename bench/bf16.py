"""bf16 beside fp32 on the CPU: the pix2pix training step and translate's forward pass, each
measured in one process with the two precisions interleaved (so both see the same load), with
the ratio, and each precision's share of its own matmul peak.

Run by ``bench/run.py`` on the CPU (``--no-bf16`` leaves it out), or alone:
``python bench/bf16.py [--steps 10] [--repeats 5] [--threads N] [--cpu-time]``. It says whether
this CPU computes bf16 natively (``avx512_bf16`` / AMX) or emulates it, which is slower than
fp32 there (and then times nothing: emulated bf16 takes minutes and is never the pick).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from machine import describe
from report import Table

from img2img.cli.memory import tune_allocator
from img2img.engine.device import autocast
from img2img.families import get_family
from img2img.launch import build_recipe
from img2img.nn.cpu_bf16 import bf16_instructions, cpu_has_bf16

PRECISIONS = ("fp32", "bf16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def bf16_support() -> str:
    """What this CPU does with bf16, in words."""
    found = bf16_instructions()
    if cpu_has_bf16():
        return f"native ({', '.join(found)})"
    if found:
        return (f"the CPU has {', '.join(found)} but an ISA cap keeps the kernels off it: "
                "bf16 is emulated (slower than fp32)")
    return "this CPU lacks bf16 (no avx512_bf16 / AMX): bf16 is emulated, slower than fp32"


def interleaved(runs: dict[str, Callable[[], object]], repeats: int,
                clock: Callable[[], float]) -> dict[str, list[float]]:
    """Seconds of each of ``runs`` (two warm-up calls each), ``repeats`` rounds in turn."""
    for run in runs.values():
        run()
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = clock()
            run()
            times[name].append(clock() - start)
    return times


def compare(table: Table, matmul_peak: Callable[..., float], step_flops: float,
            forward_flops: float, steps: int, repeats: int, batch_size: int,
            clock: Callable[[], float] = time.perf_counter) -> None:
    """Add the bf16-against-fp32 rows to ``table`` (pix2pix at the paper's settings, CPU)."""
    from run import family_config, pix2pix_batch

    device = torch.device("cpu")
    table.add("bf16 on this CPU", bf16_support())
    if not cpu_has_bf16():  # emulated bf16 takes minutes here and is not worth choosing
        table.add("bf16 against fp32", "not measured: use fp32 on this CPU")
        return
    peaks = {p: matmul_peak(device, DTYPES[p]) for p in PRECISIONS}
    table.add("matmul peak fp32 / bf16",
              f"{peaks['fp32']:.1f} / {peaks['bf16']:.1f} GFLOP/s "
              f"(bf16 {peaks['bf16'] / peaks['fp32']:.2f}x)")

    batch = pix2pix_batch()
    recipes = {p: build_recipe(family_config("pix2pix", "cpu", p, False)) for p in PRECISIONS}
    times = interleaved({p: (lambda r=r: r.train_step(batch)) for p, r in recipes.items()},
                        steps, clock)
    _rows(table, "pix2pix train step (unet_256 + basic D, 256 px, batch 1)", times,
          step_flops, peaks, "s")

    recipe = recipes["fp32"]
    model = get_family("pix2pix").description_class().inference_model(
        recipe.config, {"G": recipe.G})
    x = torch.rand(batch_size, 3, 256, 256, generator=torch.Generator().manual_seed(1)) * 2 - 1
    keys = [str(i) for i in range(batch_size)]

    def forward(precision: str) -> Callable[[], object]:
        def run() -> object:
            with torch.inference_mode(), autocast(device, precision):
                return model.run(x, keys)
        return run

    times = interleaved({p: forward(p) for p in PRECISIONS}, repeats, clock)
    _rows(table, f"translate forward (unet_256, 256 px, batch {batch_size}, paper test mode)",
          times, forward_flops, peaks, "img/s", batch_size)


def _rows(table: Table, what: str, times: dict[str, list[float]], flops: float,
          peaks: dict[str, float], unit: str, images: int = 1) -> None:
    medians = {p: statistics.median(t) for p, t in times.items()}
    for p in PRECISIONS:
        value = (f"{medians[p]:.3f} s median" if unit == "s"
                 else f"{images / medians[p]:.2f} img/s ({medians[p]:.3f} s per batch)")
        table.add(f"{what}, {p}", f"{value}, {flops / 1e9 / medians[p]:.1f} GFLOP/s",
                  f"{flops / 1e9 / medians[p] / peaks[p]:.1%} of the {p} peak")
    table.add(f"{what}: bf16 against fp32",
              f"**{medians['fp32'] / medians['bf16']:.2f}x** faster (medians, interleaved)")


def main() -> None:
    from run import matmul_peak, step_flops
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with the process's CPU time (use with --threads 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_allocator()  # what the img2img command does (IMG2IMG_MALLOC)
    clock = time.process_time if args.cpu_time else time.perf_counter
    table = Table(describe(torch.device("cpu")), "fp32 and bf16",
                  "process CPU time" if args.cpu_time else "wall clock")
    from run import family_config, forward_flops, pix2pix_batch
    recipe = build_recipe(family_config("pix2pix", "cpu", "fp32", False))
    x = torch.rand(args.batch_size, 3, 256, 256) * 2 - 1
    compare(table, matmul_peak, step_flops(recipe, pix2pix_batch(), 1),
            forward_flops(recipe.G, x), args.steps, args.repeats, args.batch_size, clock)
    print(table.heading())
    print(table.load_note())
    print(table.markdown())


if __name__ == "__main__":
    main()
