"""CycleGAN: two ResNet generators and two PatchGANs, LSGAN + cycle + identity (unpaired data)."""

from img2img.config import CycleGANConfig
from img2img.families.pix2pix import IMAGE_NETWORKS
from img2img.families.registry import Family

FAMILY = Family(
    name="cyclegan",
    config=CycleGANConfig,
    description="img2img.families.cyclegan.description:CycleGANDescription",
    recipe="img2img.families.cyclegan.training:CycleGANRecipe",
    cli="img2img.cli.cyclegan:model_options",
    summary="two ResNet generators and two PatchGANs, LSGAN + cycle + identity (unpaired data)",
    translate_cli="img2img.cli.cyclegan:translate_options",
    networks=IMAGE_NETWORKS,
)
