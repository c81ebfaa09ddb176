"""CycleGAN's command-line extras: the examples of ``img2img train cyclegan`` (its options are
declared on :class:`img2img.families.cyclegan.config.CycleGANConfig`) and
``translate --direction``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from img2img.config import DIRECTIONS

EXAMPLES = """\
[bold]Examples[/]

  img2img train cyclegan --data datasets/horse2zebra

  img2img train cyclegan --data my_unpaired --netG resnet_6blocks --load-size 143 --crop-size 128 --max-steps 20000

  img2img train cyclegan --data datasets/horse2zebra --dry-run

  img2img translate --model runs/horse2zebra_cyclegan --direction BtoA zebras/ horses/
"""

Direction = Annotated[str | None, typer.Option("--direction", help=f"CycleGAN runs: {' or '.join(DIRECTIONS)} (G_A, the default, or G_B).")]


def translate_options(direction: Direction = None) -> dict[str, Any]:
    """CycleGAN's own ``translate`` options, as test-time options."""
    return {"direction": direction}
