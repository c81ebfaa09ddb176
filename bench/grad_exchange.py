"""Data-parallel gradient exchange: one exchange at the step, buckets during backward, and
torch's DistributedDataParallel, timed on the same pix2pix step.

Usage: ``python bench/grad_exchange.py [--steps 20] [--batch 2] [--size 128]
[--buckets 0 25 4] [--device cpu]``: starts 2 processes (``torchrun``; gloo on the CPU with
one thread each, NCCL on CUDA with one GPU each) and prints a table for bench/RESULTS.md.

Each scheme trains pix2pix (unet_128, ngf 32, basic D, batch norm) on random images of
``--size`` px, ``--batch`` per process, for ``--steps`` timed steps after 3 warm-up steps:
- ``--bucket-mb B`` for each B of ``--buckets``: the recipe's own step through
  :func:`img2img.launch.build_recipe`, as ``img2img train`` runs it (0: one exchange per
  optimizer at its step; B > 0: buckets of B MB started during backward), and running
  statistics following rank 0 where batch norm is not synchronised;
- ``DDP``: the same networks wrapped in ``DistributedDataParallel`` (25 MB buckets, buffers
  broadcast at every forward), in a plain pix2pix step: D sees the fake and the real pairs in
  one forward (DDP allows one forward per backward), and G's loss runs through D unwrapped.
The schemes alternate ``--repeats`` times; the table shows each one's median seconds per step
(the slower of the two processes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from img2img.config import DataConfig, TrainConfig  # noqa: E402
from img2img.engine import distributed as ddp  # noqa: E402
from img2img.engine.distributed import world_from_env  # noqa: E402
from img2img.engine.recipe import set_requires_grad  # noqa: E402
from img2img.families import run_config  # noqa: E402
from img2img.families.pix2pix.config import Pix2PixConfig  # noqa: E402
from img2img.launch import build_recipe  # noqa: E402

WARMUP = 3


def _recipe(args: argparse.Namespace, bucket_mb: float | None):
    config = run_config(
        "pix2pix", Pix2PixConfig(netG="unet_128", ngf=32, ndf=32, input_nc=1),
        data=DataConfig(root=str(ROOT), load_size=args.size, crop_size=args.size),
        train=TrainConfig(device=args.device, batch_size=args.batch, bucket_mb=bucket_mb,
                          world_size=2),
    )
    return build_recipe(config, world_from_env())


def _batch(args: argparse.Namespace) -> dict:
    return {"A": torch.rand(args.batch, 1, args.size, args.size) * 2 - 1,
            "B": torch.rand(args.batch, 3, args.size, args.size) * 2 - 1}


def _ddp_step(recipe, G, D):
    """One pix2pix step with ``G`` and ``D`` wrapped in DistributedDataParallel."""
    optimizers = recipe.optimizers

    def step(batch: dict) -> None:
        real_a, real_b = recipe.inputs(batch, "A", "B")
        fake_b = G(real_a)
        set_requires_grad(D.module, True)
        optimizers["D"].zero_grad(set_to_none=True)
        pairs = torch.cat([torch.cat([real_a, fake_b.detach()], 1),
                           torch.cat([real_a, real_b], 1)])
        pred = D(pairs).chunk(2)
        loss_d = 0.5 * (recipe.gan_loss(pred[0], False) + recipe.gan_loss(pred[1], True))
        loss_d.backward()
        optimizers["D"].step()
        set_requires_grad(D.module, False)
        optimizers["G"].zero_grad(set_to_none=True)
        pred_fake = D.module(torch.cat([real_a, fake_b], 1))
        loss_g = (recipe.gan_loss(pred_fake, True, for_discriminator=False)
                  + recipe.lambda_l1 * F.l1_loss(fake_b, real_b))
        loss_g.backward()
        optimizers["G"].step()

    return step


def _own_step(recipe):
    """The recipe's step and what the trainer does after it (running statistics follow rank
    0's where batch norm is not synchronised)."""

    def step(batch: dict) -> None:
        recipe.train_step(batch)
        ddp.follow_main_statistics(recipe.nets.values())

    return step


def _time(step, batch: dict, steps: int, device: torch.device) -> float:
    """Seconds per step of the slower process."""
    for _ in range(WARMUP):
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    took = torch.tensor([(time.perf_counter() - start) / steps])
    dist.all_reduce(took, op=dist.ReduceOp.MAX)
    return float(took)


def _worker(args: argparse.Namespace) -> None:
    torch.set_num_threads(1 if args.device == "cpu" else torch.get_num_threads())
    times: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for bucket_mb in args.buckets:
            recipe = _recipe(args, bucket_mb)
            times.setdefault(f"--bucket-mb {bucket_mb:g}", []).append(
                _time(_own_step(recipe), _batch(args), args.steps, recipe.device))
            if hasattr(recipe.precision.grad_sync, "remove"):
                recipe.precision.grad_sync.remove()
        recipe = _recipe(args, 0)
        recipe.precision.grad_sync = None  # DDP averages
        wrap = {"device_ids": [recipe.device.index]} if recipe.device.type == "cuda" else {}
        G = torch.nn.parallel.DistributedDataParallel(recipe.G, **wrap)
        D = torch.nn.parallel.DistributedDataParallel(recipe.D, **wrap)
        times.setdefault("DistributedDataParallel (25 MB buckets)", []).append(
            _time(_ddp_step(recipe, G, D), _batch(args), args.steps, recipe.device))
    if dist.get_rank() == 0:
        device = recipe.device
        name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"{os.cpu_count()}-core CPU, gloo, 1 thread per process")
        print(f"pix2pix unet_128 ngf 32 + basic D ndf 32, {args.size} px, batch {args.batch} "
              f"per process, 2 processes, {name}, torch {torch.__version__}, {args.steps} "
              f"steps x {args.repeats}")
        print("| gradient exchange | s/step (median) | all runs |")
        print("|---|---|---|")
        for label, found in times.items():
            print(f"| {label} | {statistics.median(found):.3f} | "
                  f"{', '.join(f'{t:.3f}' for t in found)} |")
    ddp.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=2, help="images per process per step")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--buckets", type=float, nargs="+", default=[0, 25, 4],
                        help="--bucket-mb values to time (0: one exchange at the step)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    if args.size % 128:
        parser.error(f"--size {args.size}: expected a multiple of 128 (unet_128)")
    if "RANK" in os.environ:
        _worker(args)
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"} if args.device == "cpu" else dict(os.environ)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node=2", __file__, *sys.argv[1:]]
    sys.exit(subprocess.run(command, env=env, check=False).returncode)


if __name__ == "__main__":
    main()
