"""Frozen run configurations, saved into every run directory and checkpoint.

Each class validates itself on construction, so a bad value fails before any work starts
with a message naming the field and what was expected. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from img2img.losses.modes import GAN_MODES
from img2img.nn.registry import INIT_TYPES, NORMS, list_discriminators, list_generators

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
DIRECTIONS = ("AtoB", "BtoA")
PRECISIONS = ("fp32", "bf16", "fp16")


class ConfigError(ValueError):
    """A configuration value that is not allowed."""


def option_flags(names: Iterable[str]) -> str:
    """The command-line spelling of option ``names``: ``--load-size, --crop-size``."""
    return ", ".join("--" + name.replace("_", "-") for name in names)


def check_choice(field_name: str, value: str, choices: tuple[str, ...] | list[str]) -> None:
    """Fail with the valid choices when ``value`` is not one of them."""
    if value not in choices:
        raise ConfigError(
            f"{field_name}: {value!r} is not valid; expected one of: {', '.join(choices)}"
        )


def check_positive(field_name: str, value: float, *, allow_zero: bool = False) -> None:
    """Fail when ``value`` is negative (or zero, unless allowed), infinite or NaN."""
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        expected = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ConfigError(f"{field_name}: {value!r} is not valid; expected {expected}")


def check_fraction(field_name: str, value: float) -> None:
    """Fail unless ``0 <= value < 1`` (Adam's betas)."""
    if not (math.isfinite(value) and 0 <= value < 1):
        raise ConfigError(f"{field_name}: {value!r} is not valid; expected 0 <= {field_name} < 1")


def check_finite_fields(section: str, config: Any) -> None:
    """Fail naming the first float field of the dataclass ``config`` that is infinite or NaN.

    Every model config gets this check from :class:`RunConfig`, whatever its family.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(
                f"{section}.{f.name}: {value!r} is not valid; expected a finite number"
            )


#: the largest seed: every generator seeded from it (torch, NumPy modulo 2**32, the data
#: order's own) takes a signed 64-bit integer
MAX_SEED = 2**63 - 1


def check_seed(field_name: str, value: object) -> None:
    """Fail unless ``value`` is an integer from 0 to :data:`MAX_SEED`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(
            f"{field_name}: {value!r} is not valid; expected an integer from 0 to {MAX_SEED} "
            "(2**63 - 1)"
        )


def check_channels(field_name: str, value: int) -> int:
    """Return ``value`` if it is an image channel count the tool handles: 1 (gray) or 3 (RGB)."""
    if value not in (1, 3):
        raise ConfigError(f"{field_name}: {value!r} is not valid; expected 1 (gray) or 3 (RGB)")
    return value


def check_preprocess_sizes(preprocess: str, load_size: int, crop_size: int) -> None:
    """Resize/crop sizes: positive, and a crop that fits in what ``preprocess`` loads."""
    check_choice("preprocess", preprocess, PREPROCESS_MODES)
    check_positive("load_size", load_size)
    check_positive("crop_size", crop_size)
    if preprocess in ("resize_and_crop", "scale_width_and_crop") and crop_size > load_size:
        raise ConfigError(
            f"crop_size: {crop_size} is larger than load_size {load_size}; "
            f"expected crop_size <= load_size with preprocess {preprocess!r}"
        )


def check_device(value: str) -> None:
    """Accept ``auto``, ``cpu``, ``cuda``, ``cuda:N`` and ``mps``."""
    if value in ("auto", "cpu", "cuda", "mps"):
        return
    if value.startswith("cuda:") and value[5:].isdigit():
        return
    raise ConfigError(
        f"device: {value!r} is not valid; expected one of: auto, cpu, cuda, cuda:N, mps"
    )


#: pix2pixHD's networks: label-map generators and the multi-scale discriminator
PIX2PIXHD_GENERATORS = ("global", "local")
PIX2PIXHD_DISCRIMINATORS = ("multiscale",)


def image_generators() -> list[str]:
    """Registered generators of the image-to-image families: all but pix2pixHD's."""
    return [n for n in list_generators() if n not in PIX2PIXHD_GENERATORS]


def patch_discriminators() -> list[str]:
    """Registered single-scale discriminators: all but pix2pixHD's multi-scale one."""
    return [n for n in list_discriminators() if n not in PIX2PIXHD_DISCRIMINATORS]


def check_image_networks(model: Any) -> None:
    """Check the network options pix2pix and CycleGAN share (``netG`` ... ``output_nc``)."""
    check_choice("netG", model.netG, image_generators())
    check_choice("netD", model.netD, patch_discriminators())
    check_choice("norm", model.norm, NORMS)
    check_choice("init_type", model.init_type, INIT_TYPES)
    check_choice("gan_mode", model.gan_mode, GAN_MODES)
    for name in ("input_nc", "output_nc", "ngf", "ndf", "n_layers_D"):
        check_positive(name, getattr(model, name))
    check_channels("input_nc", model.input_nc)
    check_channels("output_nc", model.output_nc)
    check_positive("init_gain", model.init_gain)


@dataclass(frozen=True)
class Pix2PixConfig:
    """pix2pix: conditional GAN with a U-Net generator, a PatchGAN on (A, B) and an L1 term."""

    netG: str = "unet_256"
    netD: str = "basic"
    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    ndf: int = 64
    n_layers_D: int = 3
    norm: str = "batch"
    dropout: bool = True
    init_type: str = "normal"
    init_gain: float = 0.02
    gan_mode: str = "vanilla"
    lambda_l1: float = 100.0

    def __post_init__(self) -> None:
        check_image_networks(self)
        check_positive("lambda_l1", self.lambda_l1, allow_zero=True)


PIX2PIXHD_GAN_MODES = ("lsgan", "vanilla", "hinge")


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
    many epochs, then everything; ``init_from`` names a run (or checkpoint) whose generator
    initialises this one (a ``global`` one goes into a ``local`` one's global part).
    """

    netG: str = "global"
    label_nc: int | None = 35
    input_nc: int = 3
    output_nc: int = 3
    instance: bool = True
    ngf: int = 64
    n_downsample_global: int = 4
    n_blocks_global: int = 9
    n_local_enhancers: int = 1
    n_blocks_local: int = 3
    ndf: int = 64
    n_layers_D: int = 3
    num_D: int = 2
    norm: str = "instance"
    init_type: str = "normal"
    init_gain: float = 0.02
    gan_mode: str = "lsgan"
    lambda_feat: float = 10.0
    ganfeat_loss: bool = True
    vgg_loss: bool = True
    vgg_weights: str | None = None
    instance_feat: bool = False
    feat_num: int = 3
    nef: int = 16
    n_downsample_E: int = 4
    fix_global_epochs: int = 0
    init_from: str | None = None

    def __post_init__(self) -> None:
        check_choice("netG", self.netG, PIX2PIXHD_GENERATORS)
        check_choice("norm", self.norm, NORMS)
        check_choice("init_type", self.init_type, INIT_TYPES)
        check_choice("gan_mode", self.gan_mode, PIX2PIXHD_GAN_MODES)
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


@dataclass(frozen=True)
class CycleGANConfig:
    """CycleGAN: two generators (G_A: A -> B, G_B: B -> A) and two PatchGANs on single images.

    The objective is LSGAN for both directions, plus cycle consistency weighted ``lambda_A`` and
    ``lambda_B`` and an identity term ``lambda_identity`` times those weights. ``pool_size``
    fakes per discriminator are kept in an image pool (0: no pool). ``serial_batches`` pairs
    A image ``i`` with B image ``i mod |B|`` instead of a random B.
    """

    netG: str = "resnet_9blocks"
    netD: str = "basic"
    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    ndf: int = 64
    n_layers_D: int = 3
    norm: str = "instance"
    dropout: bool = False
    init_type: str = "normal"
    init_gain: float = 0.02
    gan_mode: str = "lsgan"
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50
    serial_batches: bool = False

    def __post_init__(self) -> None:
        check_image_networks(self)
        for name in ("lambda_A", "lambda_B", "lambda_identity", "pool_size"):
            check_positive(name, getattr(self, name), allow_zero=True)
        if self.lambda_identity > 0 and self.input_nc != self.output_nc:
            raise ConfigError(
                f"lambda_identity: {self.lambda_identity} needs as many input as output channels "
                f"(input_nc {self.input_nc}, output_nc {self.output_nc}): G_A(B) must be "
                "comparable to B; expected lambda_identity 0 or equal channel counts"
            )


@dataclass(frozen=True)
class DataConfig:
    """Where the images are and how they are prepared.

    ``root`` is a dataset directory (absolute in every run made by ``img2img train``, so a
    run resumes from any working folder); ``root_given`` is the ``--data`` value as it was
    typed, for display; ``phase`` picks its ``train``/``val``/``test`` split.
    """

    root: str
    phase: str = "train"
    direction: str = "AtoB"
    preprocess: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    num_workers: int = 2
    max_dataset_size: int | None = None
    root_given: str | None = None

    def __post_init__(self) -> None:
        if not self.root:
            raise ConfigError("root: expected a dataset folder, got an empty path")
        check_choice("direction", self.direction, DIRECTIONS)
        check_preprocess_sizes(self.preprocess, self.load_size, self.crop_size)
        check_positive("num_workers", self.num_workers, allow_zero=True)
        if self.max_dataset_size is not None:
            check_positive("max_dataset_size", self.max_dataset_size)

    @property
    def training_size(self) -> int | None:
        """Side of the square crops training sees, or None when it varies with the images."""
        return self.crop_size if "crop" in self.preprocess else None


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule, device and bookkeeping."""

    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_epochs: int = 100
    n_epochs_decay: int = 100
    max_steps: int | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False  # torch.compile the networks (static shapes)
    world_size: int = 1  # data-parallel processes; batch_size is per process
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 0  # also keep the newest N step-named periodic checkpoints
    save_every_epochs: int = 0  # also keep a checkpoint at the end of every K-th epoch
    tensorboard: bool = False  # also write TensorBoard events into the run directory
    report_every: int = 0  # refresh report.html every N steps (it is always written at the end)

    def __post_init__(self) -> None:
        check_positive("batch_size", self.batch_size)
        check_positive("world_size", self.world_size)
        check_positive("lr", self.lr)
        check_seed("seed", self.seed)
        check_fraction("beta1", self.beta1)
        check_fraction("beta2", self.beta2)
        check_positive("n_epochs", self.n_epochs, allow_zero=True)
        check_positive("n_epochs_decay", self.n_epochs_decay, allow_zero=True)
        if self.n_epochs + self.n_epochs_decay == 0:
            raise ConfigError("n_epochs + n_epochs_decay: expected at least one epoch")
        if self.max_steps is not None:
            check_positive("max_steps", self.max_steps)
        check_device(self.device)
        check_choice("precision", self.precision, PRECISIONS)
        for name in ("log_every", "sample_every", "checkpoint_every"):
            check_positive(name, getattr(self, name))
        for name in ("keep_checkpoints", "save_every_epochs", "report_every"):
            check_positive(name, getattr(self, name), allow_zero=True)

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    @property
    def global_batch_size(self) -> int:
        """Images per optimisation step over all processes."""
        return self.batch_size * self.world_size


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run was started with.

    ``family`` names the model family (see :mod:`img2img.families`, where each family's model
    config class is declared); ``model`` is an instance of that class.
    """

    family: str
    model: Any
    data: DataConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str = "run"

    def __post_init__(self) -> None:
        if dataclasses.is_dataclass(self.model):
            check_finite_fields("model", self.model)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only: safe for JSON and ``torch.load(weights_only=True)``."""
        return {
            "family": self.family,
            "name": self.name,
            "model": dataclasses.asdict(self.model),
            "data": dataclasses.asdict(self.data),
            "train": {**dataclasses.asdict(self.train),
                      "global_batch_size": self.train.global_batch_size},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], model_class: type) -> RunConfig:
        """Rebuild from :meth:`to_dict` output, ignoring keys unknown to this version.

        ``model_class`` is the family's model config class
        (:func:`img2img.families.load_run_config` looks it up from ``d["family"]``).
        """
        if not isinstance(d.get("data"), dict):
            raise ConfigError("data: expected a section with the dataset's settings")
        name = d.get("name", "run")
        if not isinstance(name, str):
            raise ConfigError(f"name: {name!r} is not valid; expected a string")
        return cls(
            family=d["family"],
            model=build_dataclass(model_class, d.get("model", {}), "model"),
            data=build_dataclass(DataConfig, d["data"], "data"),
            train=build_dataclass(TrainConfig, d.get("train", {}), "train"),
            name=name,
        )

    def replace(self, **sections: Any) -> RunConfig:
        """A copy with whole sections replaced."""
        return dataclasses.replace(self, **sections)


def build_dataclass(cls: type, values: dict[str, Any], section: str = "") -> Any:
    """``cls(**values)`` keeping only the fields ``cls`` has (older or newer configs load).

    Each value must have its field's type (a saved config may have been edited or crafted):
    a wrong one fails naming ``section.field`` before ``cls`` sees it.
    """
    where = f"{section}." if section else ""
    if not isinstance(values, dict):
        raise ConfigError(f"{section or cls.__name__}: expected a section of settings, "
                          f"got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    checked = {
        k: _check_type(f"{where}{k}", v, hints.get(k, Any))
        for k, v in values.items()
        if k in known
    }
    return cls(**checked)


def _check_type(name: str, value: Any, hint: Any) -> Any:
    """``value`` if it has the type ``hint`` describes (JSON lists become tuples where due)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _check_type(name, value, option)
            except ConfigError:
                continue
        raise ConfigError(f"{name}: {value!r} is not valid; expected {_describe(hint)}")
    if origin is typing.Literal:
        if value in typing.get_args(hint):
            return value
    elif origin in (tuple, list):
        if isinstance(value, (tuple, list)):
            args = [a for a in typing.get_args(hint) if a is not Ellipsis]
            item = args[0] if args else Any
            items = [_check_type(name, v, item) for v in value]
            return tuple(items) if origin is tuple else items
    elif hint is type(None):
        if value is None:
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(hint, type):
        if isinstance(value, hint):
            return value
    else:
        return value
    raise ConfigError(f"{name}: {value!r} is not valid; expected {_describe(hint)}")


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               type(None): "null"}


def _describe(hint: Any) -> str:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if typing.get_origin(hint) is typing.Literal:
        return "one of: " + ", ".join(map(str, args))
    if typing.get_origin(hint) in (tuple, list):
        return "a list"
    return _TYPE_WORDS.get(hint, getattr(hint, "__name__", str(hint)))
