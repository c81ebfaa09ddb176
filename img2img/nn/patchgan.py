"""PatchGAN discriminators: N-layer (``basic`` is 3 layers, 70x70 patches) and 1x1 PixelGAN."""

from __future__ import annotations

import torch
from torch import nn

from img2img.nn.antialias import BlurDownsample
from img2img.nn.norms import conv_bias, get_norm_layer
from img2img.nn.sizes import check_input

KERNEL = 4
PADDING = 1
#: Filters stop doubling at ndf * 8.
MAX_MULT = 8


#: a layer's sampling: (kernel, stride, padding)
Sampling = tuple[int, int, int]
#: the antialiased downsampling after a stride-1 convolution (blur 3x3, stride 2, pad 1)
_BLUR: Sampling = (3, 2, 1)


def _layers(n_layers: int, antialias: bool = False) -> list[Sampling]:
    """The sampling of the layers in order: ``n_layers`` downsamplings (a stride-2 conv, or a
    stride-1 conv and a blur-pool with ``antialias``), then two stride-1 convs."""
    down = [(KERNEL, 1, PADDING), _BLUR] if antialias else [(KERNEL, 2, PADDING)]
    return down * n_layers + [(KERNEL, 1, PADDING)] * 2


def receptive_field(n_layers: int, antialias: bool = False) -> int:
    """Side of the input patch that one output of an ``n_layers`` PatchGAN sees (3 -> 70)."""
    field = 1
    for kernel, stride, _ in reversed(_layers(n_layers, antialias)):
        field = (field - 1) * stride + kernel
    return field


def output_size(size: int, n_layers: int, antialias: bool = False) -> int:
    """Side of the output map for an input side ``size``; 0 if the input is too small."""
    for kernel, stride, padding in _layers(n_layers, antialias):
        reflect = (kernel, stride, padding) == _BLUR and antialias
        if size + 2 * padding < kernel or (reflect and size <= padding):
            return 0
        size = (size + 2 * padding - kernel) // stride + 1
    return size


def min_input_size(n_layers: int, antialias: bool = False) -> int:
    """Smallest input side that gives at least one output for an ``n_layers`` PatchGAN."""
    size = 1
    while output_size(size, n_layers, antialias) < 1:
        size += 1
    return size


class NLayerDiscriminator(nn.Module):
    """PatchGAN: classifies each overlapping patch of the input as real or fake.

    Layout: conv 4x4 stride 2 (bias) + LeakyReLU(0.2); ``n_layers - 1`` times conv 4x4 stride 2,
    norm, LeakyReLU; conv 4x4 stride 1, norm, LeakyReLU; conv 4x4 stride 1 to one channel
    (bias). Filters are ``ndf * min(2**n, 8)``. The output is a map of logits. With
    ``antialias`` (CUT) each stride-2 convolution is a stride-1 convolution (and its norm and
    LeakyReLU) followed by a :class:`~img2img.nn.antialias.BlurDownsample`.

    Args:
        in_channels: input channels (pix2pix: A and B concatenated, e.g. 6).
        ndf: filters of the first convolution.
        n_layers: stride-2 convolutions (3 = the 70x70 ``basic`` PatchGAN).
        norm: ``batch``, ``instance`` or ``none``.
        antialias: blur-pool downsampling instead of stride-2 convolutions.

    Raises:
        ValueError: a non-positive size or an unknown norm.
    """

    def __init__(
        self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch",
        antialias: bool = False,
    ) -> None:
        super().__init__()
        for field, value in (("in_channels", in_channels), ("ndf", ndf), ("n_layers", n_layers)):
            if value < 1:
                raise ValueError(
                    f"NLayerDiscriminator {field}: {value!r} is not valid; expected >= 1"
                )
        norm_layer = get_norm_layer(norm)
        use_bias = conv_bias(norm)
        self.in_channels = in_channels
        self.n_layers = n_layers
        self.antialias = antialias
        self.min_size = min_input_size(n_layers, antialias)
        self.name = f"PatchGAN discriminator (n_layers {n_layers})"
        down = 1 if antialias else 2

        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, KERNEL, stride=down, padding=PADDING),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        if antialias:
            layers.append(BlurDownsample(ndf))
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, MAX_MULT)
            stride = down if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, KERNEL, stride=stride, padding=PADDING,
                          bias=use_bias),
                norm_layer(ndf * mult),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            if antialias and n < n_layers:
                layers.append(BlurDownsample(ndf * mult))
        layers.append(nn.Conv2d(ndf * mult, 1, KERNEL, stride=1, padding=PADDING))
        self.model = nn.Sequential(*layers)

    @property
    def receptive_field(self) -> int:
        """Side of the input patch behind each output logit."""
        return receptive_field(self.n_layers, self.antialias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1, h, w) for a batch (N, in_channels, H, W)."""
        check_input(x, self.name, self.in_channels, min_size=self.min_size)
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """PixelGAN: a 1x1 PatchGAN that judges every pixel on its own.

    Layout: conv 1x1 (bias), LeakyReLU(0.2), conv 1x1 to 2 ndf, norm, LeakyReLU(0.2),
    conv 1x1 to one channel.

    Args:
        in_channels: input channels (pix2pix: A and B concatenated, e.g. 6).
        ndf: filters of the first convolution.
        norm: ``batch``, ``instance`` or ``none``.

    Raises:
        ValueError: a non-positive size or an unknown norm.
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, norm: str = "batch") -> None:
        super().__init__()
        for field, value in (("in_channels", in_channels), ("ndf", ndf)):
            if value < 1:
                raise ValueError(
                    f"PixelDiscriminator {field}: {value!r} is not valid; expected >= 1"
                )
        norm_layer = get_norm_layer(norm)
        use_bias = conv_bias(norm)
        self.in_channels = in_channels
        self.min_size = 1
        self.name = "PixelGAN discriminator"
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1, stride=1, padding=0),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 1, stride=1, padding=0, bias=use_bias),
            norm_layer(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 1, stride=1, padding=0, bias=use_bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1, H, W) for a batch (N, in_channels, H, W)."""
        check_input(x, self.name, self.in_channels, min_size=self.min_size)
        return self.net(x)
