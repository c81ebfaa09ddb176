"""The ResNet encoder-decoder generator of CycleGAN and CUT (and pix2pix's ``resnet_*`` option)."""

from __future__ import annotations

import torch
from torch import nn

from img2img.nn.antialias import BlurDownsample, BlurUpsample
from img2img.nn.norms import NormFactory, conv_bias, get_norm_layer
from img2img.nn.sizes import check_input

PADDING_TYPES = ("reflect", "replicate", "zero")
#: Two stride-2 downsamplings: inputs must be multiples of 4.
N_DOWNSAMPLING = 2
#: Smallest input side: the residual blocks need at least 2x2 (reflection pad, instance norm).
MIN_SIZE = 2 * 2**N_DOWNSAMPLING


def check_padding_type(padding_type: str) -> str:
    """Return ``padding_type`` if known; else fail listing :data:`PADDING_TYPES`."""
    if padding_type not in PADDING_TYPES:
        raise ValueError(
            f"padding_type: {padding_type!r} is not valid; "
            f"expected one of: {', '.join(PADDING_TYPES)}"
        )
    return padding_type


def _pad(padding_type: str, amount: int) -> tuple[list[nn.Module], int]:
    """Padding layers to put before a convolution, and the padding left to the conv itself."""
    if padding_type == "reflect":
        return [nn.ReflectionPad2d(amount)], 0
    if padding_type == "replicate":
        return [nn.ReplicationPad2d(amount)], 0
    return [], amount


class ResnetBlock(nn.Module):
    """Residual block: x + [pad, conv3x3, norm, ReLU, (Dropout 0.5), pad, conv3x3, norm](x).

    Args:
        dim: channels in and out.
        padding_type: ``reflect``, ``replicate`` or ``zero``.
        norm_layer: factory from :func:`~img2img.nn.norms.get_norm_layer`.
        dropout: Dropout(0.5) between the two convolutions.
        use_bias: whether the convolutions carry a bias.
    """

    def __init__(
        self, dim: int, padding_type: str, norm_layer: NormFactory, dropout: bool, use_bias: bool
    ) -> None:
        super().__init__()
        check_padding_type(padding_type)
        layers: list[nn.Module] = []
        pad, p = _pad(padding_type, 1)
        layers += [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=use_bias), norm_layer(dim),
                   nn.ReLU(inplace=True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        pad, p = _pad(padding_type, 1)
        layers += [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=use_bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """ResNet generator: 7x7 conv, 2 downsamplings, ``n_blocks`` residual blocks, 2 upsamplings.

    Layout: ReflectionPad(3), conv 7x7, norm, ReLU; twice conv 3x3 stride 2, norm, ReLU;
    ``n_blocks`` :class:`ResnetBlock` at 4 ngf; twice ConvTranspose 3x3 stride 2 (output
    padding 1), norm, ReLU; ReflectionPad(3), conv 7x7, Tanh. Height and width of the input must
    be multiples of 4 and at least 8.

    CUT's antialiased sampling (the layout of its published weights): with ``antialias`` each
    downsampling is conv 3x3 stride 1, norm, ReLU, :class:`~img2img.nn.antialias.BlurDownsample`;
    with ``antialias_up`` each upsampling is :class:`~img2img.nn.antialias.BlurUpsample`,
    conv 3x3 stride 1, norm, ReLU.

    Args:
        in_channels: channels of the input image.
        out_channels: channels of the output image (Tanh, in [-1, 1]).
        ngf: filters of the first convolution.
        norm: ``batch``, ``instance`` or ``none``.
        dropout: Dropout(0.5) inside each residual block.
        n_blocks: number of residual blocks (``resnet_6blocks``: 6, ``resnet_9blocks``: 9).
        padding_type: padding inside the residual blocks: ``reflect``, ``replicate`` or ``zero``.
        antialias: blur-pool downsampling instead of stride-2 convolutions.
        antialias_up: blur upsampling and a convolution instead of transposed convolutions.

    Raises:
        ValueError: a non-positive size, negative ``n_blocks``, unknown norm or padding type.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        norm: str = "batch",
        dropout: bool = False,
        n_blocks: int = 9,
        padding_type: str = "reflect",
        antialias: bool = False,
        antialias_up: bool = False,
    ) -> None:
        super().__init__()
        for field, value in (("in_channels", in_channels), ("out_channels", out_channels),
                             ("ngf", ngf)):
            if value < 1:
                raise ValueError(f"ResnetGenerator {field}: {value!r} is not valid; expected >= 1")
        if n_blocks < 0:
            raise ValueError(f"ResnetGenerator n_blocks: {n_blocks!r} is not valid; expected >= 0")
        check_padding_type(padding_type)
        norm_layer = get_norm_layer(norm)
        use_bias = conv_bias(norm)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.size_multiple = 2**N_DOWNSAMPLING
        self.min_size = MIN_SIZE
        self.name = f"resnet_{n_blocks}blocks"

        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, padding=0, bias=use_bias),
            norm_layer(ngf),
            nn.ReLU(inplace=True),
        ]
        for i in range(N_DOWNSAMPLING):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, c * 2, 3, stride=1 if antialias else 2, padding=1,
                                 bias=use_bias),
                       norm_layer(c * 2), nn.ReLU(inplace=True)]
            if antialias:
                layers.append(BlurDownsample(c * 2))
        dim = ngf * 2**N_DOWNSAMPLING
        layers += [ResnetBlock(dim, padding_type, norm_layer, dropout, use_bias)
                   for _ in range(n_blocks)]
        for i in range(N_DOWNSAMPLING):
            c = ngf * 2 ** (N_DOWNSAMPLING - i)
            if antialias_up:
                layers += [BlurUpsample(c), nn.Conv2d(c, c // 2, 3, padding=1, bias=use_bias)]
            else:
                layers.append(nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1,
                                                 output_padding=1, bias=use_bias))
            layers += [norm_layer(c // 2), nn.ReLU(inplace=True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate a batch (N, in_channels, H, W) to (N, out_channels, H, W)."""
        check_input(x, self.name, self.in_channels, self.size_multiple, self.min_size)
        return self.model(x)
