"""Running the documentation's commands: which are not run and why, and how training shrinks.

Every ``img2img`` (or ``python -m img2img``) command of a ``bash`` fence runs through typer's
``CliRunner`` in the shared sandbox (``tests/docs/sandbox.py``) and must exit 0. A command that
is not run is listed in :data:`NOT_RUN`, word for word as the page writes it (continuations
joined, comment removed), with the reason; an entry no page holds any more fails the tests.

Training is shrunk to a few steps of tiny networks by :data:`SHRINK`: each rule whose command
words match appends its options (the last value of an option wins), so a page can show the
paper's settings and still be run. A training command's ``--max-steps`` becomes 2, and a
resume's ``--max-steps`` the run's own limit plus 2. A pipe is run only as ``| grep WORD``: a
line of the command's output must hold WORD.
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
    "make demo DEMO_THREADS=2 DEMO_EPOCHS=6": "minutes of training",
    "make test": "the suite itself",
    "make lint": "runs ruff, as CI does",
    "make docs": "builds the site; tests/docs/test_site.py builds it",
    "make bench": "minutes of measurement",
    "pip install -e .": "installs the package; the suite runs in an installed one",
    "pip install -e '.[dev]'": "installs the package; the suite runs in an installed one",
    "pip install -e '.[metrics,onnx]'": "installs the package; the suite runs in an installed one",
    "pip install 'img2img-gan[wandb]'": "installs a package; the suite runs with the dev extras",
    "mkdocs serve": "a server that runs until stopped",
    "pip install 'img2img-gan[serve]'": "installs a package; the suite runs with the dev extras",
    "img2img serve --model horse2zebra --port 8000":
        "a server that runs until stopped; tests/serve/ runs it and calls its API over HTTP",
    "img2img serve --model horse2zebra --model runs/facades_pix2pix --port 8000":
        "a server that runs until stopped; tests/serve/ runs it and calls its API over HTTP",
    "IMG2IMG_TOKEN=change-me img2img serve --model horse2zebra --host 0.0.0.0":
        "a server on every address; tests/serve/ checks the token it then requires",
    "curl -F image=@horse.jpg 'http://127.0.0.1:8000/v1/translate?model=horse2zebra' -o zebra.png":
        "needs the server above; tests/serve/ makes the same request",
    "curl -H 'Authorization: Bearer change-me' -F image=@horse.jpg "
    "http://server:8000/v1/translate -o zebra.png": "needs the server above on a host 'server'",
    "docker build -t img2img-serve .": "needs Docker",
    "docker run --rm -p 8000:8000 -e IMG2IMG_TOKEN=change-me -v '$PWD/weights:/weights' "
    "img2img-serve --model horse2zebra": "needs Docker",
    "docker run --rm -p 8000:8000 -e IMG2IMG_TOKEN=change-me -v '$PWD/runs:/runs:ro' "
    "img2img-serve --model /runs/facades_pix2pix": "needs Docker",
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
    "python bench/gpu.py --quick": "needs a GPU; minutes of measurement (tests/test_bench_gpu.py "
                                   "checks it on a machine without one)",
    "img2img train pix2pix --data facades --direction BtoA --device cuda --precision bf16 "
    "--channels-last": "needs a CUDA GPU (tests/cuda/ trains bf16 and channels-last there)",
    "python -m pytest -m cuda tests/cuda": "a part of the test suite (needs a CUDA GPU)",
    "IMG2IMG_TIER_DEVICE=cpu python -m pytest tests/cuda -k 'not compiled'":
        "a part of the test suite, minutes on the CPU",
    "python bench/data_parallel_cpu.py": "minutes of measurement",
    "python bench/run.py --threads 1 --cpu-time": "minutes of measurement",
    "python bench/train_breakdown.py": "minutes of measurement",
    "python bench/datasets.py": "minutes of measurement",
    "python bench/huge_image.py": "writes and translates a 12000 x 12000 image",
    "python bench/translate_resize.py --maps 2 --ngf 16": "translates 2048x1024 maps for minutes",
    "python bench/serve.py --clients 8 --requests 50": "a server under load for minutes",
    "python bench/channels_last.py --repeats 5 --steps 2 --only pix2pixhd":
        "minutes of measurement",
    "grep -o -w -E 'avx512_bf16|amx_bf16' /proc/cpuinfo '|' sort -u":
        "reads this machine's CPU flags; its answer is the reader's, not a result to check",
}

#: (command words it applies to, network options, size options) appended to a training command:
#: tiny networks, a few steps, 32-64 px. A run fine-tuned from a published model keeps the
#: published generator's network (``--init-from NAME``): only its size options are appended.
SHRINK: list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = [
    (("train",), (), ("--max-steps", "2", "--num-workers", "0", "--device", "cpu")),
    (("train", "pix2pix"), ("--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8"),
     ("--load-size", "36", "--crop-size", "32")),
    (("train", "cyclegan"), ("--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8"),
     ("--load-size", "36", "--crop-size", "32", "--pool-size", "2")),
    (("train", "cut"), ("--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8", "--netF-nc", "16"),
     ("--load-size", "36", "--crop-size", "32", "--num-patches", "16")),
    (("train", "pix2pixhd"), ("--ngf", "8", "--ndf", "8", "--n-blocks-global", "2",
                              "--n-downsample-global", "3", "--n-blocks-local", "1", "--nef", "4",
                              "--n-downsample-E", "3", "--num-D", "2", "--no-vgg-loss"),
     ("--load-size", "64", "--crop-size", "64")),
]

#: in a pix2pixHD command with --netG local the enhancer runs at half the global's ngf
_LOCAL = ("--ngf", "4", "--load-size", "128", "--crop-size", "128")

#: options given a value the sandbox has not got
_DEVICE = {"cuda": "cpu", "cuda:0": "cpu", "mps": "cpu"}


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    env: dict[str, str]
    grep: str | None = None  # `... | grep WORD`: a line of the output must hold WORD

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


def _published(name: str) -> bool:
    from img2img.hub.weights import get_published

    try:
        get_published(name)
    except Exception:  # not a published name (a run, a file ...)
        return False
    return True


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
    argv, grep = words[1:], None
    if "|" in argv:
        i = argv.index("|")
        if argv[i + 1:i + 2] != ["grep"] or len(argv) != i + 3:
            raise AssertionError(f"{command.where}: only `| grep WORD` is run after a pipe")
        argv, grep = argv[:i], argv[i + 2]
    home = str(root / ".home")
    argv = [home + w[1:] if w.startswith("~/") else w for w in argv]
    argv = [_DEVICE.get(w, w) if i and argv[i - 1] == "--device" else w
            for i, w in enumerate(argv)]
    if argv[:1] == ["train"] and "--resume" in argv:
        return Invocation(_resume_limit(argv, root), dict(command.env), grep)
    published = "--init-from" in argv and _published(argv[argv.index("--init-from") + 1])
    for match, network, sizes in SHRINK:
        if argv[: len(match)] == list(match):
            argv = [*argv, *(() if published else network), *sizes]
    if argv[:2] == ["train", "pix2pixhd"] and "local" in argv:
        argv = [*argv, *_LOCAL]
    return Invocation(argv, dict(command.env), grep)
