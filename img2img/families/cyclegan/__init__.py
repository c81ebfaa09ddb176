"""CycleGAN: two ResNet generators and two PatchGANs, LSGAN + cycle + identity (unpaired data)."""

from img2img.families.cyclegan.config import CycleGANConfig
from img2img.families.pix2pix import IMAGE_NETWORKS
from img2img.families.registry import Family

FAMILY = Family(
    name="cyclegan",
    config=CycleGANConfig,
    description="img2img.families.cyclegan.description:CycleGANDescription",
    recipe="img2img.families.cyclegan.training:CycleGANRecipe",
    summary="two ResNet generators and two PatchGANs, LSGAN + cycle + identity (unpaired data)",
    examples="img2img.families.cyclegan.cli:EXAMPLES",
    translate_cli="img2img.families.cyclegan.cli:translate_options",
    networks=IMAGE_NETWORKS,
)
