"""pix2pixHD's model options, each declared once on its field."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from img2img.config import ConfigError, check_channels, check_choices, check_positive
from img2img.families.image_options import INIT_GAIN, INIT_TYPE, NDF, NORM, OUTPUT_NC
from img2img.families.init_from import init_from_option
from img2img.nn.registry import list_generators
from img2img.options import MODEL, option

PIX2PIXHD_GAN_MODES = ("lsgan", "vanilla", "hinge")


def parse_label_nc(text: str) -> int | None:
    """``--label-nc``: a number of classes, 0 (image inputs) or ``auto`` (None: scan the data)."""
    if text == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"--label-nc: {text!r} is not valid; expected a number of classes, 0 (image "
            "inputs) or auto"
        ) from None


@dataclass(frozen=True)
class Pix2PixHDConfig:
    """pix2pixHD: label maps (+ instance boundaries, + encoder features) to photos.

    The defaults are the reference's 512p Cityscapes recipe. ``label_nc`` is the number of
    classes a single-channel label map one-hot encodes to (values 0 .. label_nc - 1); 0 takes
    ``input_nc``-channel images as input instead; None asks for a scan of the training labels
    (``--label-nc auto``), resolved before training starts. ``instance`` adds the boundary map
    of the instance maps as one more input channel; ``instance_feat`` trains the feature
    encoder jointly and feeds its ``feat_num`` instance-pooled features to the generator.
    ``fix_global_epochs`` trains only the outermost enhancer of a ``local`` generator for that
    many epochs, then everything; ``init_from`` names the run, checkpoint, release or weights to
    fine-tune from (:mod:`img2img.families.init_from`; a ``global`` generator goes into a
    ``local`` one's global part).
    ``ngf`` left None is the reference's for ``netG``: 32 for ``local``, 64 for ``global``.
    """

    netG: str = field(default="global", metadata=option(
        "--netG", "Generator: {choices} (coarse-to-fine).", MODEL,
        choices=functools.partial(list_generators, "pix2pixhd")))
    label_nc: int | None = field(default=35, metadata=option(
        "--label-nc", "Classes of the label maps (values 0..N-1, one-hot encoded); 0: the "
        "inputs are images; auto: scan the training labels.", MODEL,
        type=str, parse=parse_label_nc, unparse=lambda n: "auto" if n is None else str(n)))
    instance: bool = field(default=True, metadata=option(
        "--no-instance", "No instance maps (no boundary channel).", MODEL))
    ngf: int | None = field(default=None, metadata=option(
        "--ngf", "Generator filters: 64 for global, 32 for local (its global part has twice "
        "as many).", MODEL))
    n_downsample_global: int = field(default=4, metadata=option(
        "--n-downsample-global", "Downsamplings of the global generator.", MODEL))
    n_blocks_global: int = field(default=9, metadata=option(
        "--n-blocks-global", "Residual blocks of the global generator.", MODEL))
    n_local_enhancers: int = field(default=1, metadata=option(
        "--n-local-enhancers", "Local enhancers (each doubles the resolution).", MODEL))
    n_blocks_local: int = field(default=3, metadata=option(
        "--n-blocks-local", "Residual blocks of each local enhancer.", MODEL))
    ndf: int = field(default=64, metadata=NDF)
    n_layers_D: int = field(default=3, metadata=option(
        "--n-layers-D", "Stride-2 layers of each scale's PatchGAN.", MODEL))
    num_D: int = field(default=2, metadata=option(
        "--num-D", "Discriminator scales (2; 3 at 1024p).", MODEL))
    norm: str = field(default="instance", metadata=NORM)
    init_type: str = field(default="normal", metadata=INIT_TYPE)
    init_gain: float = field(default=0.02, metadata=INIT_GAIN)
    gan_mode: str = field(default="lsgan", metadata=option(
        "--gan-mode", "GAN objective: {choices}.", MODEL, choices=PIX2PIXHD_GAN_MODES))
    lambda_feat: float = field(default=10.0, metadata=option(
        "--lambda-feat", "Weight of feature matching and of the VGG loss.", MODEL))
    ganfeat_loss: bool = field(default=True, metadata=option(
        "--no-ganfeat-loss", "No discriminator feature matching.", MODEL))
    vgg_loss: bool = field(default=True, metadata=option(
        "--no-vgg-loss", "No VGG19 perceptual loss (needs no ImageNet weights).", MODEL))
    vgg_weights: str | None = field(default=None, metadata=option(
        "--vgg-weights", "torchvision's VGG19 ImageNet weights (vgg19-dcbb9e9d.pth); default: "
        "the torch hub cache.", MODEL, type=Path, parse=str))
    instance_feat: bool = field(default=False, metadata=option(
        "--instance-feat", "Train the feature encoder; its instance-pooled features feed the "
        "generator (styles).", MODEL))
    feat_num: int = field(default=3, metadata=option(
        "--feat-num", "Encoder feature channels.", MODEL))
    nef: int = field(default=16, metadata=option(
        "--nef", "Encoder filters in its first conv layer.", MODEL))
    n_downsample_E: int = field(default=4, metadata=option(
        "--n-downsample-E", "Downsamplings of the encoder.", MODEL))
    fix_global_epochs: int = field(default=0, metadata=option(
        "--fix-global-epochs", "With --netG local: train only the local enhancer for N "
        "epochs, then everything.", MODEL))
    init_from: str | None = field(default=None, metadata=init_from_option(
        " A global generator goes into a local one's global part."))
    input_nc: int = field(default=3, metadata=option(
        "--input-nc", "Channels of image inputs (with --label-nc 0).", MODEL))
    output_nc: int = field(default=3, metadata=OUTPUT_NC)

    def __post_init__(self) -> None:
        if self.ngf is None:
            object.__setattr__(self, "ngf", 32 if self.netG == "local" else 64)
        check_choices(self)
        if self.label_nc is not None:
            check_positive("label_nc", self.label_nc, allow_zero=True)
        check_channels("input_nc", self.input_nc)
        check_channels("output_nc", self.output_nc)
        for name in ("ngf", "n_downsample_global", "n_local_enhancers", "ndf", "n_layers_D",
                     "num_D", "feat_num", "nef", "n_downsample_E"):
            check_positive(name, getattr(self, name))
        for name in ("n_blocks_global", "n_blocks_local", "fix_global_epochs", "lambda_feat"):
            check_positive(name, getattr(self, name), allow_zero=True)
        if self.instance_feat and not self.instance:
            raise ConfigError(
                "instance_feat: the feature encoder pools over instance maps; expected "
                "instance maps (drop --no-instance) with --instance-feat"
            )
        if self.fix_global_epochs and self.netG != "local":
            raise ConfigError(
                f"fix_global_epochs: {self.fix_global_epochs} needs netG 'local' (it trains "
                f"the local enhancer alone first); got netG {self.netG!r}"
            )

    @property
    def label_channels(self) -> int:
        """Channels of the encoded label input: one-hot classes (or the image) + boundary."""
        if self.label_nc is None:
            raise ConfigError("label_nc: 'auto' is resolved by scanning the data first")
        return (self.label_nc or self.input_nc) + int(self.instance)

    @property
    def generator_in_channels(self) -> int:
        """The generator's input: the encoded labels, plus the encoder's features."""
        return self.label_channels + (self.feat_num if self.instance_feat else 0)

    @property
    def discriminator_in_channels(self) -> int:
        """The discriminator's input: the encoded labels and an image."""
        return self.label_channels + self.output_nc
