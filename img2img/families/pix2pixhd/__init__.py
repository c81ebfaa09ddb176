"""pix2pixHD: label maps (+ instance maps, + styles) to photos, coarse to fine."""

from img2img.families.pix2pixhd.config import Pix2PixHDConfig
from img2img.families.registry import Family
from img2img.nn.registry import NetworkEntry

_NETWORKS = "img2img.families.pix2pixhd.networks"

FAMILY = Family(
    name="pix2pixhd",
    config=Pix2PixHDConfig,
    description="img2img.families.pix2pixhd.description:Pix2PixHDDescription",
    recipe="img2img.families.pix2pixhd.training:Pix2PixHDRecipe",
    help="Train [bold]pix2pixHD[/]: label maps (+ instance boundaries) to photos with a "
         "coarse-to-fine generator, a multi-scale discriminator, feature matching and a "
         "VGG19 loss.",
    examples="img2img.families.pix2pixhd.cli:EXAMPLES",
    summary="coarse-to-fine generator, multi-scale D, feature matching + VGG (label maps)",
    cli_defaults={"preprocess": "scale_width", "load_size": 1024, "crop_size": 512},
    translate_cli="img2img.families.pix2pixhd.cli:translate_options",
    own_networks=(
        NetworkEntry("global", "generator", f"{_NETWORKS}:GlobalGenerator",
                     description="pix2pixHD global generator (4 downsamplings, 9 residual "
                                 "blocks)"),
        NetworkEntry("local", "generator", f"{_NETWORKS}:LocalEnhancer",
                     description="pix2pixHD local enhancer around a global generator (coarse "
                                 "to fine)"),
        NetworkEntry("multiscale", "discriminator", f"{_NETWORKS}:MultiscaleDiscriminator",
                     description="pix2pixHD multi-scale PatchGAN with intermediate features"),
        NetworkEntry("encoder", "encoder", f"{_NETWORKS}:Encoder",
                     description="pix2pixHD feature encoder with instance-wise average pooling"),
    ),
)
