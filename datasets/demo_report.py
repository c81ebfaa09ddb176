"""Score translated held-out images against their targets and draw a contact sheet.

Reads the side-by-side A | B test images of a dataset and the translations of their A halves
(``OUTPUTS/<stem>.png`` as ``img2img translate --side A`` writes them), then prints the mean L1
error (in ``[0, 1]`` units) and PSNR of the model next to two baselines that need no learning:

- ``input as output``: the A half itself (for colourisation, the gray image);
- ``input + mean shift``: the A half plus the mean per-channel difference B - A over the training
  split (for colourisation, the gray image with the training set's average colour cast).

It ends with one line saying whether the model beat the better baseline, and writes a contact
sheet PNG with one ``input | output | target`` triplet per test image. A header says when and
where the figures were made: the UTC date, the CPU model, its cores, the threads the run used
(``--threads``), the run's wall time (``--started``, the epoch seconds at which it began) and the
training run's length (``--run``).

Usage::

    python datasets/demo_report.py --data datasets/colorize_mini --outputs out/demo/RUN \\
        --sheet out/demo/RUN/contact_sheet.png --started "$(date +%s)" --threads 1
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_LABEL_HEIGHT = 18
_GAP = 6
_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)


@dataclass(frozen=True)
class Example:
    """One held-out image: the network input, the model's output and the target, ``H x W x 3``."""

    name: str
    input: np.ndarray
    output: np.ndarray
    target: np.ndarray


@dataclass(frozen=True)
class Score:
    """Mean errors of one predictor over the test images (PSNR averaged per image, in dB)."""

    label: str
    l1: float
    psnr: float


