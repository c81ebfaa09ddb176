"""``img2img info RUN_DIR|CHECKPOINT|RELEASE|EXPORT|WEIGHTS|NAME``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from img2img import completion
from img2img.cli.errors import user_errors

EXAMPLES = """\
[bold]Examples[/]

  img2img info runs/facades_pix2pix

  img2img info runs/facades_pix2pix/checkpoints/latest.pt

  img2img info facades.onnx

  img2img info weights/cyclegan/horse2zebra.pth

  img2img info horse2zebra
"""


def info(
    model: Annotated[
        str,
        typer.Argument(help="A run directory, checkpoint, .safetensors release, ONNX or TorchScript export, generator weights (.pth), or a published model name.", autocompletion=completion.models),
    ],
    weights_dir: Annotated[Path | None, typer.Option("--weights-dir", help="Where published models are downloaded (default: $IMG2IMG_WEIGHTS, else ./weights).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Show what a run, checkpoint, release, export, weights file or published model holds:
    family, architecture, step and config (an export: its input, output and test mode).

    Nothing is downloaded: a published model not downloaded yet is described from the
    registry."""
    from img2img.cli import show
    from img2img.model_info import describe_model

    with user_errors():
        details = describe_model(model, weights_dir)
    if as_json:
        import json

        typer.echo(json.dumps(details, indent=2))
    else:
        show.info(details)
