"""The small-grid matrix-product path of the U-Net's convolutions matches torch's layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from img2img.nn.layers import SMALL_GRID, Conv2d, ConvTranspose2d


def _pair(ref: nn.Module, fast: nn.Module) -> tuple[nn.Module, nn.Module]:
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def _forward_backward(layer: nn.Module, x: torch.Tensor):
    x = x.clone().requires_grad_(True)
    y = layer(x)
    y.backward(torch.linspace(-1, 1, y.numel()).reshape(y.shape))
    grads = [x.grad] + [p.grad for p in layer.parameters()]
    return y.detach(), grads


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("size", [2, 4, 8, 32])  # 32 -> 16x16 output: the grid limit
def test_conv_matches_torch(size, bias):
    torch.manual_seed(0)
    ref, fast = _pair(nn.Conv2d(6, 5, 4, 2, 1, bias=bias), Conv2d(6, 5, 4, 2, 1, bias=bias))
    x = torch.randn(3, 6, size, size)
    (y0, g0), (y1, g1) = _forward_backward(ref, x), _forward_backward(fast, x)
    torch.testing.assert_close(y1, y0, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=2e-4)  # sums of ~3000 terms


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("size", [1, 2, 4, 16])
def test_transposed_conv_matches_torch(size, bias):
    torch.manual_seed(0)
    ref, fast = _pair(
        nn.ConvTranspose2d(6, 5, 4, 2, 1, bias=bias), ConvTranspose2d(6, 5, 4, 2, 1, bias=bias)
    )
    x = torch.randn(3, 6, size, size)
    (y0, g0), (y1, g1) = _forward_backward(ref, x), _forward_backward(fast, x)
    assert y1.shape == (3, 5, 2 * size, 2 * size)
    torch.testing.assert_close(y1, y0, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=2e-4)  # sums of ~3000 terms


@pytest.mark.parametrize("layer", [Conv2d(8, 4, 4, 2, 1), ConvTranspose2d(8, 4, 4, 2, 1)])
def test_each_image_is_computed_alone(layer):
    x = torch.randn(5, 8, 4, 4)
    batch = layer(x)
    alone = torch.cat([layer(x[i : i + 1]) for i in range(5)])
    assert torch.equal(batch, alone)


def test_large_grids_and_autocast_use_torch_path(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.nn.functional, "unfold", lambda *a, **k: calls.append(1))
    layer = Conv2d(2, 2, 4, 2, 1)
    side = 2 * int(SMALL_GRID**0.5) + 2  # output grid just above the limit
    layer(torch.randn(1, 2, side, side))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layer(torch.randn(1, 2, 4, 4))
    assert calls == []


def test_state_dict_is_torch_layout():
    assert Conv2d(3, 4, 4).state_dict().keys() == nn.Conv2d(3, 4, 4).state_dict().keys()
    assert isinstance(ConvTranspose2d(3, 4, 4), nn.ConvTranspose2d)
