"""CUT / FastCUT: one antialiased ResNet generator against a PatchGAN, LSGAN + PatchNCE (unpaired
data)."""

from img2img.families.cut.config import MODE_EPOCHS, CUTConfig
from img2img.families.registry import Family

FAMILY = Family(
    name="cut",
    config=CUTConfig,
    description="img2img.families.cut.description:CUTDescription",
    recipe="img2img.families.cut.training:CUTRecipe",
    summary="one antialiased ResNet generator and a PatchGAN, LSGAN + patchwise contrastive "
            "loss (unpaired data; --cut-mode fastcut for FastCUT)",
    examples="img2img.families.cut.cli:EXAMPLES",
    cli_defaults=MODE_EPOCHS["cut"],
    mode_defaults="img2img.families.cut.config:train_defaults",
    datasets_of="cyclegan",
    networks={
        "generator": ("resnet_6blocks", "resnet_9blocks"),
        "discriminator": ("basic", "n_layers", "pixel"),
    },
)
