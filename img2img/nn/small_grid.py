"""One image's convolution on a small grid as matrix products, forward and backward.

For a single image whose grid has few positions (the inner layers of a U-Net at batch size 1),
a convolution is one matrix product between the weight, seen as a matrix, and the image's
columns (``unfold``); a transposed convolution is the reverse product followed by ``fold``.
Which library computes each product, and which way round it is written, matters more than its
FLOPs here (AMD AVX2, 512-1024 x 8192 weights): with up to 64 positions, oneDNN's matrix
product computes the products whose output has a row per position and the weight gradients
2-2.4x faster than MKL, which packs the whole 16-32 MB weight for a handful of rows; for
larger grids MKL is faster, and it reads the weight transposed (a view BLAS reads column by
column) 1.3-1.6x faster from 16 positions on (:func:`_weight_t_times` picks). Where oneDNN is
not available, a weight gradient from few positions is written by MKL in blocks of rows that
stay in cache, 2x faster than in one call (:func:`_thin_product`). In bf16 (a CPU with native
bf16, under autocast) one ``mm`` per product is fastest throughout (AMD Zen 4, 512 x 8192
weights, 1-256 positions); a product that ``fold`` reads is written in ``fold``'s order from
16 positions on, as in fp32 (the weight read transposed): the other order leaves a transposed
result that ``fold`` copies first, 1.1-1.5x slower in all (Zen 4, 512-1024 x 4096-8192
weights, 16-256 positions; 13 ms of a 0.65 s bf16 pix2pix step at one thread).

The backward pass is built from differentiable operations on the saved inputs (the image and
the weight, not the columns made from them), so gradients of gradients (a gradient penalty)
are exact as well.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx

__all__ = ["conv2d_product", "conv_transpose2d_product"]

Pair = tuple[int, int]

#: grid positions from which ``weight^T @ m`` reads the weight as BLAS's transposed operand:
#: below, MKL runs that form up to 2x slower than ``(m^T @ weight)^T``; from 16 positions up,
#: 1.3-1.6x faster (AMD EPYC AVX2, 512-1024 x 8192 weights, two threads)
TRANSPOSED_FROM = 16

#: positions up to which a weight gradient is a thin product (a rank-L update of the weight)
THIN_PRODUCT_MAX = 64

#: rows per block of a thin product when MKL computes it: each block's output (a 256 KB-1 MB
#: slice of a 16-32 MB weight gradient) stays in cache while it is written; 2x faster than one
#: MKL call there
GRADIENT_ROWS = 64

#: positions up to which products with few rows (or a thin inner dimension) go through
#: oneDNN's matrix product: 2-2.4x faster there than MKL's (which packs the whole weight for a
#: handful of rows), slower for larger grids (AMD EPYC AVX2, 512-1024 x 8192, two threads)
ONEDNN_MAX = 64

_ONEDNN_LINEAR = getattr(torch.ops.mkldnn, "_linear_pointwise", None)


def _onednn(*tensors: Tensor) -> bool:
    """Whether oneDNN's matrix product may compute a product of ``tensors`` (fp32 on the CPU,
    outside autograd: it has no derivative)."""
    return (
        _ONEDNN_LINEAR is not None
        and not torch.is_grad_enabled()
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and all(t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors)
    )


def _onednn_product(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` through oneDNN (its linear layer: ``a @ weight^T`` with ``weight = b^T``)."""
    return _ONEDNN_LINEAR(a, b.t(), None, "none", [], "")


def _weight_t_times(weight: Tensor, m: Tensor) -> Tensor:
    """``weight^T @ m`` (``[A, B]``, ``[A, L]`` -> ``[B, L]``), in the fastest form for L
    (fp32 or bf16; from :data:`TRANSPOSED_FROM` positions on the result is contiguous, as
    ``fold`` reads it)."""
    if m.shape[1] <= ONEDNN_MAX and _onednn(weight, m):
        return _onednn_product(m.t(), weight).t()
    if m.shape[1] >= TRANSPOSED_FROM:
        return weight.t() @ m
    return (m.t() @ weight).t()


