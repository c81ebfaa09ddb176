"""One image's convolution on a small grid as matrix products, forward and backward.

For a single image whose grid has few positions (the inner layers of a U-Net at batch size 1),
a convolution is one matrix product between the weight, seen as a matrix, and the image's
columns (``unfold``); a transposed convolution is the reverse product followed by ``fold``.
Which way round each product is written matters more than its FLOPs here (MKL, AMD AVX2,
512-1024 x 8192 weights): a product with the transposed weight, a view BLAS reads column by
column, runs up to 5x slower than the same product read row by row when the grid has 1-4
positions, but 1.3-1.6x faster from 16 positions on (:func:`_weight_t_times` picks); and a
weight gradient from few positions (a 16-32 MB output of a thin product) is written 2x faster
in blocks of rows that stay in cache (:func:`_thin_product`).

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

#: positions up to which a weight gradient is computed in blocks of :data:`GRADIENT_ROWS` rows
THIN_PRODUCT_MAX = 64

#: rows per block of a thin product: each block's output (a 256 KB-1 MB slice of a 16-32 MB
#: weight gradient) stays in cache while it is written; 2x faster than one MKL call there
GRADIENT_ROWS = 64


def _weight_t_times(weight: Tensor, m: Tensor) -> Tensor:
    """``weight^T @ m`` (``[A, B]``, ``[A, L]`` -> ``[B, L]``), in the faster orientation."""
    if m.shape[1] >= TRANSPOSED_FROM:
        return weight.t() @ m
    return (m.t() @ weight).t()


def _thin_product(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for a thin inner dimension (a weight gradient from a few grid positions).

    Differentiable (a plain product) when autograd records the backward pass itself.
    """
    if torch.is_grad_enabled() or a.shape[1] > THIN_PRODUCT_MAX:
        return a @ b
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
