"""CycleGAN's model options, each declared once on its field."""

from __future__ import annotations

from dataclasses import dataclass, field

from img2img.config import ConfigError, check_positive
from img2img.families import image_options as shared
from img2img.options import MODEL, option


@dataclass(frozen=True)
class CycleGANConfig:
    """CycleGAN: two generators (G_A: A -> B, G_B: B -> A) and two PatchGANs on single images.

    The objective is LSGAN for both directions, plus cycle consistency weighted ``lambda_A`` and
    ``lambda_B`` and an identity term ``lambda_identity`` times those weights. ``pool_size``
    fakes per discriminator are kept in an image pool (0: no pool). ``serial_batches`` pairs
    A image ``i`` with B image ``i mod |B|`` instead of a random B.
    """

    netG: str = field(default="resnet_9blocks", metadata=shared.net_g("cyclegan"))
    netD: str = field(default="basic", metadata=shared.net_d("cyclegan"))
    ngf: int = field(default=64, metadata=shared.NGF)
    ndf: int = field(default=64, metadata=shared.NDF)
    n_layers_D: int = field(default=3, metadata=shared.N_LAYERS_D)
    norm: str = field(default="instance", metadata=shared.NORM)
    dropout: bool = field(default=False, metadata=option(
        "--dropout", "Dropout(0.5) in the generators' residual blocks (off in the paper).",
        MODEL))
    init_type: str = field(default="normal", metadata=shared.INIT_TYPE)
    init_gain: float = field(default=0.02, metadata=shared.INIT_GAIN)
    gan_mode: str = field(default="lsgan", metadata=shared.GAN_MODE)
    lambda_A: float = field(default=10.0, metadata=option(
        "--lambda-A", "Weight of the cycle loss A -> B -> A.", MODEL))
    lambda_B: float = field(default=10.0, metadata=option(
        "--lambda-B", "Weight of the cycle loss B -> A -> B.", MODEL))
    lambda_identity: float = field(default=0.5, metadata=option(
        "--lambda-identity", "Weight of the identity loss, relative to --lambda-A/--lambda-B "
        "(0: none; needs --input-nc = --output-nc).", MODEL))
    pool_size: int = field(default=50, metadata=option(
        "--pool-size", "Generated images each discriminator keeps in its pool (0: no pool).",
        MODEL))
    serial_batches: bool = field(default=False, metadata=shared.SERIAL_BATCHES)
    input_nc: int = field(default=3, metadata=shared.INPUT_NC)
    output_nc: int = field(default=3, metadata=shared.OUTPUT_NC)
    init_from: str | None = field(default=None, metadata=shared.INIT_FROM)

    def __post_init__(self) -> None:
        shared.check_image_networks(self)
        for name in ("lambda_A", "lambda_B", "lambda_identity", "pool_size"):
            check_positive(name, getattr(self, name), allow_zero=True)
        if self.lambda_identity > 0 and self.input_nc != self.output_nc:
            raise ConfigError(
                f"lambda_identity: {self.lambda_identity} needs as many input as output channels "
                f"(input_nc {self.input_nc}, output_nc {self.output_nc}): G_A(B) must be "
                "comparable to B; expected lambda_identity 0 or equal channel counts"
            )
