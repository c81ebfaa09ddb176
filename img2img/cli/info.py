"""``img2img info CHECKPOINT|RUN_DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from img2img.cli.errors import user_errors

EXAMPLES = """\
[bold]Examples[/]

  img2img info runs/facades_pix2pix

  img2img info runs/facades_pix2pix/checkpoints/latest.pt
"""


def info(
    path: Annotated[
        Path,
        typer.Argument(exists=True, help="A checkpoint file or a run directory."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Show what a checkpoint or run holds: family, architecture, step and config."""
    from img2img.cli import show
    from img2img.engine.inspect import describe

    with user_errors():
        details = describe(path)
    if as_json:
        import json

        typer.echo(json.dumps(details, indent=2))
    else:
        show.info(details)
