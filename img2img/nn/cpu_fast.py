"""Faster CPU convolutions, swapped into any network: for inference and for training at batch 1.

:func:`use_cpu_fast_path` switches the eligible ``nn.Conv2d`` / ``nn.ConvTranspose2d`` layers of
a network, in place, to subclasses with faster CPU paths; :func:`restore_plain_layers` switches
them back. Only the layers' class changes: they stay the same module objects with the same
parameters, buffers and hooks, so ``state_dict`` keys, order and shapes are those of the plain
network and checkpoints move freely between the two. It applies to every network of the
registry alike (U-Nets, ResNets, PatchGANs): the paths are chosen per call from the layer's
geometry and the input, never from the network's name.

Each path runs only for the calls where it was measured to be faster (2-core AMD EPYC, fp32,
AVX-512 and forced AVX2; figures in ``bench/RESULTS.md``); everywhere else the torch layer's own
computation runs:

* **Inference** (autograd off, fp32, oneDNN available): oneDNN re-lays out a layer's weight into
  its blocked format on every call (16-32 MB for the inner layers of a U-Net) and converts
  plain (NCHW) activations to and from its own layout around every layer. Here the weight is
  re-laid out once and kept (:class:`_PackCache`: per layer and input shape, rebuilt when the
  weight changes in place or is replaced) and activations run channels-last (NHWC), which oneDNN
  reads and writes directly; the output is channels-last. A transposed convolution with fewer
  output channels than one vector register holds (the RGB output layer of a generator) runs as
  a stride-1 convolution with ``stride**2`` times as many channels and a pixel shuffle (the
  "sub-pixel" form, :func:`subpixel_weight`): oneDNN vectorises over output channels, which 3
  channels leave mostly empty, so the larger convolution is faster despite its zero taps.
* **Training at batch size 1 on small grids** (one 4-D image while autograd records, at most
  :data:`SMALL_GRID` positions): oneDNN re-lays out the weights forward and backward on every
  call, which costs more than the arithmetic for the inner layers of a U-Net; here such a layer
  is one matrix product over ``unfold`` / ``fold`` forward and two backward, each oriented so
  that the weight is read in its stored order (:mod:`img2img.nn.small_grid`).

No path runs while TorchScript scripts or traces, ``torch.compile`` or ``torch.export`` traces,
or an ONNX export runs, nor under autocast: exported or compiled graphs only ever contain torch's
own convolutions. Results equal the torch layer's up to float rounding (sums in another order).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.nn.capture import graph_capture
from img2img.nn.cpu_bf16 import cpu_has_bf16
from img2img.nn.cpu_only import cpu_only
from img2img.nn.small_grid import conv2d_product, conv_transpose2d_product

__all__ = [
    "SMALL_GRID",
    "SUBPIXEL_MAX_CHANNELS",
    "FastConv2d",
    "FastConvTranspose2d",
    "cpu_fast_path",
    "release_packed_weights",
    "restore_plain_layers",
    "subpixel_weight",
    "use_cpu_fast_path",
]

#: output (Conv2d) or input (ConvTranspose2d) positions up to which the matrix product is used
SMALL_GRID = 256

#: transposed convolutions with fewer output channels than this run in the sub-pixel form
SUBPIXEL_MAX_CHANNELS = 8

#: input shapes per layer whose packed weight is kept (one copy of the weights in all)
PACKED_SHAPES = 1

#: calls of one shape with the plain weight before it is packed: oneDNN re-lays it out per call
#: into the same layout, so the results are the same bits, and a one-image run packs nothing
PACK_AFTER_CALLS = 1

Padding = tuple[int, int, int, int]  # top, bottom, left, right

_MKLDNN = torch.ops.mkldnn
_HAS_PACKED_OPS = all(
    hasattr(_MKLDNN, name)
    for name in ("_reorder_convolution_weight", "_convolution_pointwise",
                 "_reorder_convolution_transpose_weight", "_convolution_transpose_pointwise")
)


def _autocast_dtype(conv: nn.Conv2d | nn.ConvTranspose2d, x: Tensor) -> torch.dtype | None:
    """The dtype a fast path computes ``conv`` of ``x`` in: the input's own without autocast;
    bf16 under bf16 autocast of an fp32 layer on a CPU with native bf16; None otherwise (the
    torch layer runs, as it does under any other autocast)."""
    if not torch.is_autocast_enabled("cpu"):
        return x.dtype if x.dtype == conv.weight.dtype else None
    if (torch.get_autocast_dtype("cpu") == torch.bfloat16
            and conv.weight.dtype == torch.float32
            and x.dtype in (torch.float32, torch.bfloat16)
            and cpu_has_bf16()):
        return torch.bfloat16
    return None


def _one_image_training(conv: nn.Conv2d | nn.ConvTranspose2d, x: Tensor) -> torch.dtype | None:
    """The dtype ``conv`` takes the matrix-product path in for ``x`` (grid size aside), or
    None where that path may not run."""
    if (graph_capture() or not torch.is_grad_enabled() or x.device.type != "cpu"
            or x.dim() != 4 or x.shape[0] != 1):
        return None
    return _autocast_dtype(conv, x)


def _packed_inference(conv: nn.Conv2d | nn.ConvTranspose2d, x: Tensor) -> torch.dtype | None:
    """The dtype ``conv`` runs ``x`` in through oneDNN with its weight packed once (fp32, or
    bf16 under bf16 autocast on a CPU with native bf16), or None where it may not."""
    if not (
        _HAS_PACKED_OPS
        and not torch.is_grad_enabled()
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and x.device.type == "cpu"
        and x.dim() == 4
        and x.shape[0] > 0
        and conv.weight.dtype == torch.float32
        and conv.weight.device.type == "cpu"
        and not graph_capture()
    ):
        return None
    dtype = _autocast_dtype(conv, x)
    return dtype if dtype in (torch.float32, torch.bfloat16) else None


def _in_dtype(tensor: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """``tensor`` converted to ``dtype`` through autograd (as autocast converts), or None."""
    return None if tensor is None else tensor.to(dtype)


def _conv_padding(conv: nn.Conv2d) -> Padding:
    """The zero padding of each side, with ``"valid"`` / ``"same"`` spelled out as torch does."""
    if conv.padding == "valid":
        return 0, 0, 0, 0
    if conv.padding == "same":  # stride 1: k - 1 in all, the odd pixel on the bottom/right
        kh, kw = conv.kernel_size
        return (kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2
    ph, pw = conv.padding
    return ph, ph, pw, pw


@dataclass
class _Packed:
    """A layer's weight in oneDNN's layout, per input shape, and the weight it was made from."""

    stamp: tuple[int, int, int]
    #: the weight and bias per dtype: rewritten (sub-pixel form) and/or converted (bf16)
    dense: dict[torch.dtype, tuple[Tensor, Tensor | None]] = field(default_factory=dict)
    by_shape: dict[tuple, Tensor] = field(default_factory=dict)  # per input shape and dtype
    calls: dict[tuple, int] = field(default_factory=dict)  # unpacked calls per shape and dtype

    def weights(self, conv: nn.Module, dtype: torch.dtype,
                rewrite=None) -> tuple[Tensor, Tensor | None]:
        """``conv``'s weight and bias in ``dtype``, rewritten by ``rewrite`` first if given;
        made once per dtype (the fp32 ones unmade where there is nothing to rewrite)."""
        if rewrite is None and dtype == conv.weight.dtype:
            return conv.weight, conv.bias
        kept = self.dense.get(dtype)
        if kept is None:
            weight, bias = (conv.weight, conv.bias) if rewrite is None else rewrite()
            kept = self.dense[dtype] = (weight.to(dtype),
                                        None if bias is None else bias.to(dtype))
        return kept


class _PackCache:
    """Packed weights of fast layers, dropped with the layer or when its weight changes.

    A weight counts as changed when it is another tensor, its storage moved, or its version
    counter moved: every in-place update through autograd-visible tensors bumps it (optimizer
    steps, ``load_state_dict``, ``nn.init``). A write through ``weight.data``, or into a
    weight made under ``torch.inference_mode`` (which has no counter), does not; call
    :func:`release_packed_weights` after one.
    """

    def __init__(self) -> None:
        self._entries: weakref.WeakKeyDictionary[nn.Module, _Packed] = (
            weakref.WeakKeyDictionary()
        )

    def entry(self, conv: nn.Module) -> _Packed:
        weight = conv.weight
        # inference tensors (made under torch.inference_mode) keep no version counter
        version = -1 if weight.is_inference() else weight._version
        stamp = (id(weight), version, weight.data_ptr())
        entry = self._entries.get(conv)
        if entry is None or entry.stamp != stamp:
            entry = self._entries[conv] = _Packed(stamp)
        return entry

    def release(self, conv: nn.Module) -> None:
        self._entries.pop(conv, None)


_PACKS = _PackCache()


def _packed_for(entry: _Packed, x: Tensor, weight: Tensor, pack) -> Tensor:
    """The weight to hand oneDNN for ``x``: packed for its shape once the shape recurs."""
    key = (*x.shape, x.dtype)
    packed = entry.by_shape.get(key)
    if packed is not None:
        return packed
    calls = entry.calls.get(key, 0)
    if calls < PACK_AFTER_CALLS:
        entry.calls = {key: calls + 1}
        return weight
    if len(entry.by_shape) >= PACKED_SHAPES:
        entry.by_shape.pop(next(iter(entry.by_shape)))
    packed = entry.by_shape[key] = pack(list(x.shape))
    return packed


def _packed_conv2d(
    conv: nn.Conv2d, x: Tensor, weight: Tensor, bias: Tensor | None, entry: _Packed,
    padding: list[int], stride: list[int], dilation: list[int],
) -> Tensor:
    """``conv2d`` on channels-last ``x`` with ``weight`` packed once per input shape (``x`` is
    converted to the weight's dtype)."""
    x = x.to(weight.dtype).contiguous(memory_format=torch.channels_last)
    packed = _packed_for(entry, x, weight, lambda shape: _MKLDNN._reorder_convolution_weight(
        weight, padding, stride, dilation, 1, shape))
    return _MKLDNN._convolution_pointwise(x, packed, bias, padding, stride, dilation, 1, "none",
                                          [], None)


def subpixel_weight(
    weight: Tensor, bias: Tensor | None, stride: int, padding: int
) -> tuple[Tensor, Tensor | None]:
    """Rewrite a transposed convolution as a stride-1 convolution followed by a pixel shuffle.

    Output pixel ``o = stride * q + r`` of a transposed convolution sums the inputs ``q - d``
    times kernel tap ``stride * d + r + padding``, over the ``d`` that keep the tap inside the
    kernel. For each phase ``r`` (per axis) that is a correlation over ``q``, so all
    ``stride**2`` phases together are one convolution with ``stride**2 * out`` output
    channels, channel ``c * stride**2 + ry * stride + rx`` holding phase ``(ry, rx)`` of output
    channel ``c``: the order :func:`torch.nn.functional.pixel_shuffle` interleaves. Its
    kernel spans every ``d`` any phase uses; taps a phase does not use are zero.

    Args:
        weight: the transposed convolution's weight ``(in, out, k, k)``.
        bias: its bias ``(out,)``, or None.
        stride: its stride (both axes).
        padding: its padding (both axes).

    Returns:
        The convolution's weight ``(stride**2 * out, in, t, t)`` and bias. Its input needs
        ``d_max`` zero rows and columns before and ``extra / stride - 1 - d_min`` after, where
        the transposed convolution's output is ``stride * (input - 1) + extra``.
    """
    in_channels, out_channels, k, _ = weight.shape
    d_min, d_max = _subpixel_offsets(k, stride, padding)
    taps = d_max - d_min + 1
    dense = weight.new_zeros(out_channels, stride, stride, in_channels, taps, taps)
    for ry in range(stride):
        for ty in range(taps):
            ky = stride * (d_max - ty) + ry + padding
            if not 0 <= ky < k:
                continue
            for rx in range(stride):
                for tx in range(taps):
                    kx = stride * (d_max - tx) + rx + padding
                    if 0 <= kx < k:
                        dense[:, ry, rx, :, ty, tx] = weight[:, :, ky, kx].t()
    dense = dense.reshape(out_channels * stride * stride, in_channels, taps, taps)
    phase_bias = None if bias is None else bias.repeat_interleave(stride * stride)
    return dense, phase_bias


def _subpixel_offsets(k: int, stride: int, padding: int) -> tuple[int, int]:
    """Smallest and largest input offset ``d`` any phase uses (tap ``stride*d + r + padding``)."""
    offsets = [d for r in range(stride) for d in range(-k, k + 1)
               if 0 <= stride * d + r + padding < k]
    return min(offsets), max(offsets)


class FastConv2d(nn.Conv2d):
    """:class:`torch.nn.Conv2d` with faster CPU paths (see the module doc)."""

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return self._conv_forward(x, self.weight, self.bias)
        return self._forward_eager(x)

    @torch.jit.unused
    def _forward_eager(self, x: Tensor) -> Tensor:
        top, bottom, left, right = _conv_padding(self)
        dtype = _packed_inference(self, x)
        if dtype is not None and top == bottom and left == right:
            entry = _PACKS.entry(self)
            weight, bias = entry.weights(self, dtype)
            return _packed_conv2d(self, x, weight, bias, entry, [top, left], list(self.stride),
                                  list(self.dilation))
        dtype = _one_image_training(self, x)
        if dtype is None:
            return super().forward(x)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        h = (x.shape[-2] + top + bottom - kh) // sh + 1
        w = (x.shape[-1] + left + right - kw) // sw + 1
        if h * w > SMALL_GRID:
            return super().forward(x)
        if top != bottom or left != right:
            x, top, left = F.pad(x, (left, right, top, bottom)), 0, 0
        with torch.autocast("cpu", enabled=False):
            return conv2d_product(x.to(dtype), _in_dtype(self.weight, dtype),
                                  _in_dtype(self.bias, dtype), self.kernel_size, self.stride,
                                  (top, left), (h, w))


class FastConvTranspose2d(nn.ConvTranspose2d):
    """:class:`torch.nn.ConvTranspose2d` with faster CPU paths (see the module doc)."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if torch.jit.is_scripting():
            padding = self._output_padding(x, output_size, self.stride, self.padding,
                                           self.kernel_size, 2, self.dilation)
            return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                      padding, self.groups, self.dilation)
        return self._forward_eager(x, output_size)

    @torch.jit.unused
    def _forward_eager(self, x: Tensor, output_size: list[int] | None) -> Tensor:
        if output_size is not None:
            return super().forward(x, output_size)
        dtype = _packed_inference(self, x)
        if dtype is not None:
            if self._subpixel_geometry() is not None:
                return self._subpixel(x, dtype)
            return self._packed(x, dtype)
        dtype = _one_image_training(self, x)
        if dtype is None:
            return super().forward(x)
        h_in, w_in = x.shape[-2:]
        if h_in * w_in > SMALL_GRID:
            return super().forward(x)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        (ph, pw), (oh, ow) = self.padding, self.output_padding
        h = (h_in - 1) * sh - 2 * ph + kh + oh
        w = (w_in - 1) * sw - 2 * pw + kw + ow
        with torch.autocast("cpu", enabled=False):
            return conv_transpose2d_product(x.to(dtype), _in_dtype(self.weight, dtype),
                                            _in_dtype(self.bias, dtype), self.kernel_size,
                                            self.stride, self.padding, (h, w))

    def _packed(self, x: Tensor, dtype: torch.dtype) -> Tensor:
        x = x.to(dtype).contiguous(memory_format=torch.channels_last)
        padding, output_padding = list(self.padding), list(self.output_padding)
        stride, dilation = list(self.stride), list(self.dilation)
        entry = _PACKS.entry(self)
        weight, bias = entry.weights(self, dtype)
        packed = _packed_for(entry, x, weight, lambda shape: (
            _MKLDNN._reorder_convolution_transpose_weight(
                weight, padding, output_padding, stride, dilation, 1, shape)))
        return _MKLDNN._convolution_transpose_pointwise(
            x, packed, bias, padding, output_padding, stride, dilation, 1, "none", [], None)

    def _subpixel_geometry(self) -> tuple[int, int, int] | None:
        """``(stride, pad before, pad after)`` when the sub-pixel form applies and pays."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        (ph, pw), (oh, ow) = self.padding, self.output_padding
        if (self.out_channels >= SUBPIXEL_MAX_CHANNELS or kh != kw or sh != sw or ph != pw
                or oh != ow or sh < 2):
            return None
        extra = kh + oh - 2 * ph  # output = stride * (input - 1) + extra
        if extra % sh:
            return None  # the phases would differ in length
        d_min, d_max = _subpixel_offsets(kh, sh, ph)
        before = d_max
        after = extra // sh - 1 - d_min  # output stride * (input - 1 + extra / stride)
        if before < 0 or after < 0:
            return None
        return sh, before, after

    def _subpixel(self, x: Tensor, dtype: torch.dtype) -> Tensor:
        stride, before, after = self._subpixel_geometry()
        entry = _PACKS.entry(self)
        weight, bias = entry.weights(self, dtype, lambda: subpixel_weight(
            self.weight, self.bias, stride, self.padding[0]))
        if before != after:
            x = F.pad(x, (before, after, before, after))
            before = 0
        out = _packed_conv2d(self, x, weight, bias, entry, [before, before], [1, 1], [1, 1])
        return F.pixel_shuffle(out, stride)


_FAST: dict[type[nn.Module], type[nn.Module]] = {
    nn.Conv2d: FastConv2d,
    nn.ConvTranspose2d: FastConvTranspose2d,
}
_PLAIN = {fast: plain for plain, fast in _FAST.items()}


def _eligible(module: nn.Module) -> bool:
    """Whether ``module`` is a plain torch convolution the fast path can stand in for."""
    return (
        type(module) in _FAST
        and cpu_only(module)  # never a CUDA layer
        and module.groups == 1
        and all(d == 1 for d in module.dilation)
        and module.padding_mode == "zeros"
    )


def use_cpu_fast_path(net: nn.Module) -> nn.Module:
    """Switch ``net``'s eligible convolutions to the fast CPU paths, in place; return ``net``.

    Eligible are modules whose type is exactly ``nn.Conv2d`` or ``nn.ConvTranspose2d`` (not a
    subclass) with one group, no dilation and zero padding mode, ``net`` itself included. They
    become :class:`FastConv2d` / :class:`FastConvTranspose2d` by a change of class: parameters,
    buffers, hooks and ``state_dict`` are untouched. Layers off the CPU (CUDA) are left as they
    are. Idempotent.
    """
    for module in net.modules():
        if _eligible(module):
            module.__class__ = _FAST[type(module)]
    return net


@contextmanager
def cpu_fast_path(net: nn.Module) -> Iterator[nn.Module]:
    """:func:`use_cpu_fast_path` for the ``with`` block only; the switched layers switch back.

    Layers that were fast before the block stay fast; packed weights are kept after the block
    (for as long as the layer lives and its weight is unchanged), so the next block reuses them.
    """
    switched = [module for module in net.modules() if _eligible(module)]
    for module in switched:
        module.__class__ = _FAST[type(module)]
    try:
        yield net
    finally:
        for module in switched:
            module.__class__ = _PLAIN[type(module)]


def release_packed_weights(net: nn.Module) -> None:
    """Drop the packed weights kept for ``net``'s fast layers (they are rebuilt when needed)."""
    for module in net.modules():
        _PACKS.release(module)


def restore_plain_layers(net: nn.Module) -> nn.Module:
    """Undo :func:`use_cpu_fast_path`: fast layers of ``net`` become plain torch layers again."""
    release_packed_weights(net)
    for module in net.modules():
        plain = _PLAIN.get(type(module))
        if plain is not None:
            module.__class__ = plain
    return net
