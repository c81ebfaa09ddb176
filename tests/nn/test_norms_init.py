"""Normalisation factories, the conv-bias rule and the weight initialisation schemes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from img2img.nn.choices import INIT_TYPES, NORMS
from img2img.nn.init import init_weights
from img2img.nn.norms import conv_bias, get_norm_layer
from img2img.nn.registry import create_discriminator, create_generator


def test_batch_norm_has_affine_and_running_stats() -> None:
    layer = get_norm_layer("batch")(12)
    assert type(layer) is nn.BatchNorm2d
    assert layer.num_features == 12
    assert layer.affine and layer.track_running_stats
    assert layer.weight.shape == (12,) and layer.running_mean.shape == (12,)


def test_instance_norm_has_no_parameters_or_statistics() -> None:
    layer = get_norm_layer("instance")(5)
    assert type(layer) is nn.InstanceNorm2d
    assert layer.num_features == 5
    assert not layer.affine and not layer.track_running_stats
    assert list(layer.state_dict()) == []
    x = torch.randn(2, 5, 6, 6) * 3 + 7
    y = layer(x)
    torch.testing.assert_close(y.mean(dim=(2, 3)), torch.zeros(2, 5), atol=1e-5, rtol=0)


def test_none_norm_is_identity() -> None:
    layer = get_norm_layer("none")(8)
    x = torch.randn(1, 8, 3, 3)
    assert isinstance(layer, nn.Identity)
    assert torch.equal(layer(x), x)


def test_factories_build_fresh_layers() -> None:
    factory = get_norm_layer("batch")
    assert factory(4) is not factory(4)


@pytest.mark.parametrize(("norm", "bias"), [("batch", False), ("instance", True), ("none", False)])
def test_conv_bias(norm: str, bias: bool) -> None:
    """The reference rule: a bias only before instance norm."""
    assert conv_bias(norm) is bias


@pytest.mark.parametrize("function", [get_norm_layer, conv_bias])
def test_unknown_norm_lists_valid_ones(function) -> None:
    with pytest.raises(ValueError, match="'group'") as info:
        function("group")
    for name in NORMS:
        assert name in str(info.value)


def _probe() -> nn.Sequential:
    """Layers big enough for stable statistics, of every kind ``init_weights`` touches."""
    return nn.Sequential(
        nn.Conv2d(64, 128, 4),  # fan_in 1024, fan_out 2048
        nn.ConvTranspose2d(32, 16, 4),
        nn.Linear(300, 200),
        nn.BatchNorm2d(4096),
        nn.InstanceNorm2d(8),
    )


def _expected_std(init_type: str, weight: torch.Tensor, gain: float) -> float:
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    if init_type == "normal":
        return gain
    if init_type == "xavier":
        return gain * math.sqrt(2.0 / (fan_in + fan_out))
    if init_type == "kaiming":
        return math.sqrt(2.0 / fan_in)
    return gain / math.sqrt(weight[0].numel())  # orthogonal rows of norm gain


@pytest.mark.parametrize("init_type", INIT_TYPES)
@pytest.mark.parametrize("gain", [0.02, 0.5])
def test_init_weights_follows_the_scheme(init_type: str, gain: float) -> None:
    torch.manual_seed(0)
    net = _probe()
    assert init_weights(net, init_type, gain) is net
    conv, convt, linear, bn, _ = net
    for layer in (conv, linear):
        w = layer.weight.detach()
        expected = _expected_std(init_type, w, gain)
        assert w.mean().abs().item() < 0.05 * expected + 1e-6
        assert w.std().item() == pytest.approx(expected, rel=0.05)
    for layer in (conv, convt, linear):
        assert torch.count_nonzero(layer.bias) == 0
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=3 * gain / 64)
    assert bn.weight.std().item() == pytest.approx(gain, rel=0.05)
    assert torch.count_nonzero(bn.bias) == 0


@pytest.mark.parametrize("gain", [0.02, 1.0])
def test_orthogonal_rows_are_orthogonal_with_norm_gain(gain: float) -> None:
    net = init_weights(_probe(), "orthogonal", gain)
    w = net[0].weight.detach().reshape(128, -1)
    torch.testing.assert_close(w @ w.T, gain**2 * torch.eye(128), atol=1e-4 * max(gain**2, 1),
                               rtol=1e-3)


def test_unknown_init_type_lists_valid_ones_and_leaves_weights() -> None:
    net = _probe()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match="'uniform'") as info:
        init_weights(net, "uniform")
    for name in INIT_TYPES:
        assert name in str(info.value)
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_registry_initialises_unless_told_not_to() -> None:
    torch.manual_seed(0)
    net = create_discriminator("basic", ndf=32, init_type="normal", init_gain=0.02)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.bias is None or torch.count_nonzero(m.bias) == 0 for m in convs)
    assert convs[-2].weight.std().item() == pytest.approx(0.02, rel=0.05)

    torch.manual_seed(0)
    default = create_discriminator("basic", ndf=32, init_type=None)
    assert any(torch.count_nonzero(m.bias) > 0 for m in default.modules()
               if isinstance(m, nn.Conv2d) and m.bias is not None)


def test_generator_batch_norms_are_initialised_around_one() -> None:
    torch.manual_seed(0)
    net = create_generator("unet_128", ngf=8, init_type="normal", init_gain=0.02)
    weights = torch.cat([m.weight.detach() for m in net.modules()
                         if isinstance(m, nn.BatchNorm2d)])
    assert weights.mean().item() == pytest.approx(1.0, abs=0.005)
    assert weights.std().item() == pytest.approx(0.02, rel=0.15)
