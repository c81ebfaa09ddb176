"""pix2pixHD's networks built from its model config: generator, multi-scale D, encoder."""

from __future__ import annotations

from typing import Any

from torch import nn

from img2img.families.pix2pixhd.config import Pix2PixHDConfig
from img2img.nn import create_discriminator, create_encoder, create_generator


def build_generator(m: Pix2PixHDConfig, init: bool = False) -> nn.Module:
    options: dict[str, Any] = {
        "in_channels": m.generator_in_channels, "out_channels": m.output_nc, "ngf": m.ngf,
        "norm": m.norm,
    }
    if m.netG == "global":
        options |= {"n_downsampling": m.n_downsample_global, "n_blocks": m.n_blocks_global}
    else:
        options |= {"n_downsample_global": m.n_downsample_global,
                    "n_blocks_global": m.n_blocks_global,
                    "n_local_enhancers": m.n_local_enhancers,
                    "n_blocks_local": m.n_blocks_local}
    return create_generator(m.netG, init_type=m.init_type if init else None,
                            init_gain=m.init_gain, **options)

def build_discriminator(m: Pix2PixHDConfig) -> nn.Module:
    return create_discriminator(
        "multiscale", in_channels=m.discriminator_in_channels, ndf=m.ndf,
        n_layers=m.n_layers_D, norm=m.norm, num_D=m.num_D, init_type=m.init_type,
        init_gain=m.init_gain,
    )

def build_encoder(m: Pix2PixHDConfig, init: bool = False) -> nn.Module:
    return create_encoder(
        "encoder", in_channels=m.output_nc, out_channels=m.feat_num, nef=m.nef, norm=m.norm,
        n_downsampling=m.n_downsample_E, init_type=m.init_type if init else None,
        init_gain=m.init_gain,
    )

def size_multiple(m: Pix2PixHDConfig) -> int:
    """Height and width of training and test inputs must be multiples of this."""
    g = 2 ** (m.n_downsample_global + (m.n_local_enhancers if m.netG == "local" else 0))
    return max(g, 2**m.n_downsample_E if m.instance_feat else 1)
