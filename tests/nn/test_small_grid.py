"""Small-grid matrix products: torch's convolutions, their gradients and gradients of gradients."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from img2img.nn import small_grid
from img2img.nn.small_grid import conv2d_product, conv_transpose2d_product

Conv = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _derivatives(conv: Conv, x, w, b) -> list[torch.Tensor]:
    """The output, its gradients, and the gradients of a gradient penalty on the input."""
    out = conv(x, w, b)
    seed = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    grads = torch.autograd.grad((out * seed).sum(), (x, w, b), create_graph=True)
    penalty = grads[0].pow(2).sum() + (grads[1] * grads[1].flip(0)).sum()
    return [out, *grads, *torch.autograd.grad(penalty, (x, w))]  # b: no second order


def _assert_same(ours: Conv, torch_conv: Conv, x_shape, w_shape, channels_out: int) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*x_shape, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(*w_shape, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(channels_out, generator=g, dtype=torch.float64, requires_grad=True)
    for got, expected in zip(_derivatives(ours, x, w, b), _derivatives(torch_conv, x, w, b),
                             strict=True):
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize(("stride", "padding"), [((2, 2), (1, 1)), ((1, 2), (0, 1))])
def test_conv_product_is_conv2d_to_second_order(stride, padding) -> None:
    size = F.conv2d(torch.zeros(1, 3, 5, 6), torch.zeros(4, 3, 3, 2), None, stride,
                    padding).shape[-2:]

    def conv(x, w, b):
        return conv2d_product(x, w, b, (3, 2), stride, padding, size)

    _assert_same(conv, lambda x, w, b: F.conv2d(x, w, b, stride, padding), (1, 3, 5, 6),
                 (4, 3, 3, 2), 4)


@pytest.mark.parametrize(("stride", "padding", "output_padding"),
                         [((2, 2), (1, 1), (0, 0)), ((2, 3), (1, 0), (1, 2))])
def test_transposed_product_is_conv_transpose2d_to_second_order(
    stride, padding, output_padding
) -> None:
    def reference(x, w, b):
        return F.conv_transpose2d(x, w, b, stride, padding, output_padding)

    size = reference(torch.zeros(1, 3, 3, 4), torch.zeros(3, 2, 4, 3), None).shape[-2:]

    def transposed(x, w, b):
        return conv_transpose2d_product(x, w, b, (4, 3), stride, padding, size)

    _assert_same(transposed, reference, (1, 3, 3, 4), (3, 2, 4, 3), 2)


def test_without_bias_and_frozen_weight_then_in_place() -> None:
    x = torch.randn(1, 3, 4, 4, requires_grad=True)
    w = torch.randn(5, 3, 2, 2)
    out = conv2d_product(x, w, None, (2, 2), (2, 2), (0, 0), (2, 2))
    torch.testing.assert_close(out, F.conv2d(x, w, None, 2))
    F.leaky_relu(out, 0.2, inplace=True).sum().backward()  # as a U-Net's next block does
    torch.testing.assert_close(x.grad, torch.autograd.grad(
        F.leaky_relu(F.conv2d(x, w, None, 2), 0.2).sum(), x)[0])


@pytest.mark.parametrize("grid", [2, 6, 10])  # positions below, within and above the thin range
def test_first_order_gradients_in_every_product_orientation(grid: int) -> None:
    """Plain backward (no graph of the gradients) takes the blocked and transposed products;
    70 channels span two blocks of rows."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 70, 2 * grid, 2 * grid, generator=g, dtype=torch.float64,
                    requires_grad=True)
    w = torch.randn(70, 70, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    down = conv2d_product(x, w, None, (4, 4), (2, 2), (1, 1), (grid, grid))
    up = conv_transpose2d_product(down, w, None, (4, 4), (2, 2), (1, 1), (2 * grid, 2 * grid))
    ours = torch.autograd.grad(up.square().sum(), (x, w))
    reference = F.conv_transpose2d(F.conv2d(x, w, None, 2, 1), w, None, 2, 1)
    torch.testing.assert_close(ours, torch.autograd.grad(reference.square().sum(), (x, w)))
    assert down.shape[-2:] == (grid, grid)


@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "mkl"])
@pytest.mark.parametrize("grid", [1, 2, 4, 8, 16])  # 1 to 256 positions
def test_float32_products_of_either_library_match_float64_convolutions(
    grid, onednn, monkeypatch
) -> None:
    """In float32 the products with few rows and the weight gradients of grids up to 64
    positions run through oneDNN (through MKL without it); both agree with torch's
    convolutions in float64."""
    calls = []
    linear = small_grid._ONEDNN_LINEAR
    if onednn:
        monkeypatch.setattr(small_grid, "_ONEDNN_LINEAR",
                            lambda *args: calls.append(1) or linear(*args))
    else:
        monkeypatch.setattr(small_grid, "_ONEDNN_LINEAR", None)
    g = torch.Generator().manual_seed(2)
    x64 = torch.randn(1, 48, 2 * grid, 2 * grid, generator=g, dtype=torch.float64)
    w64 = torch.randn(48, 80, 4, 4, generator=g, dtype=torch.float64) / 20
    v64 = torch.randn(80, 48, 4, 4, generator=g, dtype=torch.float64) / 20

    def network(x, w, v, down, up):
        return up(F.leaky_relu(down(x, w), 0.2), v)

    def ours(x, w, v):
        def down(x, w):
            return conv2d_product(x, w.transpose(0, 1).contiguous(), None, (4, 4), (2, 2),
                                  (1, 1), (grid, grid))
        def up(x, v):
            return conv_transpose2d_product(x, v, None, (4, 4), (2, 2), (1, 1),
                                            (2 * grid, 2 * grid))
        return network(x, w, v, down, up)

    def reference(x, w, v):
        return network(x, w, v, lambda x, w: F.conv2d(x, w.transpose(0, 1), None, 2, 1),
                       lambda x, v: F.conv_transpose2d(x, v, None, 2, 1))

    def gradients(fn, *tensors):
        tensors = [t.detach().requires_grad_() for t in tensors]
        out = fn(*tensors)
        return [out, *torch.autograd.grad(out.square().sum(), tensors)]

    got = gradients(ours, x64.float(), w64.float(), v64.float())
    expected = gradients(reference, x64, w64, v64)
    assert bool(calls) == (onednn and grid * grid <= small_grid.ONEDNN_MAX)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-4)
