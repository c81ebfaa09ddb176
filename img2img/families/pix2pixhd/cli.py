"""pix2pixHD's command-line extras: the examples of ``img2img train pix2pixhd`` (its options
are declared on :class:`img2img.families.pix2pixhd.config.Pix2PixHDConfig`) and its ``translate`` options
(``--instances``, ``--style``, ``--all-styles``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

EXAMPLES = """\
[bold]Examples[/]

  # the 512p stage on Cityscapes (train_label/, train_inst/, train_img/), then the 1024p one
  img2img train pix2pixhd --data datasets/cityscapes --name city_512p
  img2img train pix2pixhd --data datasets/cityscapes --netG local --load-size 2048 --num-D 3 --init-from runs/city_512p --fix-global-epochs 20 --name city_1024p

  # count the classes of a new dataset, check sizes and memory, write nothing
  img2img train pix2pixhd --data my_labels --label-nc auto --load-size 512 --dry-run

  # instance-wise styles: train the encoder too, then cluster its features
  img2img train pix2pixhd --data datasets/cityscapes --instance-feat --name city_feat
  img2img features runs/city_feat
"""

HD = "pix2pixHD"


def translate_options(
    instances: Annotated[Path | None, typer.Option("--instances", exists=True, file_okay=False, help="pix2pixHD: folder of instance maps, paired with the label maps by relative stem (Cityscapes suffixes ignored). Without it boundaries come from the label maps.", rich_help_panel=HD)] = None,
    style: Annotated[str | None, typer.Option("--style", help="pix2pixHD with instance features: the K-th feature centre of each class, or 'random' (seeded by --seed; the default).", rich_help_panel=HD)] = None,
    all_styles: Annotated[bool, typer.Option("--all-styles", help="pix2pixHD with instance features: one output per style, <stem>_style<K>.", rich_help_panel=HD)] = False,
) -> dict[str, Any]:
    """pix2pixHD's test-time options, None where not given."""
    return {"instances": instances, "style": style, "all_styles": True if all_styles else None}
