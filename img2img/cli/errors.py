"""Turn expected failures into one red line and exit code 2 (tracebacks with IMG2IMG_DEBUG=1)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import typer

EXIT_USAGE = 2


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error and return the exit to raise."""
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]Error:[/] {message}", highlight=False)
    return typer.Exit(EXIT_USAGE)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Report ValueError/OSError (bad values, files, layouts) and failed downloads without a
    traceback."""
    from img2img.hub.download import DownloadError

    try:
        yield
    except (ValueError, OSError, DownloadError) as exc:
        if os.environ.get("IMG2IMG_DEBUG"):
            raise
        raise fail(str(exc)) from exc
