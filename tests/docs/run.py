"""Running the documentation's commands: which are not run and why, and how training shrinks.

Every ``img2img`` (or ``python -m img2img``) command of a ``bash`` fence runs through typer's
``CliRunner`` in the shared sandbox (``tests/docs/sandbox.py``) and must exit 0. A command that
is not run is listed in :data:`NOT_RUN`, word for word as the page writes it (continuations
joined, comment removed), with the reason; an entry no page holds any more fails the tests.

Training is shrunk to a few steps of tiny networks by :data:`SHRINK`: each rule whose command
words match appends its options (the last value of an option wins), so a page can show the
paper's settings and still be run. A training command's ``--max-steps`` becomes 2, and a
resume's ``--max-steps`` the run's own limit plus 2.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from tests.docs.fences import Command

#: commands the tests do not run, word for word, with the reason
NOT_RUN: dict[str, str] = {
    "make install": "creates a virtual environment; the suite runs in one",
    ". .venv/bin/activate": "shell built-in",
    "make demo": "minutes of training; its report script is tested in tests/test_demo_report.py",
    "make test": "the suite itself",
    "make lint": "runs ruff, as CI does",
    "make docs": "builds the site; tests/docs/test_site.py builds it",
    "make bench": "minutes of measurement",
    "pip install -e .": "installs the package; the suite runs in an installed one",
    "pip install -e '.[dev]'": "installs the package; the suite runs in an installed one",
    "pip install -e '.[metrics,onnx]'": "installs the package; the suite runs in an installed one",
    "mkdocs serve": "a server that runs until stopped",
    "tensorboard --logdir runs": "a server that runs until stopped",
    "img2img train pix2pix --data facades --direction BtoA --devices 8 --precision bf16":
        "needs 8 GPUs; --devices is tested in tests/engine/test_distributed.py",
    "torchrun --standalone --nproc-per-node 8 -m img2img train pix2pix --data facades":
        "needs 8 GPUs; torchrun launches are tested in tests/engine/test_distributed.py",
    "torchrun --nnodes 2 --nproc-per-node 8 --node-rank 0 --rdzv-backend c10d "
    "--rdzv-endpoint node0.example:29500 --rdzv-id facades -m img2img train pix2pix "
    "--data /shared/facades --runs-dir /shared/runs": "needs two machines with 8 GPUs each",
    "img2img train --resume /shared/runs/facades_pix2pix --devices 4":
        "needs 4 GPUs and the run of the two-machine example",
    "python bench/gpu.py": "needs a GPU; minutes of measurement",
    "python bench/data_parallel_cpu.py": "minutes of measurement",
    "python bench/run.py --threads 1 --cpu-time": "minutes of measurement",
    "python bench/train_breakdown.py": "minutes of measurement",
    "python bench/datasets.py": "minutes of measurement",
    "python bench/huge_image.py": "writes and translates a 12000 x 12000 image",
}

#: (command words it applies to, options appended) - tiny networks, a few steps, 32-64 px
SHRINK: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("train",), ("--max-steps", "2", "--num-workers", "0", "--device", "cpu",
                  "--sample-every", "1", "--checkpoint-every", "1000")),
    (("train", "pix2pix"), ("--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8",
                            "--load-size", "36", "--crop-size", "32")),
    (("train", "cyclegan"), ("--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8",
                             "--load-size", "36", "--crop-size", "32", "--pool-size", "2")),
    (("train", "cut"), ("--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8",
                        "--load-size", "36", "--crop-size", "32", "--num-patches", "16",
                        "--netF-nc", "16")),
    (("train", "pix2pixhd"), ("--ngf", "8", "--ndf", "8", "--n-blocks-global", "2",
                              "--n-downsample-global", "3", "--n-blocks-local", "1",
                              "--nef", "4", "--n-downsample-E", "3", "--num-D", "2",
                              "--load-size", "64", "--crop-size", "64", "--no-vgg-loss")),
]

#: in a pix2pixHD command with --netG local the enhancer runs at half the global's ngf
_LOCAL = ("--ngf", "4", "--load-size", "128", "--crop-size", "128")

#: options given a value the sandbox has not got
_DEVICE = {"cuda": "cpu", "cuda:0": "cpu", "mps": "cpu"}


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    env: dict[str, str]

    def __str__(self) -> str:
        return " ".join(shlex.quote(w) for w in ["img2img", *self.argv])


def _resume_limit(argv: list[str], root: Path) -> list[str]:
    run = Path(argv[argv.index("--resume") + 1])
    config = json.loads((root / run / "config.json").read_text())
    limit = str((config["train"].get("max_steps") or 0) + 2)
    if "--max-steps" in argv:
        i = argv.index("--max-steps")
        return [*argv[: i + 1], limit, *argv[i + 2:]]
    return [*argv, "--max-steps", limit]


def invocation(command: Command, root: Path) -> Invocation | None:
    """How ``command`` runs in the sandbox ``root``: img2img's own words, shrunk; None: not run."""
    words = list(command.argv)
    if words[:3] == ["python", "-m", "img2img"]:
        words = ["img2img", *words[3:]]
    if command.text in NOT_RUN:
        return None
    if not words or words[0] != "img2img":
        raise AssertionError(f"{command.where}: `{command.text}` is neither an img2img command "
                             "nor in tests/docs/run.py's NOT_RUN table")
    argv = words[1:]
    home = str(root / ".home")
    argv = [home + w[1:] if w.startswith("~/") else w for w in argv]
    argv = [_DEVICE.get(w, w) if i and argv[i - 1] == "--device" else w
            for i, w in enumerate(argv)]
    if argv[:1] == ["train"] and "--resume" in argv:
        return Invocation(_resume_limit(argv, root), dict(command.env))
    for match, extra in SHRINK:
        if argv[: len(match)] == list(match):
            argv = [*argv, *extra]
    if argv[:2] == ["train", "pix2pixhd"] and "local" in argv:
        argv = [*argv, *_LOCAL]
    return Invocation(argv, dict(command.env))
