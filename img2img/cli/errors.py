"""Turn expected failures into one red line and exit code 2 (tracebacks with IMG2IMG_DEBUG=1)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import typer

EXIT_USAGE = 2


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error and return the exit to raise."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[bold red]Error:[/] {escape(message)}", highlight=False)
    return typer.Exit(EXIT_USAGE)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Report ValueError/OSError (bad values, files, layouts) and failed downloads without a
    traceback; a data-parallel process that stopped because rank 0 failed exits with the same
    status, silently (rank 0 reports the error)."""
    from img2img.hub.download import DownloadError

    try:
        yield
    except (ValueError, OSError, DownloadError) as exc:
        if os.environ.get("IMG2IMG_DEBUG"):
            raise
        raise fail(str(exc)) from exc
    except RuntimeError as exc:
        if os.environ.get("IMG2IMG_DEBUG") or not _failed_on_main(exc):
            raise
        raise typer.Exit(EXIT_USAGE) from exc  # rank 0 reports it: one line, not one a process


def _failed_on_main(exc: BaseException) -> bool:
    """Whether ``exc`` is what a data-parallel process raises when rank 0 failed (only the
    engine's distributed module raises it, so torch is not imported to find out)."""
    distributed = sys.modules.get("img2img.engine.distributed")
    return distributed is not None and isinstance(exc, distributed.FailedOnMain)
