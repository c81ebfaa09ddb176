"""GPU training and translate throughput in every precision, appended to bench/RESULTS.md.

Usage: ``python bench/gpu.py [--device cuda] [--steps 20] [--no-write]``.

Measures images/s of whole training steps (both networks, both optimizers, on batches already on
the device) for pix2pix (unet_256 + 70x70 PatchGAN, 256x256), CycleGAN (resnet_9blocks, 256x256,
when the family is installed) and pix2pixHD (global G + 2-scale D, 512x1024, no VGG loss) in
fp32, bf16, bf16 + channels_last and bf16 + torch.compile; then translate throughput of the
pix2pix generator at batch 64 from PNG files to PNG files (decode, pad, forward, encode, write)
in bf16. Writes a table with the date and the device into bench/RESULTS.md. Targets (one H100):
pix2pix bf16 at least 2.5x fp32; translate at least 1000 images/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pix2pixhd import hd_config, make_sample  # noqa: E402
from run import family_config, make_images, median_step, sync  # noqa: E402

from img2img.cli.memory import tune_allocator  # noqa: E402
from img2img.config import DataConfig, RunConfig, TrainConfig  # noqa: E402
from img2img.families import get_family, list_families, run_config  # noqa: E402
from img2img.infer.plan import plan_outputs  # noqa: E402
from img2img.infer.translate import translate_files  # noqa: E402
from img2img.launch import build_recipe  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS.md")
#: (label, precision, channels_last, compile)
VARIANTS = [("fp32", "fp32", False, False), ("bf16", "bf16", False, False),
            ("bf16 + channels_last", "bf16", True, False), ("bf16 + compile", "bf16", False, True)]


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


def images_per_second(config: RunConfig, batch: dict, steps: int) -> float:
    """Whole training steps per second times the batch size (after 3 warm-up steps)."""
    recipe = build_recipe(config)
    batch = {k: v.to(recipe.device) for k, v in batch.items()}
    for _ in range(3):
        recipe.train_step(batch)
    size = next(iter(batch.values())).shape[0]
    return size / median_step(recipe, batch, steps)


def translate_ips(device: str, images: int, batch_size: int) -> float:
    recipe = build_recipe(family_config("pix2pix", device, "bf16", False))
    model = get_family(recipe.family).description_class().inference_model(
        recipe.config, {"G": recipe.G}, test_mode="eval")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        make_images(src, images)
        warm = plan_outputs(src, Path(tmp) / "warm")[:batch_size]
        translate_files(model, warm, batch_size=batch_size, device=recipe.device,
                        precision="bf16", num_threads=8)
        start = time.perf_counter()
        summary = translate_files(model, plan_outputs(src, dst), batch_size=batch_size,
                                  device=recipe.device, precision="bf16", num_threads=8)
        sync(recipe.device)
        return summary.written / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16, help="pix2pix and CycleGAN")
    parser.add_argument("--hd-batch-size", type=int, default=1)
    parser.add_argument("--images", type=int, default=1024, help="translate: PNG files")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("bench/gpu.py: no CUDA device here; it measures GPU training (--device cuda)")
    tune_allocator()
    torch.backends.cudnn.benchmark = True
    models = {
        "pix2pix 256x256": (family_config("pix2pix", args.device, "fp32", False),
                            image_batch(args.batch_size, (256, 256), ("A", "B"))),
        "pix2pixHD 512x1024": (hd_config(args.device, "fp32", args.hd_batch_size),
                               default_collate([make_sample(512, 1024)] * args.hd_batch_size)),
    }
    cycle = cyclegan_config(args.device)
    if cycle is not None:
        models["CycleGAN 256x256"] = (cycle, image_batch(args.batch_size, (256, 256), ("A", "B")))
    rows = []
    for name, (config, batch) in models.items():
        measured = {label: images_per_second(
            with_train(config, precision=p, channels_last=cl, compile=c), batch, args.steps)
            for label, p, cl, c in VARIANTS}
        rows.append(f"| {name} (batch {next(iter(batch.values())).shape[0]}) | "
                    + " | ".join(f"{v:.1f}" for v in measured.values())
                    + f" | {measured['bf16'] / measured['fp32']:.2f}x |")
    translate = translate_ips(args.device, args.images, 64)
    device = torch.cuda.get_device_name(torch.device(args.device))
    lines = [
        f"\n## {datetime.date.today()}, {device}, torch {torch.__version__} (bench/gpu.py)\n",
        "Training images/s (whole steps, batches on the device):\n",
        "| model | " + " | ".join(v[0] for v in VARIANTS) + " | bf16 / fp32 |",
        "|---|" + "---|" * (len(VARIANTS) + 1),
        *rows,
        "" if cycle is not None else "\nCycleGAN: not measured (the family is not installed).",
        f"\nTranslate, pix2pix unet_256 in bf16, batch 64, {args.images} PNG files 256x256 "
        f"end to end: **{translate:.0f} images/s** (target 1000).\n",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        with open(RESULTS, "a", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
