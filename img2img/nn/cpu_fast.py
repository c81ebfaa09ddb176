"""An opt-in CPU path for convolutions on small grids, for training at batch size 1.

On the CPU, oneDNN re-lays out the weights on every call, forward and backward; for the inner
layers of a U-Net (512+ channels on a 1x1 .. 16x16 grid) that copy costs more than the
arithmetic when the batch holds one image, the pix2pix paper's setting. :func:`use_cpu_fast_path`
switches the eligible ``nn.Conv2d`` / ``nn.ConvTranspose2d`` layers of a network, in place, to
subclasses that compute such a layer as one matrix product over ``unfold`` / ``fold``;
:func:`restore_plain_layers` switches them back. Only the layers' class changes: they stay the
same module objects with the same parameters, buffers and hooks, so ``state_dict`` keys, order and
shapes are those of the plain network and checkpoints move freely between the two.

The matrix-product path runs only for a single 4-D image on the CPU while autograd records, in the
weight's dtype, outside autocast, and never while TorchScript scripts or traces,
``torch.compile`` or ``torch.export`` traces, or an ONNX export runs. Everywhere else the torch
layer's own computation runs, so no exported or compiled graph ever contains it. That choice is
measured (2-core AVX2 CPU, fp32): with the path a U-Net's forward and backward pass at batch size
1 took 7-12% less time, while batches of 2-4 (where oneDNN spreads the re-layout over the images)
were 1.3-2x slower and inference without autograd about 10% slower.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.nn.capture import graph_capture

__all__ = [
    "SMALL_GRID",
    "FastConv2d",
    "FastConvTranspose2d",
    "restore_plain_layers",
    "use_cpu_fast_path",
]

#: output (Conv2d) or input (ConvTranspose2d) positions up to which the matrix product is used
SMALL_GRID = 256

Padding = tuple[int, int, int, int]  # top, bottom, left, right


def _one_image_training(conv: nn.Conv2d | nn.ConvTranspose2d, x: Tensor) -> bool:
    """Whether ``conv`` may take the matrix-product path for ``x`` (grid size aside)."""
    return (
        not graph_capture()
        and torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dim() == 4
        and x.shape[0] == 1
        and x.dtype == conv.weight.dtype
        and not torch.is_autocast_enabled("cpu")
    )


def _conv_padding(conv: nn.Conv2d) -> Padding:
    """The zero padding of each side, with ``"valid"`` / ``"same"`` spelled out as torch does."""
    if conv.padding == "valid":
        return 0, 0, 0, 0
    if conv.padding == "same":  # stride 1: k - 1 in all, the odd pixel on the bottom/right
        kh, kw = conv.kernel_size
        return (kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2
    ph, pw = conv.padding
    return ph, ph, pw, pw


class FastConv2d(nn.Conv2d):
    """:class:`torch.nn.Conv2d` with a matrix-product path for one small CPU image."""

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return self._conv_forward(x, self.weight, self.bias)
        return self._forward_eager(x)

    @torch.jit.unused
    def _forward_eager(self, x: Tensor) -> Tensor:
        if not _one_image_training(self, x):
            return super().forward(x)
        top, bottom, left, right = _conv_padding(self)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        h = (x.shape[-2] + top + bottom - kh) // sh + 1
        w = (x.shape[-1] + left + right - kw) // sw + 1
        if h * w > SMALL_GRID:
            return super().forward(x)
        if top == bottom and left == right:
            cols = F.unfold(x, self.kernel_size, padding=(top, left), stride=self.stride)
        else:
            cols = F.unfold(F.pad(x, (left, right, top, bottom)), self.kernel_size,
                            stride=self.stride)
        out = (self.weight.reshape(self.out_channels, -1) @ cols[0]).reshape(1, -1, h, w)
        return out if self.bias is None else out + self.bias.reshape(1, -1, 1, 1)


class FastConvTranspose2d(nn.ConvTranspose2d):
    """:class:`torch.nn.ConvTranspose2d` with a matrix-product path for one small CPU image."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if torch.jit.is_scripting():
            padding = self._output_padding(x, output_size, self.stride, self.padding,
                                           self.kernel_size, 2, self.dilation)
            return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                      padding, self.groups, self.dilation)
        return self._forward_eager(x, output_size)

    @torch.jit.unused
    def _forward_eager(self, x: Tensor, output_size: list[int] | None) -> Tensor:
        if output_size is not None or not _one_image_training(self, x):
            return super().forward(x, output_size)
        h_in, w_in = x.shape[-2:]
        if h_in * w_in > SMALL_GRID:
            return super().forward(x)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        (ph, pw), (oh, ow) = self.padding, self.output_padding
        # output padding < stride: fold still finds exactly h_in x w_in blocks
        h = (h_in - 1) * sh - 2 * ph + kh + oh
        w = (w_in - 1) * sw - 2 * pw + kw + ow
        weight_t = self.weight.reshape(self.in_channels, -1).t()  # (out * kh * kw, in)
        cols = weight_t @ x.reshape(self.in_channels, h_in * w_in)
        out = F.fold(cols.unsqueeze(0), (h, w), self.kernel_size, padding=self.padding,
                     stride=self.stride)
        return out if self.bias is None else out + self.bias.reshape(1, -1, 1, 1)


_FAST: dict[type[nn.Module], type[nn.Module]] = {
    nn.Conv2d: FastConv2d,
    nn.ConvTranspose2d: FastConvTranspose2d,
}
_PLAIN = {fast: plain for plain, fast in _FAST.items()}


def _eligible(module: nn.Module) -> bool:
    """Whether ``module`` is a plain torch convolution the fast path can stand in for."""
    return (
        type(module) in _FAST
        and module.groups == 1
        and all(d == 1 for d in module.dilation)
        and module.padding_mode == "zeros"
    )


def use_cpu_fast_path(net: nn.Module) -> nn.Module:
    """Switch ``net``'s eligible convolutions to the fast CPU path, in place; return ``net``.

    Eligible are modules whose type is exactly ``nn.Conv2d`` or ``nn.ConvTranspose2d`` (not a
    subclass) with one group, no dilation and zero padding mode, ``net`` itself included. They
    become :class:`FastConv2d` / :class:`FastConvTranspose2d` by a change of class: parameters,
    buffers, hooks and ``state_dict`` are untouched. Harmless off the CPU (the torch path runs)
    and idempotent.
    """
    for module in net.modules():
        if _eligible(module):
            module.__class__ = _FAST[type(module)]
    return net


def restore_plain_layers(net: nn.Module) -> nn.Module:
    """Undo :func:`use_cpu_fast_path`: fast layers of ``net`` become plain torch layers again."""
    for module in net.modules():
        plain = _PLAIN.get(type(module))
        if plain is not None:
            module.__class__ = plain
    return net
