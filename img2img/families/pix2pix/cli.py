"""The examples of ``img2img train pix2pix`` (its options are declared on
:class:`img2img.families.pix2pix.config.Pix2PixConfig`)."""

from __future__ import annotations

EXAMPLES = """\
[bold]Examples[/]

  img2img train pix2pix --data edges2photos_mini --netG unet_128 --load-size 142 --crop-size 128 --max-steps 500

  img2img train pix2pix --data datasets/facades --direction BtoA --name facades

  img2img train pix2pix --data edges2photos_mini --dry-run

  img2img train --resume runs/facades --max-steps 40000
"""