def _thin_product(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for a thin inner dimension (a weight gradient from a few grid positions).

    Differentiable (a plain product) when autograd records the backward pass itself.
    """
    if torch.is_grad_enabled() or a.shape[1] > THIN_PRODUCT_MAX or a.dtype == torch.bfloat16:
        return a @ b  # bf16: one call is 3-10x faster than blocks of rows
    if _onednn(a, b):
        return _onednn_product(a, b)
    out = a.new_empty(a.shape[0], b.shape[1])
    for start in range(0, a.shape[0], GRADIENT_ROWS):
        rows = slice(start, start + GRADIENT_ROWS)
        torch.mm(a[rows], b, out=out[rows])
    return out


class _ConvProduct(torch.autograd.Function):
    """``conv2d`` of one image (no dilation, one group): weight @ columns."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, weight: Tensor, bias: Tensor | None,
                kernel: Pair, stride: Pair, padding: Pair) -> Tensor:
        cols = F.unfold(x, kernel, padding=padding, stride=stride)[0]  # (in * kh * kw, L)
        w = weight.reshape(weight.shape[0], -1)
        ctx.save_for_backward(x, weight)
        ctx.geometry = (kernel, stride, padding)
        return w @ cols if bias is None else torch.addmm(bias.unsqueeze(1), w, cols)  # (out, L)

    @staticmethod
    def backward(ctx: FunctionCtx, grad: Tensor):
        x, weight = ctx.saved_tensors
        kernel, stride, padding = ctx.geometry
        g = grad.reshape(weight.shape[0], -1)  # (out, L)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            cols = _weight_t_times(weight.reshape(weight.shape[0], -1), g)  # (in*kh*kw, L)
            grad_x = F.fold(cols.unsqueeze(0), x.shape[-2:], kernel, padding=padding,
                            stride=stride)
        if ctx.needs_input_grad[1]:
            cols = F.unfold(x, kernel, padding=padding, stride=stride)[0]
            grad_w = _thin_product(g, cols.t()).reshape(weight.shape)
        if ctx.needs_input_grad[2]:
            grad_b = g.sum(1)
        return grad_x, grad_w, grad_b, None, None, None


class _TransposedProduct(torch.autograd.Function):
    """``conv_transpose2d`` of one image (no dilation, one group): fold(image^T @ weight)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, weight: Tensor, bias: Tensor | None,
                kernel: Pair, stride: Pair, padding: Pair, size: Pair) -> Tensor:
        rows = x.reshape(weight.shape[0], -1)  # (in, L)
        cols = _weight_t_times(weight.reshape(weight.shape[0], -1), rows)  # (out*kh*kw, L)
        out = F.fold(cols.unsqueeze(0), size, kernel, padding=padding, stride=stride)
        if bias is not None:
            out += bias.reshape(1, -1, 1, 1)
        ctx.save_for_backward(x, weight)
        ctx.geometry = (kernel, stride, padding)
        return out

    @staticmethod
    def backward(ctx: FunctionCtx, grad: Tensor):
        x, weight = ctx.saved_tensors
        kernel, stride, padding = ctx.geometry
        # output padding < stride: unfold finds exactly the input's grid again
        cols = F.unfold(grad, kernel, padding=padding, stride=stride)[0]  # (out * kh * kw, L)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = (weight.reshape(weight.shape[0], -1) @ cols).reshape(x.shape)
        if ctx.needs_input_grad[1]:
            grad_w = _thin_product(x.reshape(weight.shape[0], -1), cols.t()).reshape(weight.shape)
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None, None


def conv2d_product(x: Tensor, weight: Tensor, bias: Tensor | None, kernel: Pair,
                   stride: Pair, padding: Pair, size: Pair) -> Tensor:
    """``F.conv2d`` of ``x`` (one image, ``[1, C, H, W]``) with output grid ``size``."""
    # shaped outside the function: an in-place layer may follow, which a view made inside
    # a custom function forbids
    return _ConvProduct.apply(x, weight, bias, kernel, stride, padding).reshape(1, -1, *size)


def conv_transpose2d_product(x: Tensor, weight: Tensor, bias: Tensor | None, kernel: Pair,
                             stride: Pair, padding: Pair, size: Pair) -> Tensor:
    """``F.conv_transpose2d`` of ``x`` (one image) with output grid ``size`` (output padding
    below the stride, as torch requires)."""
    return _TransposedProduct.apply(x, weight, bias, kernel, stride, padding, size)
