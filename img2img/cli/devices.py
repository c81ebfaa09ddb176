"""``train --devices N``: start the same command as N data-parallel processes through torchrun."""

from __future__ import annotations

import os
import subprocess
import sys

import typer

#: set by torchrun in every process it starts
_TORCHRUN_ENV = "WORLD_SIZE"


def torchrun_command(devices: int, argv: list[str]) -> list[str]:
    """The command that runs ``img2img <argv>`` as ``devices`` processes on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={devices}", "-m", "img2img", *argv]


def check_devices(devices: int, device: str | None) -> None:
    """Fail early when ``--devices`` asks for more GPUs than the machine has."""
    import torch

    wants_cuda = (device or "auto") in ("auto", "cuda") and torch.cuda.is_available()
    if wants_cuda and devices > torch.cuda.device_count():
        raise typer.BadParameter(
            f"{devices} processes asked for, but this machine has {torch.cuda.device_count()} "
            "CUDA device(s); expected at most that many (or --device cpu)",
            param_hint="--devices",
        )


def run_on_devices(devices: int | None, device: str | None) -> None:
    """With ``--devices N`` (N > 1) outside torchrun: run the command line as N processes and
    exit with their status. Inside one of torchrun's processes it does nothing."""
    if not devices or devices <= 1 or _TORCHRUN_ENV in os.environ:
        return
    check_devices(devices, device)
    raise typer.Exit(subprocess.call(torchrun_command(devices, sys.argv[1:])))
