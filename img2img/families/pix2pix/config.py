"""pix2pix's model options, each declared once on its field."""

from __future__ import annotations

from dataclasses import dataclass, field

from img2img.config import check_positive
from img2img.families import image_options as shared
from img2img.options import MODEL, option


@dataclass(frozen=True)
class Pix2PixConfig:
    """pix2pix: conditional GAN with a U-Net generator, a PatchGAN on (A, B) and an L1 term."""

    netG: str = field(default="unet_256", metadata=shared.net_g("pix2pix"))
    netD: str = field(default="basic", metadata=shared.net_d("pix2pix"))
    ngf: int = field(default=64, metadata=shared.NGF)
    ndf: int = field(default=64, metadata=shared.NDF)
    n_layers_D: int = field(default=3, metadata=shared.N_LAYERS_D)
    norm: str = field(default="batch", metadata=shared.NORM)
    dropout: bool = field(default=True, metadata=option(
        "--no-dropout", "No dropout in the generator.", MODEL))
    init_type: str = field(default="normal", metadata=shared.INIT_TYPE)
    init_gain: float = field(default=0.02, metadata=shared.INIT_GAIN)
    gan_mode: str = field(default="vanilla", metadata=shared.GAN_MODE)
    lambda_l1: float = field(default=100.0, metadata=option(
        "--lambda-l1", "Weight of the L1 term.", MODEL))
    input_nc: int = field(default=3, metadata=shared.INPUT_NC)
    output_nc: int = field(default=3, metadata=shared.OUTPUT_NC)
    init_from: str | None = field(default=None, metadata=shared.INIT_FROM)

    def __post_init__(self) -> None:
        shared.check_image_networks(self)
        check_positive("lambda_l1", self.lambda_l1, allow_zero=True)
