"""The pix2pix U-Net generator, built from nested skip-connection blocks.

Each block downsamples once, runs the block inside it, upsamples once and (except the
outermost) concatenates its own input to the result. The nesting gives the ``model.model.1
.model.3...`` state-dict keys of the published pix2pix checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn

from img2img.nn.norms import NormFactory, conv_bias, get_norm_layer
from img2img.nn.sizes import check_input

#: The fixed blocks around the repeated ngf*8 ones: outermost, ngf*2, ngf*4, ngf*8 entry, innermost.
MIN_DOWNS = 5


class UnetSkipBlock(nn.Module):
    """One level of the U-Net: down, the inner block, up, then skip concatenation.

    Layer order (the published layout):

    * outermost: conv down, inner block, ReLU, transposed conv, Tanh
    * innermost: LeakyReLU(0.2), conv down, ReLU, transposed conv, norm
    * otherwise: LeakyReLU(0.2), conv down, norm, inner block, ReLU, transposed conv, norm
      [, Dropout(0.5)]

    The down LeakyReLU works in place, as in the reference network, so the skip path of an inner
    block carries its activated input. Published weights were trained that way.

    Args:
        outer_nc: channels this block returns before concatenation (and receives, unless
            ``input_nc`` says otherwise).
        inner_nc: channels after the down convolution.
        input_nc: channels of the block's input; defaults to ``outer_nc``.
        submodule: the block nested inside; None for the innermost.
        outermost: the top level (no norm, Tanh output, no skip).
        norm_layer: factory from :func:`~img2img.nn.norms.get_norm_layer`.
        use_bias: whether convolutions followed by a norm carry a bias.
        dropout: append Dropout(0.5) after the up path (intermediate blocks only).
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        *,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        norm_layer: NormFactory,
        use_bias: bool,
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        input_nc = outer_nc if input_nc is None else input_nc
        innermost = submodule is None
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, inplace=True)
        uprelu = nn.ReLU(inplace=True)
        up_in = inner_nc if innermost else inner_nc * 2

        layers: list[nn.Module]
        if outermost:
            if submodule is None:
                raise ValueError("UnetSkipBlock: the outermost block needs a submodule")
            upconv = nn.ConvTranspose2d(up_in, outer_nc, 4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(up_in, outer_nc, 4, stride=2, padding=1, bias=use_bias)
            layers = [downrelu, downconv, uprelu, upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(up_in, outer_nc, 4, stride=2, padding=1, bias=use_bias)
            layers = [downrelu, downconv, norm_layer(inner_nc), submodule,
                      uprelu, upconv, norm_layer(outer_nc)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        y = self.model(x)  # the first layer's in-place LeakyReLU leaves x activated
        return torch.cat([x, y], 1)


class UnetGenerator(nn.Module):
    """U-Net generator of pix2pix (``unet_128``: 7 downsamplings, ``unet_256``: 8).

    Channels go ngf -> 2 ngf -> 4 ngf -> 8 ngf and stay at 8 ngf for the deeper levels.
    Height and width of the input must be multiples of ``2 ** num_downs``.

    Args:
        in_channels: channels of the input image.
        out_channels: channels of the output image (Tanh, in [-1, 1]).
        ngf: filters of the outermost level.
        norm: ``batch``, ``instance`` or ``none``.
        dropout: Dropout(0.5) in the ``num_downs - 5`` intermediate 8 ngf blocks.
        num_downs: number of downsamplings (at least 5).

    Raises:
        ValueError: a non-positive size, an unknown norm or ``num_downs`` below 5.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        norm: str = "batch",
        dropout: bool = False,
        num_downs: int = 8,
    ) -> None:
        super().__init__()
        for field, value in (("in_channels", in_channels), ("out_channels", out_channels),
                             ("ngf", ngf)):
            if value < 1:
                raise ValueError(f"UnetGenerator {field}: {value!r} is not valid; expected >= 1")
        if num_downs < MIN_DOWNS:
            raise ValueError(
                f"UnetGenerator num_downs: {num_downs!r} is not valid; expected >= {MIN_DOWNS}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_downs = num_downs
        self.size_multiple = 2**num_downs
        self.min_size = self.size_multiple
        self.name = f"unet_{self.size_multiple}"

        options = {"norm_layer": get_norm_layer(norm), "use_bias": conv_bias(norm)}
        block = UnetSkipBlock(ngf * 8, ngf * 8, **options)
        for _ in range(num_downs - MIN_DOWNS):
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, dropout=dropout, **options)
        block = UnetSkipBlock(ngf * 4, ngf * 8, submodule=block, **options)
        block = UnetSkipBlock(ngf * 2, ngf * 4, submodule=block, **options)
        block = UnetSkipBlock(ngf, ngf * 2, submodule=block, **options)
        self.model = UnetSkipBlock(out_channels, ngf, input_nc=in_channels, submodule=block,
                                   outermost=True, **options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate a batch (N, in_channels, H, W) to (N, out_channels, H, W)."""
        check_input(x, self.name, self.in_channels, self.size_multiple)
        return self.model(x)
