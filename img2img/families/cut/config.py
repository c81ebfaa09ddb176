"""CUT's model options, each declared once on its field, named as in the reference code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from img2img.config import ConfigError, check_channels, check_choices, check_positive
from img2img.families import image_options as shared
from img2img.nn.choices import INIT_TYPES, NORMS
from img2img.options import MODEL, option

#: CUT (the paper's default) and FastCUT
CUT_MODES = ("cut", "fastcut")
#: how the projection head F treats the sampled features: a 2-layer MLP, or none
NET_F = ("mlp_sample", "sample")
#: the model options each mode sets where they are not given: the NCE weight, the identity NCE
#: term, flip equivariance (the reference's defaults)
MODE_DEFAULTS: dict[str, dict[str, Any]] = {
    "cut": {"lambda_nce": 1.0, "nce_idt": True, "flip_equivariance": False},
    "fastcut": {"lambda_nce": 10.0, "nce_idt": False, "flip_equivariance": True},
}
#: the epochs at the initial rate and of decay each mode trains by default (the reference's)
MODE_EPOCHS: dict[str, dict[str, int]] = {
    "cut": {"n_epochs": 200, "n_epochs_decay": 200},
    "fastcut": {"n_epochs": 150, "n_epochs_decay": 50},
}
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def parse_switch(text: str) -> bool:
    """``true``/``false`` (or yes/no, 1/0, on/off) as a bool, as the reference's flags take."""
    word = str(text).strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ConfigError(f"{text!r} is not a switch; expected true or false")


def _switch_text(value: bool) -> str:
    return "true" if value else "false"


def _mode_option(flag: str, help: str) -> dict[str, Any]:  # noqa: A002
    """An option whose default follows ``--cut-mode`` (None on the command line)."""
    return option(flag, help, MODEL, type=str, parse=parse_switch, unparse=_switch_text)


def parse_layers(text: str) -> tuple[int, ...]:
    """``"0,4,8,12,16"`` as layer indices (increasing, each once).

    Raises:
        ConfigError: something else than increasing non-negative integers.
    """
    try:
        layers = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        layers = ()
    if not layers or any(n < 0 for n in layers) or list(layers) != sorted(set(layers)):
        raise ConfigError(f"nce_layers: {text!r} is not valid; expected increasing layer "
                          "indices of the generator, comma-separated (e.g. 0,4,8,12,16)")
    return layers


