"""The CycleGAN options: model options of ``img2img train cyclegan``, and ``translate --direction``."""

from __future__ import annotations

from typing import Annotated, Any

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
    Norm,
    Opt,
    OutputNc,
)
from img2img.config import DIRECTIONS, CycleGANConfig

EXAMPLES = """\
[bold]Examples[/]

  img2img train cyclegan --data datasets/horse2zebra

  img2img train cyclegan --data my_unpaired --netG resnet_6blocks --load-size 143 --crop-size 128 --max-steps 20000

  img2img train cyclegan --data datasets/horse2zebra --dry-run

  img2img translate --model runs/horse2zebra_cyclegan --direction BtoA zebras/ horses/
"""

Dropout = Annotated[bool, Opt("--dropout", help="Dropout(0.5) in the generators' residual blocks (off in the paper).", rich_help_panel=MODEL)]
LambdaA = Annotated[float, Opt("--lambda-A", help="Weight of the cycle loss A -> B -> A.", rich_help_panel=MODEL)]
LambdaB = Annotated[float, Opt("--lambda-B", help="Weight of the cycle loss B -> A -> B.", rich_help_panel=MODEL)]
LambdaIdentity = Annotated[float, Opt("--lambda-identity", help="Weight of the identity loss, relative to --lambda-A/--lambda-B (0: none; needs --input-nc = --output-nc).", rich_help_panel=MODEL)]
PoolSize = Annotated[int, Opt("--pool-size", help="Generated images each discriminator keeps in its pool (0: no pool).", rich_help_panel=MODEL)]
SerialBatches = Annotated[bool, Opt("--serial-batches", help="Pair A image i with B image i mod |B| instead of a random B.", rich_help_panel=MODEL)]
Direction = Annotated[str | None, Opt("--direction", help=f"CycleGAN runs: {' or '.join(DIRECTIONS)} (G_A, the default, or G_B).")]


def model_options(
    netG: NetG = "resnet_9blocks",
    netD: NetD = "basic",
    ngf: Ngf = 64,
    ndf: Ndf = 64,
    n_layers_D: NLayersD = 3,
    norm: Norm = "instance",
    dropout: Dropout = False,
    init_type: InitType = "normal",
    init_gain: InitGain = 0.02,
    gan_mode: GanMode = "lsgan",
    lambda_A: LambdaA = 10.0,
    lambda_B: LambdaB = 10.0,
    lambda_identity: LambdaIdentity = 0.5,
    pool_size: PoolSize = 50,
    serial_batches: SerialBatches = False,
    input_nc: InputNc = 3,
    output_nc: OutputNc = 3,
) -> CycleGANConfig:
    """Train [bold]CycleGAN[/]: two ResNet generators and two PatchGANs, LSGAN + cycle + identity (unpaired data)."""
    return CycleGANConfig(
        netG=netG, netD=netD, input_nc=input_nc, output_nc=output_nc, ngf=ngf, ndf=ndf,
        n_layers_D=n_layers_D, norm=norm, dropout=dropout, init_type=init_type,
        init_gain=init_gain, gan_mode=gan_mode, lambda_A=lambda_A, lambda_B=lambda_B,
        lambda_identity=lambda_identity, pool_size=pool_size, serial_batches=serial_batches,
    )


def translate_options(direction: Direction = None) -> dict[str, Any]:
    """CycleGAN's own ``translate`` options, as test-time options."""
    return {"direction": direction}