def read_rgb(path: Path) -> np.ndarray:
    """An image file as ``H x W x 3`` float32 in ``[0, 1]`` (gray is repeated)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it as an image ({exc})") from exc


def split_ab(image: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The left (A) and right (B) halves of a side-by-side image read from ``path``."""
    width = image.shape[1]
    if width % 2:
        raise ValueError(f"{path}: width {width} is odd; expected A and B side by side")
    return image[:, : width // 2], image[:, width // 2 :]


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def l1_error(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute difference of two images in ``[0, 1]``."""
    return float(np.abs(prediction - target).mean())


def psnr(prediction: np.ndarray, target: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for images in ``[0, 1]`` (``inf`` when they are equal)."""
    mse = float(np.square(prediction - target).mean())
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def load_examples(test_dir: Path, outputs: Path) -> list[Example]:
    """Pair every side-by-side test image with its translation ``outputs/<stem>.<ext>``."""
    found = {p.stem: p for p in image_files(outputs)}
    examples, missing = [], []
    for path in image_files(test_dir):
        if path.stem not in found:
            missing.append(path.stem)
            continue
        a, b = split_ab(read_rgb(path), path)
        output = read_rgb(found[path.stem])
        if output.shape != b.shape:
            raise ValueError(
                f"{found[path.stem]}: {output.shape[1]} x {output.shape[0]} pixels; expected "
                f"{b.shape[1]} x {b.shape[0]} like the target half of {path}"
            )
        examples.append(Example(path.stem, a, output, b))
    if missing:
        raise ValueError(f"{outputs}: no translation of {len(missing)} test images: {missing[:5]}")
    return examples


def mean_shift(train_dir: Path) -> np.ndarray:
    """Mean per-channel difference B - A over the side-by-side training images, shape ``(3,)``."""
    shifts = []
    for path in image_files(train_dir):
        a, b = split_ab(read_rgb(path), path)
        shifts.append((b - a).mean(axis=(0, 1)))
    return np.mean(shifts, axis=0)


def score(
    label: str, examples: Sequence[Example], predict: Callable[[Example], np.ndarray]
) -> Score:
    """Mean L1 and PSNR of ``predict`` over ``examples``."""
    pairs = [(np.clip(predict(e), 0.0, 1.0), e.target) for e in examples]
    return Score(
        label,
        float(np.mean([l1_error(p, t) for p, t in pairs])),
        float(np.mean([psnr(p, t) for p, t in pairs])),
    )


def evaluate(examples: Sequence[Example], shift: np.ndarray) -> tuple[Score, list[Score]]:
    """The model's score and the baselines' scores."""
    model = score("model output", examples, lambda e: e.output)
    baselines = [
        score("baseline: input as output", examples, lambda e: e.input),
        score("baseline: input + mean shift", examples, lambda e: e.input + shift),
    ]
    return model, baselines


def verdict(model: Score, baselines: Sequence[Score]) -> str:
    """One line saying whether ``model`` beat the best baseline by L1."""
    best = min(baselines, key=lambda s: s.l1)
    change = 100.0 * (model.l1 / best.l1 - 1.0) if best.l1 > 0 else math.inf
    detail = (
        f"L1 {model.l1:.4f} vs {best.l1:.4f} ({abs(change):.0f} % "
        f"{'lower' if change < 0 else 'higher'}), PSNR {model.psnr - best.psnr:+.1f} dB"
    )
    name = best.label.removeprefix("baseline: ")
    if model.l1 < best.l1:
        return f"PASS: the model beats the best baseline ({name}): {detail}"
    return f"FAIL: the model does not beat the best baseline ({name}): {detail}"


def format_table(model: Score, baselines: Sequence[Score]) -> list[str]:
    """The score lines, aligned."""
    rows = [model, *baselines]
    width = max(len(s.label) for s in rows)
    lines = [f"  {'':{width}}  mean L1     PSNR"]
    lines += [f"  {s.label:{width}}  {s.l1:7.4f}  {s.psnr:5.1f} dB" for s in rows]
    return lines


def to_uint8(image: np.ndarray) -> Image.Image:
    """A float ``[0, 1]`` ``H x W x 3`` array as a PIL image."""
    return Image.fromarray(np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8))


def contact_sheet(examples: Sequence[Example], columns: int = 2) -> Image.Image:
    """Triplets ``input | output | target`` in a grid of ``columns`` triplets per row.

    A label strip above each triplet names the image and gives the output's L1 error.
    """
    if not examples:
        raise ValueError("contact_sheet: no examples")
    if columns < 1:
        raise ValueError(f"columns: {columns!r} is not valid; expected 1 or more")
    height, width = examples[0].target.shape[:2]
    cell_w, cell_h = 3 * width + _GAP, height + _LABEL_HEIGHT
    columns = min(columns, len(examples))
    rows = math.ceil(len(examples) / columns)
    sheet = Image.new(
        "RGB", (columns * cell_w + _GAP, _LABEL_HEIGHT + rows * cell_h + _GAP), _BACKGROUND
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=12)
    for column in range(columns):
        for k, title in enumerate(("input", "output", "target")):
            draw.text((_GAP + column * cell_w + k * width + 2, 2), title, fill=_INK, font=font)
    for index, example in enumerate(examples):
        x = _GAP + (index % columns) * cell_w
        y = _LABEL_HEIGHT + (index // columns) * cell_h
        caption = f"{example.name}  L1 {l1_error(example.output, example.target):.3f}"
        draw.text((x + 2, y + 2), caption, fill=_INK, font=font)
        for k, image in enumerate((example.input, example.output, example.target)):
            if image.shape[:2] != (height, width):
                raise ValueError(f"{example.name}: images of different sizes on one sheet")
            sheet.paste(to_uint8(image), (x + k * width, y + _LABEL_HEIGHT))
    return sheet


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), else what Python knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text("utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def run_length(run: Path) -> str:
    """``run``'s training length from its ``config.json`` and ``metrics.jsonl``, in words."""
    try:
        config = json.loads((run / "config.json").read_text("utf-8"))["train"]
        lines = (run / "metrics.jsonl").read_text("utf-8").splitlines()
        last = json.loads(lines[-1])
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"{run}: not a finished training run ({exc})") from exc
    return (f"{last['step']} steps of {config['batch_size']} images, "
            f"{config['n_epochs']} + {config['n_epochs_decay']} epochs, seed {config['seed']}")


def header(started: float | None, threads: int | None, run: Path | None,
           now: float | None = None) -> list[str]:
    """When and where the figures were made, what was trained, and how long the run took."""
    now = time.time() if now is None else now
    stamp = datetime.datetime.fromtimestamp(now, datetime.UTC)
    used = "" if threads is None else f", {threads} thread{'s' if threads != 1 else ''} used"
    lines = [f"date: {stamp:%Y-%m-%d %H:%M} UTC",
             f"cpu:  {cpu_model()}, {os.cpu_count()} cores{used}"]
    if run is not None:
        lines.append(f"training: {run_length(run)}")
    if started is not None:
        if not 0 <= now - started < 7 * 86400:
            raise ValueError(f"--started {started}: not the epoch seconds of a recent time "
                             "(expected the output of 'date +%s' when the run began)")
        lines.append(f"wall time: {now - started:.0f} s (training, translation and scoring)")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset with train/ and test/")
    parser.add_argument("--outputs", type=Path, required=True, help="translated test images")
    parser.add_argument("--sheet", type=Path, required=True, help="contact sheet PNG to write")
    parser.add_argument("--columns", type=int, default=2, help="triplets per sheet row")
    parser.add_argument("--started", type=float, help="epoch seconds when the run began "
                        "(date +%%s): the header gives the wall time since")
    parser.add_argument("--threads", type=int, help="threads the run used, for the header")
    parser.add_argument("--run", type=Path, help="the training run's directory, for the header")
    args = parser.parse_args(argv)
    try:
        examples = load_examples(args.data / "test", args.outputs)
        model, baselines = evaluate(examples, mean_shift(args.data / "train"))
        sheet = contact_sheet(examples, args.columns)
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(args.sheet)
        print("\n".join(header(args.started, args.threads, args.run)))
    except ValueError as exc:
        parser.exit(1, f"demo_report: {exc}\n")
    print(f"held-out test images: {len(examples)} in {args.data / 'test'} (none seen in training)")
    print("\n".join(format_table(model, baselines)))
    print(verdict(model, baselines))
    print(f"contact sheet (input | output | target per test image): {args.sheet}")


if __name__ == "__main__":
    main()
