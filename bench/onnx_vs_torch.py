"""Translate throughput on the CPU: the ONNX export under onnxruntime against PyTorch.

Usage: ``python bench/onnx_vs_torch.py [--images 32] [--batch-size 8] [--size 256]``.

Both run the same network on the same images with the same batch size and thread count: a
pix2pix ``unet_256`` (ngf 64, batch norm, dropout) in the paper's test mode with dropout off,
which is what ``img2img export`` writes to ONNX (batch norm with each image's statistics as
instance normalisation). Measured: the forward pass alone (the same encoded batch, repeated)
and ``translate_files`` end to end (decode, pad, run, encode, write PNGs), with the forward
pass's FLOPs and their rate against the machine's fp32 matmul peak measured in the same run.
Prints a table to paste into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from flops import FlopCounterMode
from run import make_images, matmul_peak

from img2img.cli.memory import tune_allocator
from img2img.export import export_model
from img2img.families.loading import load_inference_model
from img2img.infer.plan import plan_outputs
from img2img.infer.translate import translate_files
from img2img.models.inference import InferenceModel
from img2img.nn import create_generator


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def forward_rate(model, x: torch.Tensor, repeats: int) -> float:
    """Images per second of ``model.run`` on the encoded batch ``x``: the median batch time
    after one warm-up (the median resists other work on a shared machine)."""
    keys = [str(i) for i in range(x.shape[0])]
    times = []
    with torch.inference_mode():
        model.run(x, keys)
        for _ in range(repeats):
            start = time.perf_counter()
            model.run(x, keys)
            times.append(time.perf_counter() - start)
    return x.shape[0] / statistics.median(times)


def end_to_end_rate(model, src: Path, dst: Path, batch_size: int, tries: int = 2) -> float:
    """Images per second of ``translate_files`` over ``src``, the best of ``tries`` runs."""
    jobs = plan_outputs(src, dst)
    translate_files(model, jobs[:batch_size], batch_size=batch_size)  # warm-up, first shape
    best = 0.0
    for _ in range(tries):
        start = time.perf_counter()
        summary = translate_files(model, jobs, batch_size=batch_size, overwrite=True)
        best = max(best, summary.written / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    tune_allocator()
    torch.manual_seed(0)
    net = create_generator("unet_256", norm="batch", dropout=True)
    torch_model = InferenceModel(net, "pix2pix", "unet_256", 3, 3, test_mode="paper",
                                 dropout=False)
    peak = matmul_peak(torch.device("cpu"))
    x = torch_model.example_input(args.batch_size, args.size, args.size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net.eval()(x[:1])
    flops_per_image = counter.get_total_flops()
    repeats = max(1, args.images // args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        export_model(torch_model, tmp / "g.onnx", "onnx")
        export_seconds = time.perf_counter() - started
        onnx_model = load_inference_model(tmp / "g.onnx")
        (tmp / "in").mkdir()
        make_images(tmp / "in", args.images, args.size)
        rates = {
            "PyTorch": (forward_rate(torch_model, x, repeats),
                        end_to_end_rate(torch_model, tmp / "in", tmp / "torch", args.batch_size)),
            "onnxruntime": (forward_rate(onnx_model, x, repeats),
                            end_to_end_rate(onnx_model, tmp / "in", tmp / "onnx",
                                            args.batch_size)),
        }
    load = os.getloadavg()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), onnxruntime "
          f"{__import__('onnxruntime').__version__}; load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f} at the end")
    print(f"unet_256 ngf 64, {args.size}x{args.size}, batch {args.batch_size}, "
          f"{args.images} PNGs; forward {flops_per_image / 1e9:.1f} GFLOP per image; "
          f"fp32 matmul peak {peak:.1f} GFLOP/s; ONNX export took {export_seconds:.1f} s")
    print("| runtime | forward only | GFLOP/s (of peak) | translate end to end |")
    print("|---|---|---|---|")
    for name, (forward, end_to_end) in rates.items():
        achieved = forward * flops_per_image / 1e9
        print(f"| {name} | {forward:.2f} img/s | {achieved:.1f} ({achieved / peak:.0%}) | "
              f"{end_to_end:.2f} img/s |")
    ratio_f = rates["onnxruntime"][0] / rates["PyTorch"][0]
    ratio_e = rates["onnxruntime"][1] / rates["PyTorch"][1]
    print(f"onnxruntime / PyTorch: forward {ratio_f:.2f}x, end to end {ratio_e:.2f}x")


if __name__ == "__main__":
    main()
