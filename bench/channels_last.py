"""Channels-last against contiguous tensors, per family: training steps and translate passes.

Usage: ``python bench/channels_last.py [--device cpu] [--repeats 5] [--steps 2] [--ngf 16 32]``.

For each family (pix2pixHD: global generator at 512x256; the others: their paper's networks,
pix2pix at 256x256, CycleGAN and CUT at 128x128; all at each ``--ngf``), each precision (fp32,
bf16) and each layout it builds one run as ``img2img train`` would (``build_recipe``) and, in
the same process and interleaved round by round (so the machine's load hits every layout
alike), times ``--steps`` whole training steps and ``--steps`` test-time generator passes per
round. Layouts: ``contiguous`` (no ``--channels-last``), ``channels_last`` (networks and
inputs channels-last) and ``cl nets only`` (networks channels-last, inputs contiguous): the
last two decide a family's
:attr:`~img2img.engine.recipe.TrainingRecipe.channels_last_inputs`. Prints a markdown table
of the medians over ``--repeats`` rounds to paste into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pix2pixhd import hd_config, make_sample  # noqa: E402
from run import TRAIN_BENCHES, family_config, sync  # noqa: E402

from img2img.config import RunConfig  # noqa: E402
from img2img.launch import build_recipe  # noqa: E402

LAYOUTS = ("contiguous", "channels_last", "cl nets only")


def configs(device: str, precision: str, ngf: int) -> dict[str, tuple[RunConfig, dict]]:
    """Each family's run at ``ngf`` and a batch of one for it."""
    hd = hd_config(device, precision, 1)
    hd = hd.replace(model=dataclasses.replace(hd.model, ngf=ngf, ndf=ngf))
    found = {f"pix2pixhd 512x256 ngf {ngf}": (hd, default_collate([make_sample(256, 512)]))}
    g = torch.Generator().manual_seed(0)
    for bench in ("pix2pix", "cyclegan", "cut"):
        config = family_config(bench, device, precision, False)
        config = config.replace(model=dataclasses.replace(config.model, ngf=ngf, ndf=ngf))
        size = TRAIN_BENCHES[bench][2]
        batch = {k: torch.rand(1, 3, size, size, generator=g) * 2 - 1 for k in ("A", "B")}
        found[f"{TRAIN_BENCHES[bench][0]} {size}x{size} ngf {ngf}"] = (config, batch)
    return found


class Case:
    """One run in one layout: a training step and the generator's test-time pass."""

    def __init__(self, config: RunConfig, batch: dict, layout: str) -> None:
        cl = layout != "contiguous"
        config = config.replace(train=dataclasses.replace(config.train, channels_last=cl))
        self.recipe = build_recipe(config)
        self.recipe.channels_last_inputs = layout == "channels_last"
        self.batch = batch
        name = next(n for n in self.recipe.nets if n.startswith("G"))
        self.G = self.recipe.nets[name]
        seen: list[torch.Tensor] = []
        hook = self.G.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
        self.recipe.train_step(batch)  # also the warm-up
        hook.remove()
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        self.x = seen[0].float().contiguous(memory_format=fmt)

    def train(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            self.recipe.train_step(self.batch)
        sync(self.recipe.device)
        return (time.perf_counter() - start) / steps

    def translate(self, steps: int) -> float:
        self.G.eval()
        start = time.perf_counter()
        with torch.inference_mode(), self.recipe.precision.autocast():
            for _ in range(steps):
                self.G(self.x)
        sync(self.recipe.device)
        self.G.train()
        return (time.perf_counter() - start) / steps


def measure(config: RunConfig, batch: dict, repeats: int, steps: int) -> dict[str, tuple]:
    """Median seconds per training step and per translate pass of each layout."""
    cases = {layout: Case(config, batch, layout) for layout in LAYOUTS}
    times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in cases}
    for _ in range(repeats):
        for layout, case in cases.items():  # interleaved: load drifts hit every layout
            times[layout][0].append(case.train(steps))
            times[layout][1].append(case.translate(steps))
    return {k: (statistics.median(t), statistics.median(f)) for k, (t, f) in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--ngf", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--only", default="", help="families whose name starts with this")
    args = parser.parse_args(argv)
    print("| run | precision | layout | train ms/step | vs contiguous | translate ms | "
          "vs contiguous |\n|---|---|---|---|---|---|---|", flush=True)
    for ngf in args.ngf:
        for precision in args.precision:
            for name, (config, batch) in configs(args.device, precision, ngf).items():
                if not name.startswith(args.only):
                    continue
                got = measure(config, batch, args.repeats, args.steps)
                train0, fwd0 = got["contiguous"]
                for layout, (train, fwd) in got.items():
                    print(f"| {name} | {precision} | {layout} | {train * 1e3:.0f} | "
                          f"{train0 / train:.2f}x | {fwd * 1e3:.0f} | {fwd0 / fwd:.2f}x |",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
