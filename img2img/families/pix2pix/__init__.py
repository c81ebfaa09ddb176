"""pix2pix: a U-Net generator against a PatchGAN on (A, B) pairs, cGAN + L1 (paired data)."""

from img2img.families.pix2pix.config import Pix2PixConfig
from img2img.families.registry import Family

#: the shared image-to-image networks pix2pix and CycleGAN choose from
IMAGE_NETWORKS = {
    "generator": ("unet_128", "unet_256", "resnet_6blocks", "resnet_9blocks"),
    "discriminator": ("basic", "n_layers", "pixel"),
}

FAMILY = Family(
    name="pix2pix",
    config=Pix2PixConfig,
    description="img2img.families.pix2pix.description:Pix2PixDescription",
    recipe="img2img.families.pix2pix.training:Pix2PixRecipe",
    summary="U-Net generator, PatchGAN on (A, B), cGAN + L1 (paired data)",
    examples="img2img.families.pix2pix.cli:EXAMPLES",
    networks=IMAGE_NETWORKS,
)
