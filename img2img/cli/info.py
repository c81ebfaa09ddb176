"""``img2img info RUN_DIR|CHECKPOINT|RELEASE|EXPORT|WEIGHTS``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from img2img.cli.errors import user_errors

EXAMPLES = """\
[bold]Examples[/]

  img2img info runs/facades_pix2pix

  img2img info runs/facades_pix2pix/checkpoints/latest.pt

  img2img info facades.onnx

  img2img info weights/cyclegan/horse2zebra.pth
"""


def info(
    path: Annotated[
        Path,
        typer.Argument(exists=True, help="A run directory, checkpoint, .safetensors release, ONNX or TorchScript export, or generator weights (.pth)."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Show what a run, checkpoint, release, export or weights file holds: family,
    architecture, step and config (an export: its input, output and test mode)."""
    from img2img.cli import show
    from img2img.model_info import describe_model_file

    with user_errors():
        details = describe_model_file(path)
    if as_json:
        import json

        typer.echo(json.dumps(details, indent=2))
    else:
        show.info(details)
