"""``train --devices N``: start the same command as N data-parallel processes through torchrun."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import typer

from img2img.cli.errors import PROCESS_ERRORS_ENV, report_process_errors
from img2img.lifeline import LAUNCHER_PID_ENV

#: set by torchrun in every process it starts
_TORCHRUN_ENV = "WORLD_SIZE"


#: torchrun's own loggers: a failed process is reported by the process itself
_LAUNCHER_LOGGERS = ("torch.distributed.elastic", "torch.distributed.run")


def torchrun_args(devices: int, argv: list[str]) -> list[str]:
    """torchrun's arguments that run ``img2img <argv>`` as ``devices`` processes here."""
    return ["--standalone", f"--nproc-per-node={devices}", "-m", "img2img", *argv]


def launch_processes(devices: int, argv: list[str]) -> int:
    """Run ``img2img <argv>`` as ``devices`` processes through torchrun's launcher, in this
    process; returns the exit status of the first process that failed (0 when none did).

    Rank 0 reports its errors as they happen; the others leave theirs for this command,
    which shows each error once, after the processes end (:func:`report_process_errors`).
    The launcher's own failure report (a traceback and a table per process) is left out.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    for name in _LAUNCHER_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="img2img-errors-") as errors:
        os.environ[PROCESS_ERRORS_ENV] = errors
        os.environ[LAUNCHER_PID_ENV] = str(os.getpid())  # the processes end with this one
        try:
            run(parse_args(torchrun_args(devices, argv)))
        except ChildFailedError as exc:
            code = exc.get_first_failure()[1].exitcode
            return 128 - code if code < 0 else code or 1  # -N: killed by signal N
        except SignalException as exc:  # Ctrl-C or a kill: the processes were told to stop
            return 128 + int(exc.sigval)
        finally:
            os.environ.pop(PROCESS_ERRORS_ENV, None)
            os.environ.pop(LAUNCHER_PID_ENV, None)
            report_process_errors(Path(errors))
    return 0


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


def launches_processes(devices: int | None) -> bool:
    """Whether ``--devices`` starts processes here: N > 1, outside one of torchrun's."""
    return bool(devices) and devices > 1 and _TORCHRUN_ENV not in os.environ


def run_on_devices(devices: int | None, device: str | None,
                   check: Callable[[], object] | None = None) -> None:
    """With ``--devices N`` (N > 1) outside torchrun: run ``check`` (what the command checks
    before it trains: once, here, instead of in every process), then the command line as N
    processes, and exit with their status. Inside one of torchrun's processes, or with one
    device, it does nothing."""
    if not launches_processes(devices):
        return
    check_devices(devices, device)
    if check is not None:
        check()
    raise typer.Exit(launch_processes(devices, sys.argv[1:]))
