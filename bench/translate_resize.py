"""Test-time resizing: seconds per map for a model trained 256 wide, translating 2048x1024 maps.

Usage: ``python bench/translate_resize.py [--maps 3] [--width 2048] [--load-size 256]
[--ngf 32] [--device cpu]``.

A run trained with ``--preprocess scale_width --load-size 256`` (the pix2pixHD habit) is
translated the three ways ``img2img translate`` offers: its default (the run's own preprocess:
256 wide), ``--restore-size`` (256 wide, outputs resized back to 2048x1024) and
``--preprocess none`` (each map at its full size, the behaviour before test-time resizing).
The generator is ``resnet_9blocks`` (random weights: the time does not depend on them) behind
the real translate pipeline (:func:`img2img.infer.translate.translate_files`). Prints seconds
per map for each, for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from img2img.config import DataConfig, RunConfig, TrainConfig
from img2img.families.pix2pix.config import Pix2PixConfig
from img2img.infer.plan import plan_outputs
from img2img.infer.resizing import Resizing, choose_resizing
from img2img.infer.translate import translate_files
from img2img.models.inference import InferenceModel
from img2img.nn import create_generator


def _maps(folder: Path, count: int, width: int) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for n in range(count):
        pixels = rng.integers(0, 256, (width // 2, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"map{n}.png")
    return folder


def _model(root: Path, load_size: int, ngf: int) -> InferenceModel:
    config = RunConfig(
        family="pix2pix", model=Pix2PixConfig(netG="resnet_9blocks", ngf=ngf, norm="instance"),
        data=DataConfig(root=str(root), preprocess="scale_width", load_size=load_size,
                        crop_size=load_size),
        train=TrainConfig(device="cpu"), name="maps")
    net = create_generator("resnet_9blocks", in_channels=3, out_channels=3, ngf=ngf,
                           norm="instance")
    return InferenceModel(net.eval(), "pix2pix", "resnet_9blocks", 3, 3, test_mode="eval",
                          config=config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=3)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--load-size", type=int, default=256)
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        maps = _maps(Path(tmp) / "maps", args.maps, args.width)
        model = _model(maps, args.load_size, args.ngf)
        settings: list[tuple[str, Resizing]] = [
            ("default (run's scale_width)", choose_resizing(model.config, None, None, False)),
            ("--restore-size", choose_resizing(model.config, None, None, True)),
            ("--preprocess none", choose_resizing(model.config, "none", None, False)),
        ]
        print(f"{args.maps} maps {args.width}x{args.width // 2}, resnet_9blocks ngf {args.ngf}, "
              f"trained {args.load_size} wide; {platform.processor() or platform.machine()}, "
              f"{torch.get_num_threads()} threads, device {args.device}")
        print("| setting | output | s/map |\n|---|---|---|")
        for name, resizing in settings:
            out = Path(tmp) / name.replace(" ", "_")
            start = time.perf_counter()
            summary = translate_files(model, plan_outputs(maps, out), device=args.device,
                                      batch_size=1, resizing=resizing)
            seconds = (time.perf_counter() - start) / args.maps
            assert summary.written == args.maps and not summary.failed, summary.failed
            with Image.open(next(out.iterdir())) as img:
                size = f"{img.width}x{img.height}"
            print(f"| {name} | {size} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
