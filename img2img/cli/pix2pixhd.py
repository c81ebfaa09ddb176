"""pix2pixHD's options: the model options of ``img2img train pix2pixhd`` and its ``translate``
options (``--instances``, ``--style``, ``--all-styles``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from img2img.cli.options import MODEL, InitGain, InitType, Ndf, Norm, Opt, OutputNc, choices
from img2img.config import PIX2PIXHD_GAN_MODES, PIX2PIXHD_GENERATORS, ConfigError, Pix2PixHDConfig

EXAMPLES = """\
[bold]Examples[/]

  # the 512p stage on Cityscapes (train_label/, train_inst/, train_img/), then the 1024p one
  img2img train pix2pixhd --data datasets/cityscapes --name city_512p
  img2img train pix2pixhd --data datasets/cityscapes --netG local --load-size 2048 --num-D 3 --init-from runs/city_512p --fix-global-epochs 20 --name city_1024p

  # count the classes of a new dataset, check sizes and memory, write nothing
  img2img train pix2pixhd --data my_labels --label-nc auto --load-size 512 --dry-run

  # instance-wise styles: train the encoder too, then cluster its features
  img2img train pix2pixhd --data datasets/cityscapes --instance-feat --name city_feat
  img2img features runs/city_feat
"""

HD = "pix2pixHD"

NetG = Annotated[str, Opt("--netG", help=f"Generator: {choices(PIX2PIXHD_GENERATORS)} (coarse-to-fine).", rich_help_panel=MODEL)]
LabelNc = Annotated[str, Opt("--label-nc", help="Classes of the label maps (values 0..N-1, one-hot encoded); 0: the inputs are images; auto: scan the training labels.", rich_help_panel=MODEL)]
NoInstance = Annotated[bool, Opt("--no-instance", help="No instance maps (no boundary channel).", rich_help_panel=MODEL)]
InputNc = Annotated[int, Opt("--input-nc", help="Channels of image inputs (with --label-nc 0).", rich_help_panel=MODEL)]
Ngf = Annotated[int | None, Opt("--ngf", help="Generator filters: 64 for global, 32 for local (its global part has twice as many).", rich_help_panel=MODEL)]
NDownsampleGlobal = Annotated[int, Opt("--n-downsample-global", help="Downsamplings of the global generator.", rich_help_panel=MODEL)]
NBlocksGlobal = Annotated[int, Opt("--n-blocks-global", help="Residual blocks of the global generator.", rich_help_panel=MODEL)]
NLocalEnhancers = Annotated[int, Opt("--n-local-enhancers", help="Local enhancers (each doubles the resolution).", rich_help_panel=MODEL)]
NBlocksLocal = Annotated[int, Opt("--n-blocks-local", help="Residual blocks of each local enhancer.", rich_help_panel=MODEL)]
NLayersD = Annotated[int, Opt("--n-layers-D", help="Stride-2 layers of each scale's PatchGAN.", rich_help_panel=MODEL)]
NumD = Annotated[int, Opt("--num-D", help="Discriminator scales (2; 3 at 1024p).", rich_help_panel=MODEL)]
GanMode = Annotated[str, Opt("--gan-mode", help=f"GAN objective: {choices(PIX2PIXHD_GAN_MODES)}.", rich_help_panel=MODEL)]
LambdaFeat = Annotated[float, Opt("--lambda-feat", help="Weight of feature matching and of the VGG loss.", rich_help_panel=MODEL)]
NoGanFeatLoss = Annotated[bool, Opt("--no-ganfeat-loss", help="No discriminator feature matching.", rich_help_panel=MODEL)]
NoVggLoss = Annotated[bool, Opt("--no-vgg-loss", help="No VGG19 perceptual loss (needs no ImageNet weights).", rich_help_panel=MODEL)]
VggWeights = Annotated[Path | None, Opt("--vgg-weights", help="torchvision's VGG19 ImageNet weights (vgg19-dcbb9e9d.pth); default: the torch hub cache.", rich_help_panel=MODEL)]
InstanceFeat = Annotated[bool, Opt("--instance-feat", help="Train the feature encoder; its instance-pooled features feed the generator (styles).", rich_help_panel=MODEL)]
FeatNum = Annotated[int, Opt("--feat-num", help="Encoder feature channels.", rich_help_panel=MODEL)]
Nef = Annotated[int, Opt("--nef", help="Encoder filters in its first conv layer.", rich_help_panel=MODEL)]
NDownsampleE = Annotated[int, Opt("--n-downsample-E", help="Downsamplings of the encoder.", rich_help_panel=MODEL)]
FixGlobalEpochs = Annotated[int, Opt("--fix-global-epochs", help="With --netG local: train only the local enhancer for N epochs, then everything.", rich_help_panel=MODEL)]
InitFrom = Annotated[Path | None, Opt("--init-from", help="Start from this run's generator (a global run's goes into a local generator's global part).", rich_help_panel=MODEL)]


def _label_nc(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"--label-nc: {text!r} is not valid; expected a number of classes, 0 (image "
            "inputs) or auto"
        ) from None


def model_options(
    netG: NetG = "global",
    label_nc: LabelNc = "35",
    no_instance: NoInstance = False,
    ngf: Ngf = None,
    n_downsample_global: NDownsampleGlobal = 4,
    n_blocks_global: NBlocksGlobal = 9,
    n_local_enhancers: NLocalEnhancers = 1,
    n_blocks_local: NBlocksLocal = 3,
    ndf: Ndf = 64,
    n_layers_D: NLayersD = 3,
    num_D: NumD = 2,
    norm: Norm = "instance",
    init_type: InitType = "normal",
    init_gain: InitGain = 0.02,
    gan_mode: GanMode = "lsgan",
    lambda_feat: LambdaFeat = 10.0,
    no_ganfeat_loss: NoGanFeatLoss = False,
    no_vgg_loss: NoVggLoss = False,
    vgg_weights: VggWeights = None,
    instance_feat: InstanceFeat = False,
    feat_num: FeatNum = 3,
    nef: Nef = 16,
    n_downsample_E: NDownsampleE = 4,
    fix_global_epochs: FixGlobalEpochs = 0,
    init_from: InitFrom = None,
    input_nc: InputNc = 3,
    output_nc: OutputNc = 3,
) -> Pix2PixHDConfig:
    """Train [bold]pix2pixHD[/]: label maps (+ instance boundaries) to photos with a coarse-to-fine
    generator, a multi-scale discriminator, feature matching and a VGG19 loss."""
    if init_from is not None and not init_from.exists():
        raise ConfigError(f"--init-from {init_from}: no such run directory or checkpoint")
    return Pix2PixHDConfig(
        netG=netG, label_nc=_label_nc(label_nc), input_nc=input_nc, output_nc=output_nc,
        instance=not no_instance, ngf=ngf or (32 if netG == "local" else 64),
        n_downsample_global=n_downsample_global, n_blocks_global=n_blocks_global,
        n_local_enhancers=n_local_enhancers, n_blocks_local=n_blocks_local, ndf=ndf,
        n_layers_D=n_layers_D, num_D=num_D, norm=norm, init_type=init_type, init_gain=init_gain,
        gan_mode=gan_mode, lambda_feat=lambda_feat, ganfeat_loss=not no_ganfeat_loss,
        vgg_loss=not no_vgg_loss, vgg_weights=None if vgg_weights is None else str(vgg_weights),
        instance_feat=instance_feat, feat_num=feat_num, nef=nef, n_downsample_E=n_downsample_E,
        fix_global_epochs=fix_global_epochs,
        init_from=None if init_from is None else str(init_from),
    )


def translate_options(
    instances: Annotated[Path | None, typer.Option("--instances", exists=True, file_okay=False, help="pix2pixHD: folder of instance maps, paired with the label maps by relative stem (Cityscapes suffixes ignored). Without it boundaries come from the label maps.", rich_help_panel=HD)] = None,
    style: Annotated[str | None, typer.Option("--style", help="pix2pixHD with instance features: the K-th feature centre of each class, or 'random' (seeded by --seed; the default).", rich_help_panel=HD)] = None,
    all_styles: Annotated[bool, typer.Option("--all-styles", help="pix2pixHD with instance features: one output per style, <stem>_style<K>.", rich_help_panel=HD)] = False,
) -> dict[str, Any]:
    """pix2pixHD's test-time options, None where not given."""
    return {"instances": instances, "style": style, "all_styles": True if all_styles else None}
