"""Peak memory of ``img2img translate`` on one huge PNG, with the default tiling.

For each side given, a ``side x side`` RGB PNG (a smooth gradient with a little noise: quick to
write and to read) is translated by a tiny generator (a random ``resnet_6blocks`` at ngf 4,
saved as a bare generator file: instance norm, so the whole-image statistics of the tiled pass
are measured too) in a process of its own. Printed per image: its pixel count, the size of the
8-bit image in MB, the process's peak resident memory (its ``ru_maxrss``) in GB, that peak over
the 8-bit image, and the seconds the command took.

    python bench/huge_image.py                     # 12000 and 20000
    python bench/huge_image.py --sides 4000 8000 --source ../other-checkout

``--source`` runs the command from another checkout of the package (``PYTHONPATH``), to
compare with an earlier version; ``--max-image-pixels 0`` is passed only when ``--no-limit``
is given (a version without the option refuses images over Pillow's limit instead).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

GB = 1 << 30
MB = 1 << 20


def write_tiny_generator(path: Path) -> Path:
    """A random ``resnet_6blocks`` (ngf 4, instance norm, RGB -> RGB) as a bare state_dict."""
    import torch

    from img2img.nn import create_generator

    torch.manual_seed(0)
    net = create_generator("resnet_6blocks", ngf=4, norm="instance", init_type=None)
    torch.save(net.state_dict(), path)
    return path


def write_huge_png(path: Path, side: int) -> Path:
    """A ``side x side`` RGB PNG: a gradient per channel plus a little noise, row by row."""
    ramp = np.linspace(0, 200, side, dtype=np.float32)
    rng = np.random.default_rng(0)
    image = np.empty((side, side, 3), dtype=np.uint8)
    step = max(1, (1 << 24) // (3 * side))
    for top in range(0, side, step):
        rows = min(step, side - top)
        noise = rng.integers(0, 24, (rows, side, 3), dtype=np.uint8)
        image[top : top + rows, :, 0] = ramp.astype(np.uint8)
        image[top : top + rows, :, 1] = ramp[top : top + rows, None].astype(np.uint8)
        image[top : top + rows, :, 2] = 90
        image[top : top + rows] += noise
    Image.fromarray(image).save(path, compress_level=1)
    return path


def peak_of(command: list[str], env: dict[str, str]) -> tuple[int, float, int]:
    """Run ``command``; its exit code, wall seconds and peak resident memory in bytes."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode and proc.stderr is not None:
        sys.stderr.write(proc.stderr.read().decode(errors="replace")[-2000:])
    return proc.returncode, seconds, usage.ru_maxrss * 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[12000, 20000])
    parser.add_argument("--source", type=Path, default=None,
                        help="run the command from this checkout (PYTHONPATH)")
    parser.add_argument("--no-limit", action="store_true",
                        help="pass --max-image-pixels 0 (needed over 178956970 pixels)")
    parser.add_argument("--folder", type=Path, default=None, help="keep the files here")
    args = parser.parse_args()
    env = {**os.environ, "NO_COLOR": "1"}
    if args.source is not None:
        env["PYTHONPATH"] = str(args.source.resolve())
    with tempfile.TemporaryDirectory() as temp:
        folder = args.folder or Path(temp)
        folder.mkdir(parents=True, exist_ok=True)
        model = write_tiny_generator(folder / "tiny.pth")
        print(f"{'pixels':>12} {'image MB':>9} {'peak GB':>8} {'ratio':>6} {'seconds':>8}  exit")
        for side in args.sides:
            image = write_huge_png(folder / f"huge_{side}.png", side)
            command = [sys.executable, "-m", "img2img", "translate", "--model", str(model),
                       str(image), str(folder / f"out_{side}.png"), "--device", "cpu",
                       "--overwrite"]
            if args.no_limit:
                command += ["--max-image-pixels", "0"]
            code, seconds, peak = peak_of(command, env)
            eight_bit = side * side * 3
            print(f"{side * side:>12} {eight_bit / MB:>9.0f} {peak / GB:>8.2f} "
                  f"{peak / eight_bit:>6.2f} {seconds:>8.1f}  {code}", flush=True)
            image.unlink()


if __name__ == "__main__":
    main()
