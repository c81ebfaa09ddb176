"""pix2pixHD's perceptual loss: L1 between VGG19 features of the output and of the target.

The network is torchvision's ``vgg19`` feature stack up to ``relu5_1``, cut after ``relu1_1``,
``relu2_1``, ``relu3_1``, ``relu4_1`` and ``relu5_1``; the five L1 distances are weighted
1/32, 1/16, 1/8, 1/4 and 1. As in the reference implementation, images go in as the
generator makes them (in ``[-1, 1]``, without ImageNet mean/std normalisation).

The ImageNet weights are never downloaded here: :func:`find_vgg_weights` looks for the file
torchvision itself would download (``vgg19-dcbb9e9d.pth`` in the torch hub cache) or takes a
path, and :func:`load_vgg19_features` reads it with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: torchvision's ImageNet VGG19 (``VGG19_Weights.IMAGENET1K_V1``)
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILE = VGG19_URL.rsplit("/", 1)[1]
#: ``features`` indices ending each slice: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
SLICE_ENDS = (2, 7, 12, 21, 30)
LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


class VGGWeightsError(FileNotFoundError):
    """The VGG19 weights are missing or are not VGG19's."""


def default_vgg_weights() -> Path:
    """Where torchvision keeps the ImageNet VGG19 weights: the torch hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


def find_vgg_weights(path: str | os.PathLike[str] | None = None) -> Path:
    """The VGG19 weights file to use: ``path`` if given, else the torch hub cache's.

    Raises:
        VGGWeightsError: the file does not exist; the message says where to put it, how to
            pass another one, and how to train without the loss.
    """
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise VGGWeightsError(
                f"--vgg-weights {path}: no such file; expected torchvision's ImageNet VGG19 "
                f"weights ({VGG19_FILE}, from {VGG19_URL})"
            )
        return file
    file = default_vgg_weights()
    if not file.is_file():
        raise VGGWeightsError(
            f"the VGG19 perceptual loss needs torchvision's ImageNet VGG19 weights and none "
            f"were found at {file} (the torch hub cache); download {VGG19_URL} to that path "
            "(torchvision.models.vgg19(weights='IMAGENET1K_V1') does it), or pass "
            "--vgg-weights PATH, or train without this loss: --no-vgg-loss"
        )
    return file


def vgg19_features(init: bool = True, device: str | torch.device = "cpu") -> nn.Sequential:
    """torchvision's VGG19 feature layers 0..29 (up to ``relu5_1``), frozen, on ``device``.

    With ``init`` the convolutions get torchvision's own initialisation (Kaiming normal, fan
    out; zero biases): random weights, for tests and for loading into.
    """
    from torchvision.models import vgg19

    with torch.device("meta"):  # the 140 M-parameter classifier is never allocated
        layers = vgg19(weights=None).features[: SLICE_ENDS[-1]]
    layers = layers.to_empty(device=device)
    if init and torch.device(device).type != "meta":
        for module in layers.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
    layers.requires_grad_(False)
    return layers


def load_vgg19_features(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """The feature-layer weights of a VGG19 file, keyed as in :func:`vgg19_features`.

    Accepts torchvision's full ``vgg19`` state dict (``features.N.weight`` ...; the classifier
    is ignored) or one of the feature layers alone (``N.weight``).

    Raises:
        VGGWeightsError: the file cannot be read or lacks VGG19's feature weights.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # every loader failure names the file
        raise VGGWeightsError(f"{path}: cannot be read as VGG19 weights ({exc})") from exc
    if not isinstance(state, Mapping):
        raise VGGWeightsError(f"{path}: not a state_dict; expected torchvision's VGG19 weights")
    wanted = {k: tuple(v.shape) for k, v in vgg19_features(init=False).state_dict().items()}
    features = {k.removeprefix("features."): v for k, v in state.items()
                if isinstance(v, Tensor) and k.removeprefix("features.") in wanted}
    wrong = [k for k in wanted if k not in features or tuple(features[k].shape) != wanted[k]]
    if wrong:
        raise VGGWeightsError(
            f"{path}: not VGG19 weights ({wrong[0]} is missing or has another shape); expected "
            f"torchvision's {VGG19_FILE}"
        )
    return features


class VGGLoss(nn.Module):
    """``sum_i w_i * L1(VGG_i(x), VGG_i(y))`` over the five slices (weights 1/32 .. 1).

    Args:
        weights: the feature layers' weights (from :func:`load_vgg19_features`); None keeps
            a random initialisation (only meaningful in tests).
        device: where to build it (``meta`` for shape-only runs).
    """

    def __init__(
        self, weights: Mapping[str, Tensor] | None = None, device: str | torch.device = "cpu"
    ) -> None:
        super().__init__()
        layers = vgg19_features(init=weights is None, device=device)
        if weights is not None:
            layers.load_state_dict(weights)
        starts = (0, *SLICE_ENDS[:-1])
        self.slices = nn.ModuleList(layers[a:b] for a, b in zip(starts, SLICE_ENDS, strict=True))
        self.eval()

    def train(self, mode: bool = True) -> VGGLoss:
        """The network stays frozen in eval mode."""
        return super().train(False)

    def features(self, x: Tensor) -> list[Tensor]:
        """The relu1_1 .. relu5_1 activations of ``x``."""
        out = []
        for block in self.slices:
            x = block(x)
            out.append(x)
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """The weighted distance of output ``x`` to target ``y`` (no gradient flows into ``y``)."""
        with torch.no_grad():
            targets = self.features(y)
        total = x.new_zeros((), dtype=torch.float32)
        for weight, fx, fy in zip(LAYER_WEIGHTS, self.features(x), targets, strict=True):
            total = total + weight * F.l1_loss(fx.float(), fy.float())
        return total
