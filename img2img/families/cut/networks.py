"""CUT's networks: the antialiased generator and PatchGAN, the generator's encoder features,
and the projection head F that samples and embeds them (the loss is in
:mod:`img2img.families.cut.patchnce`).

G and D are the registry's ResNet and PatchGAN with CUT's antialiased sampling; F
(:class:`PatchSampleF`) keeps the reference code's layout (``mlp_<i>.0`` / ``mlp_<i>.2`` for
the i-th NCE layer), so its weights move between the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from img2img.data.io import LUMA_WEIGHTS
from img2img.families.cut.config import CUTConfig
from img2img.nn import create_discriminator, create_generator
from img2img.nn.init import init_weights

#: added to the feature norms before dividing (the reference's)
NORM_EPS = 1e-7


def build_generator(m: CUTConfig, init: bool = False) -> nn.Module:
    """G: ``m.netG`` for ``input_nc`` -> ``output_nc`` with CUT's antialiased sampling.

    ``init`` applies the config's weight initialisation (else PyTorch's default, for loading).
    """
    return create_generator(
        m.netG, in_channels=m.input_nc, out_channels=m.output_nc, ngf=m.ngf, norm=m.normG,
        dropout=m.dropout, antialias=m.antialias, antialias_up=m.antialias_up,
        init_type=m.init_type if init else None, init_gain=m.init_gain,
    )


def build_discriminator(m: CUTConfig) -> nn.Module:
    """D: ``m.netD`` on ``output_nc``-channel images, initialised."""
    options = {"in_channels": m.output_nc, "ndf": m.ndf, "norm": m.normD}
    if m.netD != "pixel":  # the PixelGAN has no downsampling to antialias
        options["antialias"] = m.antialias
    if m.netD == "n_layers":
        options["n_layers"] = m.n_layers_D
    return create_discriminator(m.netD, init_type=m.init_type, init_gain=m.init_gain, **options)


def generator_layers(generator: nn.Module) -> nn.Sequential:
    """The generator's layers in order (those ``--nce-layers`` index)."""
    layers = getattr(generator, "model", None)
    if not isinstance(layers, nn.Sequential):
        raise TypeError(f"{type(generator).__name__} has no sequential layers to read "
                        "features from")
    return layers


def run_with_features(generator: nn.Module, x: Tensor, layer_ids: Sequence[int],
                      encode_only: bool = False) -> tuple[Tensor | None, list[Tensor]]:
    """Run ``generator`` on ``x`` and keep the outputs of its layers ``layer_ids``.

    Returns the output (None with ``encode_only``, which stops after the last layer asked
    for) and the features, in ``layer_ids`` order.
    """
    wanted, last = set(layer_ids), max(layer_ids)
    features = []
    for index, layer in enumerate(generator_layers(generator)):
        x = layer(x)
        if index in wanted:
            features.append(x)
        if encode_only and index == last:
            return None, features
    return x, features


def check_layer_ids(generator: nn.Module, layer_ids: Sequence[int]) -> None:
    """Fail unless every index in ``layer_ids`` is a layer of ``generator``."""
    count = len(generator_layers(generator))
    beyond = [n for n in layer_ids if n >= count]
    if beyond:
        raise ValueError(f"nce_layers: {', '.join(map(str, beyond))} beyond the generator's "
                         f"{count} layers (0 to {count - 1})")


def to_channels(images: Tensor, channels: int) -> Tensor:
    """``images`` (in [-1, 1]) with ``channels`` channels: luma for 3 -> 1, the gray repeated
    for 1 -> 3, unchanged otherwise. G reads its own outputs (and identity inputs) so when
    the input and output channels differ."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 3 and channels == 1:
        weights = images.new_tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)
        return (images * weights).sum(1, keepdim=True)
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1)
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels")


def l2_normalize(x: Tensor) -> Tensor:
    """Rows of ``x`` divided by their L2 norm (plus :data:`NORM_EPS`), in float32: in fp16 the
    sum of squares of a 256-wide row overflows (65504) and the row became NaN."""
    x = x.float()
    return x / (x.pow(2).sum(1, keepdim=True).sqrt() + NORM_EPS)


class PatchSampleF(nn.Module):
    """The projection head F: sample positions of each feature map and embed them.

    For every feature map ``[B, C, H, W]`` it takes ``num_patches`` positions (the same for
    every image of the batch; random unless given), passes their C-vectors through that
    layer's MLP (Linear(C, nc), ReLU, Linear(nc, nc); none with ``use_mlp`` False) and
    L2-normalises them: ``[B * num_patches, nc]``.

    The MLPs depend on the feature channels, so, as in the reference, they are created by
    :meth:`create_mlp` from the first batch's features (:attr:`built` tells whether they are).
    """

    def __init__(self, use_mlp: bool = True, nc: int = 256) -> None:
        super().__init__()
        self.use_mlp = use_mlp
        self.nc = nc
        self.layer_channels: tuple[int, ...] = ()

    @property
    def built(self) -> bool:
        return not self.use_mlp or bool(self.layer_channels)

    def create_mlp(self, channels: Sequence[int], init_type: str | None = None,
                   init_gain: float = 0.02) -> None:
        """Create one MLP per feature layer of ``channels`` channels, initialised with
        ``init_type`` (None: PyTorch's default, for loading weights)."""
        self.layer_channels = tuple(int(c) for c in channels)
        if not self.use_mlp:
            return
        for i, c in enumerate(self.layer_channels):
            setattr(self, f"mlp_{i}", nn.Sequential(
                nn.Linear(c, self.nc), nn.ReLU(), nn.Linear(self.nc, self.nc)))
        if init_type is not None:
            init_weights(self, init_type, init_gain)

    def create_from_state(self, state: dict[str, Tensor]) -> None:
        """Create the MLPs a saved ``state_dict`` of F holds (loading before any batch)."""
        count = sum(1 for k in state if k.endswith(".0.weight") and k.startswith("mlp_"))
        self.create_mlp([state[f"mlp_{i}.0.weight"].shape[1] for i in range(count)])

    @staticmethod
    def sample_ids(features: Sequence[Tensor], num_patches: int) -> list[Tensor]:
        """For each feature map, ``num_patches`` distinct positions (all of them, in a random
        order, when it has fewer), drawn from torch's global generator."""
        ids = []
        for feat in features:
            positions = feat.shape[2] * feat.shape[3]
            ids.append(torch.randperm(positions)[: min(num_patches, positions)])
        return ids

    def forward(self, features: Sequence[Tensor], num_patches: int,
                patch_ids: Sequence[Tensor] | None = None) -> tuple[list[Tensor], list[Tensor]]:
        """The embedded samples of each feature map, and the positions taken."""
        if not self.built:
            raise RuntimeError("PatchSampleF: create_mlp() first (from the first batch's "
                               "features)")
        if patch_ids is None:
            patch_ids = self.sample_ids(features, num_patches)
        embedded = []
        for i, (feat, ids) in enumerate(zip(features, patch_ids, strict=True)):
            rows = feat.permute(0, 2, 3, 1).flatten(1, 2)
            sample = rows[:, ids.to(feat.device), :].flatten(0, 1)
            if self.use_mlp:
                sample = getattr(self, f"mlp_{i}")(sample)
            embedded.append(l2_normalize(sample))
        return embedded, list(patch_ids)
