"""Where one training step's time goes, and the share of the matmul peak it could reach at best.

Usage: ``python bench/train_breakdown.py [--family pix2pix] [--threads N] [--steps 5]``.

One step of the family's paper configuration (as ``bench/run.py`` builds it) is split by
operator into convolutions (oneDNN), matrix products (BLAS: the small-grid path and any other
product), the optimizer step, and everything else (normalisation, activations, copies,
``unfold``/``fold``, dropout). FLOPs per kind come from torch's FLOP counter, times from the
profiler (the median step of ``--steps``). The last line is the step's ceiling: the share of
the peak it would reach if every FLOP ran at the matmul peak measured in the same run and the
rest took the time measured here: no kernel can lift the step above it.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

import torch
from flops import FlopCounterMode
from machine import describe
from run import TRAIN_BENCHES, family_config, matmul_peak
from torch.profiler import ProfilerActivity, profile

from img2img.cli.memory import tune_allocator
from img2img.launch import build_recipe

#: profiler operator names (self time) -> kind of work
KINDS = {
    "convolutions (oneDNN)": ("aten::convolution_backward", "aten::mkldnn_convolution",
                              "aten::_convolution", "aten::convolution",
                              "aten::_convolution_pointwise", "aten::mkldnn_convolution_backward"),
    "matrix products (BLAS, oneDNN)": ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul",
                                       "mkldnn::_linear_pointwise"),
    "optimizer step": ("aten::_fused_adam_", "aten::_foreach_add_", "aten::_foreach_mul_",
                       "aten::_foreach_addcmul_", "aten::_foreach_addcdiv_",
                       "aten::_foreach_sqrt", "aten::_foreach_div_", "aten::_foreach_lerp_"),
}
OTHER = "everything else"

#: FLOP counter operators -> kind of work
FLOP_KINDS = {
    "convolution": "convolutions (oneDNN)", "convolution_backward": "convolutions (oneDNN)",
    "mm": "matrix products (BLAS, oneDNN)", "addmm": "matrix products (BLAS, oneDNN)",
    "bmm": "matrix products (BLAS, oneDNN)", "_linear_pointwise": "matrix products (BLAS, oneDNN)",
}


def _kind(name: str) -> str:
    return next((kind for kind, names in KINDS.items() if name in names), OTHER)


def step_flops(recipe, batch: dict) -> dict[str, float]:
    """FLOPs of one step per kind of work."""
    with FlopCounterMode(display=False) as counter:
        recipe.train_step(batch)
    flops: dict[str, float] = defaultdict(float)
    for op, count in counter.get_flop_counts()["Global"].items():
        flops[FLOP_KINDS.get(str(op).split(".")[1], OTHER)] += count  # "aten.mm"
    return flops


def step_times(recipe, batch: dict, steps: int) -> tuple[dict[str, float], float]:
    """Seconds per kind of work in the median step, and that step's profiled total."""
    per_step = []
    for _ in range(steps):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            recipe.train_step(batch)
        times: dict[str, float] = defaultdict(float)
        for event in prof.key_averages():
            times[_kind(event.key)] += event.self_cpu_time_total / 1e6
        per_step.append(dict(times))
    totals = [sum(t.values()) for t in per_step]
    median = per_step[totals.index(statistics.median_low(totals))]
    return median, sum(median.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="pix2pix", choices=sorted(TRAIN_BENCHES))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_allocator()  # what the img2img command does
    recipe = build_recipe(family_config(args.family, "cpu", "fp32", False))
    _, _, size, what = TRAIN_BENCHES[args.family]
    g = torch.Generator().manual_seed(0)
    batch = {side: torch.rand(1, 3, size, size, generator=g) * 2 - 1 for side in "AB"}
    flops = step_flops(recipe, batch)
    for _ in range(2):
        recipe.train_step(batch)
    peak = matmul_peak(torch.device("cpu"))
    times, total = step_times(recipe, batch, args.steps)

    machine = describe(torch.device("cpu"))
    print(f"{args.family} training step ({what}) on {machine.label}; "
          f"matmul peak {peak:.1f} GFLOP/s (same run)")
    print("| work | GFLOP | ms | GFLOP/s | of peak | of the step's time |")
    print("|---|---|---|---|---|---|")
    for kind in (*KINDS, OTHER):
        gflop, seconds = flops.get(kind, 0.0) / 1e9, times.get(kind, 0.0)
        rate = f"{gflop / seconds:.1f}" if gflop and seconds else ""
        share = f"{gflop / seconds / peak:.1%}" if gflop and seconds else ""
        print(f"| {kind} | {gflop:.2f} | {seconds * 1e3:.0f} | {rate} | {share} | "
              f"{seconds / total:.1%} |")
    all_gflop = sum(flops.values()) / 1e9
    print(f"| step (profiled) | {all_gflop:.2f} | {total * 1e3:.0f} | {all_gflop / total:.1f} | "
          f"{all_gflop / total / peak:.1%} | 100% |")
    flop_free = sum(times.get(kind, 0.0) for kind in (*KINDS, OTHER) if not flops.get(kind))
    at_peak = all_gflop / peak
    print(f"ceiling: every FLOP at the peak ({at_peak * 1e3:.0f} ms) plus the work without "
          f"FLOPs as measured ({flop_free * 1e3:.0f} ms): {at_peak / (at_peak + flop_free):.1%} "
          "of the peak")


if __name__ == "__main__":
    main()
