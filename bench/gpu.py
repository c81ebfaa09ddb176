"""GPU training and translate throughput in every precision, appended to bench/RESULTS.md.

Usage: ``python bench/gpu.py [--quick] [--device cuda] [--steps 20] [--no-write]``.

Measures images/s and peak memory of whole training steps (both networks, both optimizers, on
batches already on the device) for pix2pix (unet_256 + 70x70 PatchGAN, 256x256), CycleGAN
(resnet_9blocks, 256x256) and pix2pixHD (global G + 2-scale D, 1024x512, no VGG loss) in fp32,
bf16, bf16 + channels_last and bf16 + torch.compile; then translate throughput of the pix2pix
generator at batch 64 from PNG files to PNG files (decode, pad, forward, encode, write) in
bf16. Each run is set up as ``img2img train`` sets it up (cuDNN autotuning and TF32 on, see
:mod:`img2img.engine.backends`). Writes a table with the date and the device into
bench/RESULTS.md. Targets (one H100): pix2pix bf16 at least 2.5x fp32; translate at least 1000
images/s.

``--quick`` (under 8 minutes on one H100) first runs the CUDA tier of the test suite
(``pytest -m cuda tests/cuda``) and records its outcome, then measures fewer steps, pix2pix in
every variant and CycleGAN and pix2pixHD in fp32, bf16 and bf16 + channels_last (the CUDA
half of each family's channels-last choice, see bench/channels_last.py). Without a CUDA device
it prints ``no CUDA device`` and exits with status 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pix2pixhd import hd_config, make_sample  # noqa: E402
from run import family_config, make_images, median_step, sync  # noqa: E402

from img2img.config import DataConfig, RunConfig, TrainConfig  # noqa: E402
from img2img.families import get_family, list_families, run_config  # noqa: E402
from img2img.infer.plan import plan_outputs  # noqa: E402
from img2img.infer.translate import translate_files  # noqa: E402
from img2img.launch import build_recipe  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("RESULTS.md")
#: (label, precision, channels_last, compile)
VARIANTS = [("fp32", "fp32", False, False), ("bf16", "bf16", False, False),
            ("bf16 + channels_last", "bf16", True, False), ("bf16 + compile", "bf16", False, True)]
#: the variants --quick measures for every model but pix2pix
QUICK_VARIANTS = ("fp32", "bf16", "bf16 + channels_last")
NO_DEVICE = "no CUDA device"


@dataclasses.dataclass(frozen=True)
class Measured:
    images_per_s: float
    peak_gib: float


def with_train(config: RunConfig, **train) -> RunConfig:
    return config.replace(train=dataclasses.replace(config.train, **train))


def image_batch(batch: int, size: tuple[int, int], keys: tuple[str, ...]) -> dict:
    g = torch.Generator().manual_seed(0)
    return {k: torch.rand(batch, 3, *size, generator=g) * 2 - 1 for k in keys}


def cyclegan_config(device: str) -> RunConfig | None:
    """The paper's CycleGAN, when this img2img has the family."""
    if "cyclegan" not in list_families():
        return None
    family = get_family("cyclegan")
    return run_config("cyclegan", family.config(), data=DataConfig(root="."),
                      train=TrainConfig(device=device), name="bench")


def _fresh(device: torch.device) -> None:
    """Forget the previous measurement: its memory, its peak and its compiled graphs."""
    torch._dynamo.reset()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0


def measure_training(config: RunConfig, batch: dict, steps: int) -> Measured:
    """Whole training steps per second times the batch size (after 3 warm-up steps)."""
    recipe = build_recipe(config)
    _fresh(recipe.device)
    batch = {k: v.to(recipe.device) for k, v in batch.items()}
    for _ in range(3):
        recipe.train_step(batch)
    size = next(iter(batch.values())).shape[0]
    rate = size / median_step(recipe, batch, steps)
    return Measured(rate, _peak_gib(recipe.device))


