"""The pix2pix model options of ``img2img train pix2pix``."""

from __future__ import annotations

from typing import Annotated

from img2img.cli.options import (
    MODEL,
    GanMode,
    InitGain,
    InitType,
    InputNc,
    Ndf,
    NetD,
    NetG,
    Ngf,
    NLayersD,
    NoDropout,
    Norm,
    Opt,
    OutputNc,
)
from img2img.config import Pix2PixConfig

EXAMPLES = """\
[bold]Examples[/]

  img2img train pix2pix --data edges2photos_mini --netG unet_128 --load-size 142 --crop-size 128 --max-steps 500

  img2img train pix2pix --data datasets/facades --direction BtoA --name facades

  img2img train pix2pix --data edges2photos_mini --dry-run

  img2img train --resume runs/facades --max-steps 40000
"""

LambdaL1 = Annotated[float, Opt("--lambda-l1", help="Weight of the L1 term.", rich_help_panel=MODEL)]


def model_options(
    netG: NetG = "unet_256",
    netD: NetD = "basic",
    ngf: Ngf = 64,
    ndf: Ndf = 64,
    n_layers_D: NLayersD = 3,
    norm: Norm = "batch",
    no_dropout: NoDropout = False,
    init_type: InitType = "normal",
    init_gain: InitGain = 0.02,
    gan_mode: GanMode = "vanilla",
    lambda_l1: LambdaL1 = 100.0,
    input_nc: InputNc = 3,
    output_nc: OutputNc = 3,
) -> Pix2PixConfig:
    """Train [bold]pix2pix[/]: U-Net generator, PatchGAN on (A, B), cGAN + L1 (paired data)."""
    return Pix2PixConfig(
        netG=netG, netD=netD, input_nc=input_nc, output_nc=output_nc, ngf=ngf, ndf=ndf,
        n_layers_D=n_layers_D, norm=norm, dropout=not no_dropout, init_type=init_type,
        init_gain=init_gain, gan_mode=gan_mode, lambda_l1=lambda_l1,
    )