@dataclass(frozen=True)
class CUTConfig:
    """CUT / FastCUT (Park et al. 2020): one generator G (A -> B), a PatchGAN D on B images and
    a projection head F, trained with LSGAN and a patchwise contrastive loss (PatchNCE).

    PatchNCE compares the features of G's encoder at ``nce_layers`` for the input and for the
    output at ``num_patches`` positions per layer: each output patch should match the input
    patch at its own position among the others of the same image (temperature ``nce_t``).
    ``cut`` mode adds the identity term NCE(G(B), B) and weighs NCE 1; ``fastcut`` weighs it 10,
    drops the identity term and adds flip equivariance. ``lambda_nce``, ``nce_idt`` and
    ``flip_equivariance`` left None take the mode's values.
    """

    cut_mode: str = field(default="cut", metadata=option(
        "--cut-mode", "{choices}: CUT (NCE 1 with the identity term) or FastCUT (NCE 10, flip "
        "equivariance, 150 + 50 epochs).", MODEL, choices=CUT_MODES))
    netG: str = field(default="resnet_9blocks", metadata=shared.net_g("cut"))
    netD: str = field(default="basic", metadata=shared.net_d("cut"))
    netF: str = field(default="mlp_sample", metadata=option(
        "--netF", "Projection head F: {choices} (a 2-layer MLP per layer, or none).", MODEL,
        choices=NET_F))
    netF_nc: int = field(default=256, metadata=option(
        "--netF-nc", "Units of F's MLP layers.", MODEL))
    ngf: int = field(default=64, metadata=shared.NGF)
    ndf: int = field(default=64, metadata=shared.NDF)
    n_layers_D: int = field(default=3, metadata=shared.N_LAYERS_D)
    normG: str = field(default="instance", metadata=option(
        "--normG", "Normalisation of the generator: {choices}.", MODEL, choices=NORMS))
    normD: str = field(default="instance", metadata=option(
        "--normD", "Normalisation of the discriminator: {choices}.", MODEL, choices=NORMS))
    dropout: bool = field(default=False, metadata=option(
        "--dropout", "Dropout(0.5) in the generator's residual blocks (off in the paper).",
        MODEL))
    antialias: bool = field(default=True, metadata=option(
        "--no-antialias", "Stride-2 convolutions instead of antialiased (blur-pool) "
        "downsampling.", MODEL))
    antialias_up: bool = field(default=True, metadata=option(
        "--no-antialias-up", "Transposed convolutions instead of antialiased upsampling "
        "([1,3,3,1] filter, then a conv).", MODEL))
    init_type: str = field(default="xavier", metadata=option(
        "--init-type", "Weight init: {choices}.", MODEL, choices=INIT_TYPES))
    init_gain: float = field(default=0.02, metadata=shared.INIT_GAIN)
    gan_mode: str = field(default="lsgan", metadata=shared.GAN_MODE)
    lambda_gan: float = field(default=1.0, metadata=option(
        "--lambda-gan", "Weight of the GAN loss GAN(G(A)).", MODEL))
    lambda_nce: float | None = field(default=None, metadata=option(
        "--lambda-nce", "Weight of the NCE loss NCE(G(A), A) (default: 1 for cut, 10 for "
        "fastcut).", MODEL))
    nce_idt: bool | None = field(default=None, metadata=_mode_option(
        "--nce-idt", "true/false: the identity NCE loss NCE(G(B), B), averaged with the A term "
        "(default: true for cut, false for fastcut)."))
    nce_layers: str = field(default="0,4,8,12,16", metadata=option(
        "--nce-layers", "Generator layers whose features PatchNCE compares.", MODEL))
    nce_includes_all_negatives_from_minibatch: bool = field(default=False, metadata=option(
        "--nce-includes-all-negatives-from-minibatch", "Take negatives from every image of "
        "the batch, not only the patch's own image.", MODEL))
    nce_t: float = field(default=0.07, metadata=option(
        "--nce-t", "Temperature of the NCE loss.", MODEL))
    num_patches: int = field(default=256, metadata=option(
        "--num-patches", "Positions sampled per layer for PatchNCE.", MODEL))
    flip_equivariance: bool | None = field(default=None, metadata=_mode_option(
        "--flip-equivariance", "true/false: flip the input at random and the output's features "
        "back (default: false for cut, true for fastcut)."))
    serial_batches: bool = field(default=False, metadata=shared.SERIAL_BATCHES)
    input_nc: int = field(default=3, metadata=shared.INPUT_NC)
    output_nc: int = field(default=3, metadata=shared.OUTPUT_NC)
    init_from: str | None = field(default=None, metadata=shared.INIT_FROM)

    def __post_init__(self) -> None:
        mode = str(self.cut_mode).lower()
        object.__setattr__(self, "cut_mode", mode)
        check_choices(self)
        for name, value in MODE_DEFAULTS[mode].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        for name in ("input_nc", "output_nc", "ngf", "ndf", "n_layers_D", "netF_nc",
                     "num_patches", "nce_t", "init_gain"):
            check_positive(name, getattr(self, name))
        for name in ("lambda_gan", "lambda_nce"):
            check_positive(name, getattr(self, name), allow_zero=True)
        check_channels("input_nc", self.input_nc)
        check_channels("output_nc", self.output_nc)
        parse_layers(self.nce_layers)

    @property
    def layer_ids(self) -> tuple[int, ...]:
        """The generator layers PatchNCE compares (:attr:`nce_layers` parsed)."""
        return parse_layers(self.nce_layers)


def train_defaults(model: Mapping[str, Any]) -> dict[str, Any]:
    """The shared options whose default follows the model's ``cut_mode``: the epochs (200 +
    200 for CUT, 150 + 50 for FastCUT, as in the reference)."""
    return dict(MODE_EPOCHS[str(model.get("cut_mode", "cut")).lower()])


__all__ = ["CUTConfig", "CUT_MODES", "MODE_DEFAULTS", "MODE_EPOCHS", "NET_F", "parse_layers",
           "parse_switch", "train_defaults"]
