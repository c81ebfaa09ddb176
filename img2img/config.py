"""Frozen run configurations, saved into every run directory and checkpoint.

Each class validates itself on construction, so a bad value fails before any work starts
with a message naming the field and what was expected. A field the command line sets
declares its option (flag, help, choices, whether a resume may change it) in its metadata
(:mod:`img2img.options`). Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from img2img import completion
from img2img.options import DATA, OPTIM, RUN, option, options_of

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
DIRECTIONS = ("AtoB", "BtoA")
PRECISIONS = ("fp32", "bf16", "fp16")
#: ``--lr-policy`` choices (see :mod:`img2img.engine.schedules`)
LR_POLICIES = ("linear", "step", "cosine", "plateau")


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


def check_choices(config: Any) -> None:
    """Fail naming the first field of the dataclass ``config`` whose value is not one of the
    choices its option declares."""
    for declared in options_of(config):
        choices = declared.option.choice_list()
        if choices is not None:
            check_choice(declared.field, getattr(config, declared.field), choices)


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
        f"--device: {value!r} is not valid; expected one of: auto, cpu, cuda, cuda:N, mps"
    )


@dataclass(frozen=True)
class DataConfig:
    """Where the images are and how they are prepared.

    ``root`` is a dataset directory (absolute in every run made by ``img2img train``, so a
    run resumes from any working folder); ``root_given`` is the ``--data`` value as it was
    typed, for display; ``image_bits`` the training images' bits per value; ``phase`` picks
    its ``train``/``val``/``test`` split.
    """

    root: str = field(metadata=option(
        "--data", "Dataset folder, or the name of one under datasets/ (with --resume: where "
        "the run's dataset is now, if it moved).", DATA, resume=True,
        resume_help="With --resume: where the run's dataset is now, if it moved.",
        complete=completion.datasets))
    direction: str = field(default="AtoB", metadata=option(
        "--direction", "{choices}.", DATA, choices=DIRECTIONS))
    preprocess: str = field(default="resize_and_crop", metadata=option(
        "--preprocess", "{choices}.", DATA, choices=PREPROCESS_MODES))
    load_size: int = field(default=286, metadata=option(
        "--load-size", "Resize to this size first.", DATA))
    crop_size: int = field(default=256, metadata=option(
        "--crop-size", "Then crop to this size.", DATA))
    flip: bool = field(default=True, metadata=option(
        "--no-flip", "No random horizontal flips.", DATA))
    phase: str = field(default="train", metadata=option(
        "--phase", "Dataset split to train on.", DATA))
    max_dataset_size: int | None = field(default=None, metadata=option(
        "--max-dataset-size", "Use at most this many samples.", DATA))
    num_workers: int = field(default=2, metadata=option(
        "--num-workers", "Data loading processes.", DATA, resume=True))
    root_given: str | None = None
    #: bits per value of the training images (16 for 16-bit PNG/TIFF data), recorded when the
    #: run starts; runs that did not record it read 8
    image_bits: int = 8

    def __post_init__(self) -> None:
        if self.image_bits not in (8, 16):
            raise ConfigError(f"image_bits: {self.image_bits!r} is not valid; expected 8 or 16")
        if not self.root:
            raise ConfigError("root: expected a dataset folder, got an empty path")
        check_choices(self)
        check_preprocess_sizes(self.preprocess, self.load_size, self.crop_size)
        check_positive("num_workers", self.num_workers, allow_zero=True)
        if self.max_dataset_size is not None:
            check_positive("max_dataset_size", self.max_dataset_size)

    @property
    def fixed_crop_warning(self) -> str | None:
        """What a user should know when ``resize_and_crop`` crops nothing (load = crop size):
        training sees every image at one position, never its border anywhere else."""
        if self.preprocess != "resize_and_crop" or self.load_size != self.crop_size:
            return None
        suggested = round(self.crop_size * 1.125)
        return (
            f"no random crop: --load-size {self.load_size} equals --crop-size with "
            "--preprocess resize_and_crop, so training sees every image at one position and "
            "the generator never learns the image border anywhere else (outputs may show "
            f"bands along their edges); --load-size {suggested} --crop-size {self.crop_size} "
            "crops at random"
        )

    @property
    def training_size(self) -> int | None:
        """Side of the square crops training sees, or None when it varies with the images."""
        return self.crop_size if "crop" in self.preprocess else None


#: bounds of the default interval between sample grids, in steps
SAMPLE_EVERY_BOUNDS = (10, 5000)


def default_sample_every(total_steps: int) -> int:
    """Steps between sample grids when ``--sample-every`` is not given: about ten grids over
    a run of ``total_steps``, at least :data:`SAMPLE_EVERY_BOUNDS` [0] and at most [1] apart."""
    low, high = SAMPLE_EVERY_BOUNDS
    return min(max(math.ceil(total_steps / 10), low), high)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule, device and bookkeeping."""

    batch_size: int = field(default=1, metadata=option(
        "--batch-size", "Images per step (per process when data-parallel).", OPTIM))
    lr: float = field(default=2e-4, metadata=option("--lr", "Adam learning rate.", OPTIM))
    beta1: float = field(default=0.5, metadata=option("--beta1", "Adam beta1.", OPTIM))
    beta2: float = 0.999
    n_epochs: int = field(default=100, metadata=option(
        "--n-epochs", "Epochs at the initial learning rate.", OPTIM, resume=True))
    n_epochs_decay: int = field(default=100, metadata=option(
        "--n-epochs-decay", "Epochs of linear decay (to 1/(N+1) of the rate in the last one).",
        OPTIM))
    lr_policy: str = field(default="linear", metadata=option(
        "--lr-policy", "Learning-rate schedule: linear (constant for --n-epochs, then linear "
        "decay over --n-epochs-decay), step (x0.1 every --lr-decay-iters epochs), cosine (to 0 "
        "over all epochs) or plateau (x0.2 when the epoch's mean generator loss stalls for 5 "
        "epochs).", OPTIM, choices=LR_POLICIES))
    lr_decay_iters: int = field(default=50, metadata=option(
        "--lr-decay-iters", "Epochs between the x0.1 steps of --lr-policy step.", OPTIM))
    max_steps: int | None = field(default=None, metadata=option(
        "--max-steps", "Stop after this many steps (also caps a resumed run).", OPTIM,
        resume=True))
    seed: int = field(default=0, metadata=option(
        "--seed", "Seed for weights, data order and augmentation.", RUN))
    device: str = field(default="auto", metadata=option(
        "--device", "auto, cpu, cuda, cuda:N or mps.", RUN, resume=True))
    precision: str = field(default="fp32", metadata=option(
        "--precision", "{choices}.", RUN, choices=PRECISIONS))
    channels_last: bool = field(default=False, metadata=option(
        "--channels-last", "Channels-last memory format.", RUN))
    compile: bool = field(default=False, metadata=option(
        "--compile", "torch.compile the networks (static shapes; slower start, faster steps on "
        "a GPU).", RUN))
    cudnn_benchmark: bool = field(default=True, metadata=option(
        "--no-cudnn-benchmark", "CUDA: do not autotune cuDNN convolutions (autotuning times "
        "each new input shape's algorithms once; off anyway with --preprocess none).", RUN))
    tf32: bool = field(default=True, metadata=option(
        "--no-tf32", "CUDA: full float32 convolutions and matrix products instead of TF32 "
        "tensor-core math (TF32: about 1e-3 relative error, several times faster).", RUN))
    world_size: int = 1  # data-parallel processes; batch_size is per process
    bucket_mb: float = field(default=25.0, metadata=option(
        "--bucket-mb", "Data-parallel: megabytes of gradients per exchange, each started "
        "during the backward pass as soon as its gradients are ready, as torch's "
        "DistributedDataParallel does (0: one exchange of all gradients at the optimizer "
        "step).", RUN, resume=True))
    log_every: int = field(default=10, metadata=option(
        "--log-every", "Steps between metric lines.", RUN, resume=True))
    sample_every: int | None = field(default=None, metadata=option(
        "--sample-every", "Steps between sample grids (default: a tenth of the run, 10 to "
        "5000 steps); the last step always writes one.", RUN, resume=True))
    checkpoint_every: int = field(default=1000, metadata=option(
        "--checkpoint-every", "Steps between checkpoints (checkpoints/latest.pt).", RUN,
        resume=True))
    keep_checkpoints: int = field(default=0, metadata=option(
        "--keep-checkpoints", "Also keep the last N checkpoints as checkpoints/step_*.pt.", RUN,
        resume=True))
    save_every_epochs: int = field(default=0, metadata=option(
        "--save-every-epochs", "Also keep checkpoints/epoch_*.pt every N epochs (0: never).",
        RUN, resume=True))
    tensorboard: bool = field(default=False, metadata=option(
        "--tensorboard", "Also write losses, learning rate, images/s and sample grids as "
        "TensorBoard events into the run directory (needs the tensorboard extra).", RUN,
        resume=True))
    wandb: bool = field(default=False, metadata=option(
        "--wandb", "Also log losses, learning rate, images/s, sample grids and the config to "
        "Weights & Biases (needs the wandb extra; WANDB_MODE=offline logs without an account; "
        "a resume continues the same wandb run).", RUN, resume=True))
    wandb_project: str = field(default="img2img", metadata=option(
        "--wandb-project", "Weights & Biases project of a new wandb run.", RUN, resume=True))
    wandb_entity: str | None = field(default=None, metadata=option(
        "--wandb-entity", "Weights & Biases team or user of a new wandb run (default: yours).",
        RUN, resume=True))
    wandb_name: str | None = field(default=None, metadata=option(
        "--wandb-name", "Weights & Biases display name (default: the run's name).", RUN,
        resume=True))
    report_every: int = field(default=0, metadata=option(
        "--report-every", "Steps between refreshes of the run's report.html (0: only at the "
        "end).", RUN, resume=True))

    def __post_init__(self) -> None:
        check_positive("batch_size", self.batch_size)
        check_positive("world_size", self.world_size)
        check_positive("bucket_mb", self.bucket_mb, allow_zero=True)
        check_positive("lr", self.lr)
        check_seed("seed", self.seed)
        check_fraction("beta1", self.beta1)
        check_fraction("beta2", self.beta2)
        check_positive("n_epochs", self.n_epochs, allow_zero=True)
        check_positive("n_epochs_decay", self.n_epochs_decay, allow_zero=True)
        check_positive("lr_decay_iters", self.lr_decay_iters)
        if self.n_epochs + self.n_epochs_decay == 0:
            raise ConfigError("n_epochs + n_epochs_decay: expected at least one epoch")
        if self.max_steps is not None:
            check_positive("max_steps", self.max_steps)
        check_device(self.device)
        check_choices(self)
        for name in ("log_every", "checkpoint_every"):
            check_positive(name, getattr(self, name))
        if self.sample_every is not None:
            check_positive("sample_every", self.sample_every)
        if not self.wandb_project:
            raise ConfigError("wandb_project: expected a project name, got an empty one")
        for name in ("keep_checkpoints", "save_every_epochs", "report_every"):
            check_positive(name, getattr(self, name), allow_zero=True)

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    def total_steps(self, dataset_size: int) -> int:
        """Optimisation steps of the whole run over ``dataset_size`` examples (every process
        takes ``batch_size`` of its share per step), ``max_steps`` included."""
        per_process = math.ceil(dataset_size / self.world_size)
        planned = self.total_epochs * math.ceil(per_process / self.batch_size)
        return min(planned, self.max_steps) if self.max_steps else planned

    def with_sample_interval(self, total_steps: int) -> TrainConfig:
        """This config with ``sample_every`` set: as given, else from the run's length
        (:func:`default_sample_every`)."""
        if self.sample_every is not None:
            return self
        return dataclasses.replace(self, sample_every=default_sample_every(total_steps))

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
    name: str = field(default="run", metadata=option(
        "--name", "Run name (default: <dataset>_<family>).", RUN, default=None))

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