def measure_translate(device: str, images: int, batch_size: int) -> Measured:
    """PNG files to PNG files, pix2pix unet_256 in bf16, every step included."""
    recipe = build_recipe(family_config("pix2pix", device, "bf16", False))
    model = get_family(recipe.family).description_class().inference_model(
        recipe.config, {"G": recipe.G}, test_mode="eval")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        make_images(src, images)
        warm = plan_outputs(src, Path(tmp) / "warm")[:batch_size]
        translate_files(model, warm, batch_size=batch_size, device=recipe.device,
                        precision="bf16")
        _fresh(recipe.device)
        start = time.perf_counter()
        summary = translate_files(model, plan_outputs(src, dst), batch_size=batch_size,
                                  device=recipe.device, precision="bf16")
        sync(recipe.device)
        rate = summary.written / (time.perf_counter() - start)
    return Measured(rate, _peak_gib(recipe.device))


def run_cuda_tier(timeout: int = 300) -> str:
    """``pytest -m cuda tests/cuda``: its summary line (``12 passed in 40.1s``)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider",
             "tests/cuda"], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
            check=False)
    except subprocess.TimeoutExpired:
        return f"did not finish in {timeout} s"
    print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
    lines = [line.strip("= ") for line in done.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {done.returncode}, no output"


def models(device: str, batch_size: int, hd_batch_size: int) -> dict[str, tuple]:
    found = {
        "pix2pix 256x256": (family_config("pix2pix", device, "fp32", False),
                            image_batch(batch_size, (256, 256), ("A", "B"))),
        "pix2pixHD 1024x512": (hd_config(device, "fp32", hd_batch_size),
                               default_collate([make_sample(512, 1024)] * hd_batch_size)),
    }
    cycle = cyclegan_config(device)
    if cycle is not None:
        found["CycleGAN 256x256"] = (cycle, image_batch(batch_size, (256, 256), ("A", "B")))
    return found


def table(results: dict[str, dict[str, Measured]]) -> list[str]:
    lines = ["| model | variant | images/s | peak memory (GiB) |", "|---|---|---|---|"]
    for name, measured in results.items():
        for label, m in measured.items():
            lines.append(f"| {name} | {label} | {m.images_per_s:.1f} | {m.peak_gib:.2f} |")
    for name, measured in results.items():
        if "bf16" in measured and "fp32" in measured:
            ratio = measured["bf16"].images_per_s / measured["fp32"].images_per_s
            lines.append(f"\n{name}: bf16 / fp32 = **{ratio:.2f}x**")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="the CUDA tier, then fewer steps and variants (< 8 min on an H100)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=None, help="default: 20 (--quick: 8)")
    parser.add_argument("--batch-size", type=int, default=16, help="pix2pix and CycleGAN")
    parser.add_argument("--hd-batch-size", type=int, default=1)
    parser.add_argument("--images", type=int, default=None,
                        help="translate: PNG files (default: 1024; --quick: 512)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"bench/gpu.py: {NO_DEVICE} here; nothing measured")
        return 0
    steps = args.steps or (8 if args.quick else 20)
    images = args.images or (512 if args.quick else 1024)
    tier = run_cuda_tier() if args.quick else None
    results: dict[str, dict[str, Measured]] = {}
    for name, (config, batch) in models(args.device, args.batch_size,
                                        args.hd_batch_size).items():
        wanted = [v for v in VARIANTS if not args.quick or name.startswith("pix2pix ")
                  or v[0] in QUICK_VARIANTS]
        results[f"{name} (batch {next(iter(batch.values())).shape[0]})"] = {
            label: measure_training(
                with_train(config, precision=p, channels_last=cl, compile=c), batch, steps)
            for label, p, cl, c in wanted}
    translate = measure_translate(args.device, images, 64)
    device = torch.cuda.get_device_name(torch.device(args.device))
    lines = [
        f"\n## {datetime.date.today()}, {device}, torch {torch.__version__} (bench/gpu.py"
        f"{' --quick' if args.quick else ''})\n",
        *([f"CUDA tier (pytest -m cuda tests/cuda): {tier}\n"] if tier else []),
        f"Training images/s (whole steps, batches on the device, median of {steps}):\n",
        *table(results),
        f"\nTranslate, pix2pix unet_256 in bf16, batch 64, {images} PNG files 256x256 end to "
        f"end: **{translate.images_per_s:.0f} images/s** (target 1000), peak memory "
        f"{translate.peak_gib:.2f} GiB.\n",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        with open(RESULTS, "a", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
