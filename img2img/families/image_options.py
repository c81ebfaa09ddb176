"""The options of the families whose networks translate images (pix2pix, CycleGAN, CUT): each
declared once here, each family giving its own default on its config field."""

from __future__ import annotations

import functools
from typing import Any

from img2img.config import check_channels, check_choices, check_positive
from img2img.families.init_from import init_from_option
from img2img.losses.modes import GAN_MODES
from img2img.nn.choices import INIT_TYPES, NORMS
from img2img.nn.registry import list_discriminators, list_generators
from img2img.options import MODEL, option


def check_image_networks(model: Any) -> None:
    """Check the network options pix2pix and CycleGAN share (``netG`` ... ``output_nc``)."""
    check_choices(model)
    for name in ("input_nc", "output_nc", "ngf", "ndf", "n_layers_D"):
        check_positive(name, getattr(model, name))
    check_channels("input_nc", model.input_nc)
    check_channels("output_nc", model.output_nc)
    check_positive("init_gain", model.init_gain)


def net_g(family: str) -> dict[str, Any]:
    """``--netG``: one of the generators ``family`` uses."""
    return option("--netG", "Generator: {choices}.", MODEL,
                  choices=functools.partial(list_generators, family))


def net_d(family: str) -> dict[str, Any]:
    """``--netD``: one of the discriminators ``family`` uses."""
    return option("--netD", "Discriminator: {choices}.", MODEL,
                  choices=functools.partial(list_discriminators, family))


NGF = option("--ngf", "Generator filters in the last conv layer.", MODEL)
NDF = option("--ndf", "Discriminator filters in the first conv layer.", MODEL)
N_LAYERS_D = option("--n-layers-D", "Layers of the 'n_layers' discriminator.", MODEL)
NORM = option("--norm", "Normalisation: {choices}.", MODEL, choices=NORMS)
INIT_TYPE = option("--init-type", "Weight init: {choices}.", MODEL, choices=INIT_TYPES)
INIT_GAIN = option("--init-gain", "Scale of the weight init.", MODEL)
GAN_MODE = option("--gan-mode", "GAN objective: {choices}.", MODEL, choices=GAN_MODES)
INPUT_NC = option("--input-nc", "Input channels (1 or 3).", MODEL)
OUTPUT_NC = option("--output-nc", "Output channels (1 or 3).", MODEL)
INIT_FROM = init_from_option()
SERIAL_BATCHES = option("--serial-batches",
                        "Pair A image i with B image i mod |B| instead of a random B.", MODEL)
