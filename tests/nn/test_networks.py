"""Every registered network, built small: shapes, value range, gradients, norms, dropout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from img2img.nn.choices import NORMS
from img2img.nn.registry import (
    create_discriminator,
    create_generator,
    list_discriminators,
    list_generators,
)

CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def _bias_before_instance_norm(net: nn.Module) -> set[str]:
    """Biases that InstanceNorm cancels: their gradient is zero by construction."""
    names = set()
    for prefix, module in net.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (name, layer), (_, following) in zip(children, children[1:], strict=False):
            if isinstance(layer, CONVS) and layer.bias is not None and isinstance(
                following, nn.InstanceNorm2d
            ):
                names.add(f"{prefix}.{name}.bias" if prefix else f"{name}.bias")
    return names


def _backward_and_check_grads(net: nn.Module, out: torch.Tensor) -> None:
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * weights).sum().backward()
    cancelled = _bias_before_instance_norm(net)
    params = dict(net.named_parameters())
    for name, p in params.items():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), name
        if name in cancelled:  # zero up to rounding, next to its conv weight's gradient
            weight_grad = params[name.removesuffix("bias") + "weight"].grad
            assert p.grad.abs().max() < 1e-3 * weight_grad.abs().max(), name
        else:
            assert p.grad.abs().sum().item() > 0, f"{name} got a zero gradient"


def _generator_sizes(net: nn.Module) -> list[tuple[int, int]]:
    """The smallest input, and a wider one two size multiples across."""
    side = net.min_size
    return [(side, side), (side, side + 2 * net.size_multiple)]


@pytest.mark.parametrize("size", [0, 1], ids=["smallest", "wide"])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", list_generators())
def test_generator_forward_backward(name: str, norm: str, size: int) -> None:
    torch.manual_seed(0)
    net = create_generator(name, ngf=4, norm=norm, dropout=True)
    h, w = _generator_sizes(net)[size]
    batch = 1 if h * w >= 256 * 256 else 2
    x = torch.rand(batch, net.in_channels, h, w) * 2 - 1
    out = net.train()(x)
    assert out.shape == (batch, 3, h, w)
    assert torch.isfinite(out).all()
    assert out.abs().max().item() <= 1.0
    _backward_and_check_grads(net, out)


@pytest.mark.parametrize(("in_ch", "out_ch"), [(1, 1), (1, 3), (3, 1)])
@pytest.mark.parametrize("name", list_generators())
def test_generator_channels(name: str, in_ch: int, out_ch: int) -> None:
    net = create_generator(name, in_channels=in_ch, out_channels=out_ch, ngf=2).eval()
    side = net.min_size
    with torch.no_grad():
        out = net(torch.randn(1, in_ch, side, side))
    assert out.shape == (1, out_ch, side, side)


def test_generators_accept_non_square_inputs() -> None:
    net = create_generator("resnet_6blocks", ngf=2).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 12, 20)).shape == (1, 3, 12, 20)
    net = create_generator("unet_128", ngf=2).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 128, 256)).shape == (1, 3, 128, 256)


def _d_output_side(net: nn.Module, side: int) -> int:
    from img2img.nn.patchgan import NLayerDiscriminator, output_size

    return output_size(side, net.n_layers) if isinstance(net, NLayerDiscriminator) else side


def _predictions(out: torch.Tensor | list) -> list[torch.Tensor]:
    """The prediction map of every scale (multi-scale discriminators return features too)."""
    return [out] if isinstance(out, torch.Tensor) else [scale[-1] for scale in out]


@pytest.mark.parametrize(("h", "w"), [(32, 32), (70, 48)])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", list_discriminators())
def test_discriminator_forward_backward(name: str, norm: str, h: int, w: int) -> None:
    torch.manual_seed(0)
    net = create_discriminator(name, in_channels=6, ndf=4, norm=norm)
    out = net.train()(torch.randn(2, 6, h, w))
    if isinstance(out, torch.Tensor):
        assert out.shape == (2, 1, _d_output_side(net, h), _d_output_side(net, w))
    for pred in _predictions(out):
        assert pred.shape[:2] == (2, 1) and torch.isfinite(pred).all()
    _backward_and_check_grads(net, torch.cat([p.flatten() for p in _predictions(out)]))


@pytest.mark.parametrize("in_ch", [1, 2, 3])
@pytest.mark.parametrize("name", list_discriminators())
def test_discriminator_channels(name: str, in_ch: int) -> None:
    net = create_discriminator(name, in_channels=in_ch, ndf=2)
    for pred in _predictions(net(torch.randn(1, in_ch, 40, 40))):
        assert pred.shape[:2] == (1, 1)


@pytest.mark.parametrize(("n_layers", "side", "out_side"), [(1, 16, 6), (2, 32, 6), (4, 64, 2),
                                                            (5, 128, 2)])
def test_n_layers_output_size(n_layers: int, side: int, out_side: int) -> None:
    net = create_discriminator("n_layers", n_layers=n_layers, ndf=2, in_channels=3)
    assert net(torch.randn(1, 3, side, side)).shape == (1, 1, out_side, out_side)


def test_patchgan_filter_widths_cap_at_eight_ndf() -> None:
    net = create_discriminator("n_layers", n_layers=5, ndf=2, in_channels=3, init_type=None)
    widths = [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert widths == [2, 4, 8, 16, 16, 16, 1]


@pytest.mark.parametrize(("n_layers", "field"), [(1, 16), (3, 70), (5, 286)])
def test_receptive_field_matches_the_paper(n_layers: int, field: int) -> None:
    from img2img.nn.patchgan import receptive_field

    assert receptive_field(n_layers) == field
    net = create_discriminator("n_layers", n_layers=n_layers, ndf=2, init_type=None)
    assert net.receptive_field == field


def test_receptive_field_is_what_one_output_sees() -> None:
    """Perturb pixels just inside/outside the 70x70 patch of the top-left output."""
    torch.manual_seed(0)
    net = create_discriminator("basic", ndf=2, in_channels=1, norm="none").eval()
    x = torch.randn(1, 1, 96, 96)
    with torch.no_grad():
        base = net(x)[0, 0, 0, 0]
        inside, outside = x.clone(), x.clone()
        # padding 1 at each of the 5 layers: the top-left field spans rows -23 .. 46
        inside[..., 46, 0] += 10.0
        outside[..., 47, 0] += 10.0
        assert net(inside)[0, 0, 0, 0] != base
        assert net(outside)[0, 0, 0, 0] == base


def _dropouts(net: nn.Module) -> int:
    return sum(isinstance(m, nn.Dropout) for m in net.modules())


@pytest.mark.parametrize(("name", "count"), [("unet_128", 2), ("unet_256", 3),
                                             ("resnet_6blocks", 6)])
def test_dropout_layers(name: str, count: int) -> None:
    assert _dropouts(create_generator(name, ngf=2, dropout=True, init_type=None)) == count
    assert _dropouts(create_generator(name, ngf=2, dropout=False, init_type=None)) == 0


@pytest.mark.parametrize("name", ["unet_128", "resnet_6blocks"])
def test_dropout_visible_in_train_mode_only(name: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 128, 128) if name == "unet_128" else torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        net = create_generator(name, ngf=4, dropout=True).train()
        assert not torch.equal(net(x), net(x))
        net.eval()
        assert torch.equal(net(x), net(x))
        plain = create_generator(name, ngf=4, dropout=False).train()
        assert torch.equal(plain(x), plain(x))


def test_unet_dropout_is_in_the_inner_eight_ngf_blocks() -> None:
    from img2img.nn.unet import UnetSkipBlock

    net = create_generator("unet_256", ngf=2, dropout=True, init_type=None)
    with_dropout = [
        block for block in net.modules()
        if isinstance(block, UnetSkipBlock) and isinstance(block.model[-1], nn.Dropout)
    ]
    assert len(with_dropout) == 3
    for block in with_dropout:
        down = block.model[1]
        assert (down.in_channels, down.out_channels) == (16, 16)  # ngf * 8
        assert isinstance(block.model[3], UnetSkipBlock)  # never the innermost


def test_unet_skip_carries_the_activated_input() -> None:
    """As in the reference network, the inner blocks concatenate LeakyReLU(x), not x."""
    torch.manual_seed(0)
    net = create_generator("unet_128", ngf=2, norm="none").eval()
    block = net.model.model[1]  # the first inner block
    x = torch.randn(1, 2, 64, 64)
    with torch.no_grad():
        out = block(x.clone())
    torch.testing.assert_close(out[:, :2], nn.functional.leaky_relu(x, 0.2))
    assert out.shape == (1, 4, 64, 64)


def _kinds(modules: nn.Module) -> list[type]:
    return [type(m) for m in modules]


def test_unet_layout_per_level() -> None:
    from img2img.nn.unet import UnetSkipBlock

    net = create_generator("unet_128", ngf=2, norm="batch", init_type=None)
    outer = net.model.model
    assert _kinds(outer) == [nn.Conv2d, UnetSkipBlock, nn.ReLU, nn.ConvTranspose2d,
                                        nn.Tanh]
    block, levels = outer[1], 2
    while isinstance(block.model[3], UnetSkipBlock):
        assert _kinds(block.model) == [nn.LeakyReLU, nn.Conv2d, nn.BatchNorm2d,
                                                  UnetSkipBlock, nn.ReLU, nn.ConvTranspose2d,
                                                  nn.BatchNorm2d]
        assert block.model[0].negative_slope == 0.2
        block, levels = block.model[3], levels + 1
    assert _kinds(block.model) == [nn.LeakyReLU, nn.Conv2d, nn.ReLU,
                                              nn.ConvTranspose2d, nn.BatchNorm2d]
    assert levels == 7


def test_resnet_padding_types() -> None:
    x = torch.randn(1, 3, 16, 16)
    for padding, pads in (("reflect", nn.ReflectionPad2d), ("replicate", nn.ReplicationPad2d)):
        net = create_generator("resnet_6blocks", ngf=2, padding_type=padding).eval()
        block = net.model[10].conv_block
        assert isinstance(block[0], pads) and isinstance(block[4], pads)
        assert net(x).shape == x.shape
    net = create_generator("resnet_6blocks", ngf=2, padding_type="zero").eval()
    block = net.model[10].conv_block
    assert [type(m) for m in block] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Conv2d,
                                        nn.BatchNorm2d]
    assert block[0].padding == (1, 1)
    assert net(x).shape == x.shape


def test_resnet_block_is_residual() -> None:
    net = create_generator("resnet_6blocks", ngf=2, norm="none", init_type=None).eval()
    block = net.model[10]
    for p in block.parameters():
        nn.init.zeros_(p)
    x = torch.randn(1, 8, 5, 5)
    with torch.no_grad():
        assert torch.equal(block(x), x)


def test_resnet_upsampling_uses_output_padding() -> None:
    net = create_generator("resnet_9blocks", ngf=2, init_type=None)
    ups = [m for m in net.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.stride, m.output_padding, m.kernel_size) for m in ups] == [
        ((2, 2), (1, 1), (3, 3))] * 2


def test_unknown_padding_type_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="'circular'.*reflect, replicate, zero"):
        create_generator("resnet_6blocks", padding_type="circular")


@pytest.mark.parametrize("create", [create_generator, create_discriminator])
def test_unknown_norm_fails_listing_valid_ones(create) -> None:
    name = "unet_128" if create is create_generator else "basic"
    with pytest.raises(ValueError, match="'layer'.*batch, syncbatch, instance, none"):
        create(name, norm="layer")


def test_unknown_init_type_fails_listing_valid_ones() -> None:
    with pytest.raises(ValueError, match="'zeros'.*normal, xavier, kaiming, orthogonal"):
        create_generator("resnet_6blocks", ngf=2, init_type="zeros")


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: create_generator("unet_128", ngf=0), "ngf: 0"),
        (lambda: create_generator("resnet_6blocks", in_channels=0), "in_channels: 0"),
        (lambda: create_discriminator("n_layers", n_layers=0), "n_layers: 0"),
        (lambda: create_discriminator("pixel", ndf=-1), "ndf: -1"),
    ],
)
def test_bad_sizes_fail_naming_the_field(build, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


def test_unet_needs_five_downsamplings() -> None:
    from img2img.nn.unet import UnetGenerator

    with pytest.raises(ValueError, match="num_downs: 4 .*>= 5"):
        UnetGenerator(num_downs=4)
    assert UnetGenerator(ngf=1, num_downs=5).name == "unet_32"
