"""Turn expected failures into one red line and exit code 2 (tracebacks with IMG2IMG_DEBUG=1)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import typer

EXIT_USAGE = 2

#: set by ``train --devices N`` for the processes it starts: the folder where each process
#: leaves its error for the command to report once (see :func:`defer_to_launcher`)
PROCESS_ERRORS_ENV = "IMG2IMG_PROCESS_ERRORS"


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error and return the exit to raise.

    In a process that ``train --devices N`` started, other than the first, the message is
    left for that command to report instead (an error all processes hit is shown once).
    """
    if not defer_to_launcher(message):
        print_error(message)
    return typer.Exit(EXIT_USAGE)


def print_error(message: str) -> None:
    """``Error: message`` in red on stderr."""
    from rich.markup import escape

    from img2img.cli.console import console as make_console

    make_console(stderr=True).print(f"[bold red]Error:[/] {escape(message)}", highlight=False)


def defer_to_launcher(message: str) -> bool:
    """In a process started by ``train --devices N``, write ``message`` where the command
    collects the processes' errors; True when the process must not print it itself (every
    process but rank 0, which prints its own error as it happens)."""
    folder = os.environ.get(PROCESS_ERRORS_ENV)
    rank = os.environ.get("RANK")
    if not folder or rank is None or not rank.isdigit():
        return False
    try:
        with open(os.path.join(folder, f"{int(rank)}.txt"), "w", encoding="utf-8") as f:
            f.write(message)
    except OSError:
        return False  # the folder is gone: print it here after all
    return int(rank) != 0


def report_process_errors(folder: Path) -> None:
    """Print the errors the processes left in ``folder`` (:func:`defer_to_launcher`) that rank
    0 did not print: each message once, naming the processes that hit it."""
    messages: dict[str, list[int]] = {}
    for file in folder.glob("*.txt"):
        if file.stem.isdigit():
            messages.setdefault(file.read_text(encoding="utf-8"), []).append(int(file.stem))
    for message, ranks in sorted(messages.items(), key=lambda item: min(item[1])):
        if 0 not in ranks:
            names = ", ".join(str(r) for r in sorted(ranks))
            print_error(f"process {names}: {message}" if len(ranks) == 1
                        else f"processes {names}: {message}")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Report ValueError/OSError (bad values, files, layouts) and failed downloads without a
    traceback; a data-parallel process that stopped because rank 0 failed exits with the same
    status, silently (rank 0 reports the error)."""
    try:
        yield
    except (ValueError, OSError) as exc:
        if os.environ.get("IMG2IMG_DEBUG"):
            raise
        raise fail(_with_remedy(exc)) from exc
    except RuntimeError as exc:
        if os.environ.get("IMG2IMG_DEBUG"):
            raise
        if _download_failed(exc):
            raise fail(str(exc)) from exc
        if not _failed_on_main(exc):
            raise
        raise typer.Exit(EXIT_USAGE) from exc  # rank 0 reports it: one line, not one a process


def _with_remedy(exc: BaseException) -> str:
    """The error's message, with how to start again a run that stopped before its first
    checkpoint (the command its ``config.json`` gives)."""
    run_dir = getattr(exc, "run_dir", None)
    if run_dir is None:
        return str(exc)
    from img2img.cli.restart import restart_hint

    return f"{exc}; {restart_hint(run_dir)}"


def _download_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed download (only the hub's download module raises one, so
    the HTTP client is not imported to find out)."""
    download = sys.modules.get("img2img.hub.download")
    return download is not None and isinstance(exc, download.DownloadError)


def _failed_on_main(exc: BaseException) -> bool:
    """Whether ``exc`` is what a data-parallel process raises when rank 0 failed (only the
    engine's distributed module raises it, so torch is not imported to find out)."""
    distributed = sys.modules.get("img2img.engine.distributed")
    return distributed is not None and isinstance(exc, distributed.FailedOnMain)
