"""Frozen run configurations, saved into every run directory and checkpoint.

Each class validates itself on construction, so a bad value fails before any work starts
with a message naming the field and what was expected. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from img2img.losses.modes import GAN_MODES
from img2img.nn.registry import INIT_TYPES, NORMS, list_discriminators, list_generators

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
DIRECTIONS = ("AtoB", "BtoA")
PRECISIONS = ("fp32", "bf16", "fp16")


class ConfigError(ValueError):
    """A configuration value that is not allowed."""


def check_choice(field_name: str, value: str, choices: tuple[str, ...] | list[str]) -> None:
    """Fail with the valid choices when ``value`` is not one of them."""
    if value not in choices:
        raise ConfigError(
            f"{field_name}: {value!r} is not valid; expected one of: {', '.join(choices)}"
        )


def check_positive(field_name: str, value: float, *, allow_zero: bool = False) -> None:
    """Fail when ``value`` is negative (or zero, unless allowed)."""
    if value < 0 or (value == 0 and not allow_zero):
        expected = "a number >= 0" if allow_zero else "a number > 0"
        raise ConfigError(f"{field_name}: {value!r} is not valid; expected {expected}")


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
        check_choice("netG", self.netG, list_generators())
        check_choice("netD", self.netD, list_discriminators())
        check_choice("norm", self.norm, NORMS)
        check_choice("init_type", self.init_type, INIT_TYPES)
        check_choice("gan_mode", self.gan_mode, GAN_MODES)
        for name in ("input_nc", "output_nc", "ngf", "ndf", "n_layers_D"):
            check_positive(name, getattr(self, name))
        check_channels("input_nc", self.input_nc)
        check_channels("output_nc", self.output_nc)
        check_positive("lambda_l1", self.lambda_l1, allow_zero=True)


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
        check_choice("netG", self.netG, list_generators())
        check_choice("netD", self.netD, list_discriminators())
        check_choice("norm", self.norm, NORMS)
        check_choice("init_type", self.init_type, INIT_TYPES)
        check_choice("gan_mode", self.gan_mode, GAN_MODES)
        for name in ("input_nc", "output_nc", "ngf", "ndf", "n_layers_D"):
            check_positive(name, getattr(self, name))
        check_channels("input_nc", self.input_nc)
        check_channels("output_nc", self.output_nc)
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

    ``root`` is a dataset directory; ``phase`` picks its ``train``/``val``/``test`` split.
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

    def __post_init__(self) -> None:
        check_choice("direction", self.direction, DIRECTIONS)
        check_preprocess_sizes(self.preprocess, self.load_size, self.crop_size)
        check_positive("num_workers", self.num_workers, allow_zero=True)

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
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 0  # also keep the newest N step-named periodic checkpoints
    save_every_epochs: int = 0  # also keep a checkpoint at the end of every K-th epoch

    def __post_init__(self) -> None:
        check_positive("batch_size", self.batch_size)
        check_positive("lr", self.lr)
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
        for name in ("keep_checkpoints", "save_every_epochs"):
            check_positive(name, getattr(self, name), allow_zero=True)

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay


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

    def to_dict(self) -> dict[str, Any]:
        """Plain types only: safe for JSON and ``torch.load(weights_only=True)``."""
        return {
            "family": self.family,
            "name": self.name,
            "model": dataclasses.asdict(self.model),
            "data": dataclasses.asdict(self.data),
            "train": dataclasses.asdict(self.train),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], model_class: type) -> RunConfig:
        """Rebuild from :meth:`to_dict` output, ignoring keys unknown to this version.

        ``model_class`` is the family's model config class
        (:func:`img2img.families.load_run_config` looks it up from ``d["family"]``).
        """
        return cls(
            family=d["family"],
            model=build_dataclass(model_class, d.get("model", {})),
            data=build_dataclass(DataConfig, d["data"]),
            train=build_dataclass(TrainConfig, d.get("train", {})),
            name=d.get("name", "run"),
        )

    def replace(self, **sections: Any) -> RunConfig:
        """A copy with whole sections replaced."""
        return dataclasses.replace(self, **sections)


def build_dataclass(cls: type, values: dict[str, Any]) -> Any:
    """``cls(**values)`` keeping only the fields ``cls`` has (older or newer configs load)."""
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})
