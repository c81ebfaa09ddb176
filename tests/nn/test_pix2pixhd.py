"""pix2pixHD's networks: instance pooling, the local enhancer's global part, the pyramid of D."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from img2img.families.pix2pixhd.networks import (
    downsample,
    instance_mean,
    instance_means,
    instance_segments,
)
from img2img.nn import create_discriminator, create_encoder, create_generator


def _instances() -> torch.Tensor:
    """Two 8x12 maps; ids repeat across the images (26001 is two instances), 16-bit values."""
    ids = torch.zeros(2, 1, 8, 12, dtype=torch.int64)
    ids[0, 0, :, 6:] = 26001
    ids[0, 0, 2:5, 1:4] = 33000
    ids[1, 0, :4] = 26001
    ids[1, 0, 4:, 7:] = 7
    return ids


def naive_instance_mean(features: torch.Tensor, instances: torch.Tensor) -> torch.Tensor:
    """The reference's rule: for each image and each id, the mean over its pixels."""
    out = features.clone()
    for b in range(features.shape[0]):
        for i in torch.unique(instances[b]).tolist():
            mask = instances[b, 0] == i
            for c in range(features.shape[1]):
                out[b, c][mask] = features[b, c][mask].mean()
    return out


def test_instance_mean_equals_the_per_instance_loop() -> None:
    torch.manual_seed(0)
    features = torch.randn(2, 3, 8, 12)
    ids = _instances()
    torch.testing.assert_close(instance_mean(features, ids), naive_instance_mean(features, ids))


def test_instance_mean_gradient_equals_the_loop() -> None:
    torch.manual_seed(0)
    weights = torch.randn(2, 3, 8, 12)
    a = torch.randn(2, 3, 8, 12, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    (instance_mean(a, _instances()) * weights).sum().backward()
    (naive_instance_mean(b, _instances()) * weights).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_instance_segments_are_per_image() -> None:
    segments = instance_segments(_instances())
    assert segments.image.tolist() == [0, 0, 0, 1, 1, 1]
    assert segments.ids.tolist() == [0, 26001, 33000, 0, 7, 26001]
    assert segments.counts.tolist() == [48 - 9, 48, 9, 8 * 12 - 48 - 20, 20, 48]
    means = instance_means(torch.ones(2, 2, 8, 12), segments)
    assert means.shape == (6, 2) and torch.equal(means, torch.ones(6, 2))


def test_instance_segments_reject_float_or_misshaped_ids() -> None:
    with pytest.raises(ValueError, match="integer ids"):
        instance_segments(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="same N, H and W"):
        instance_means(torch.zeros(1, 3, 4, 5), instance_segments(torch.zeros(1, 1, 4, 4).long()))


def test_encoder_features_are_constant_over_each_instance() -> None:
    torch.manual_seed(0)
    encoder = create_encoder("encoder", nef=4, n_downsampling=2).eval()
    image = torch.rand(2, 3, 8, 12) * 2 - 1
    ids = _instances()
    with torch.no_grad():
        pooled, raw = encoder(image, ids), encoder(image)
    assert pooled.shape == raw.shape == (2, 3, 8, 12)
    torch.testing.assert_close(pooled, naive_instance_mean(raw, ids))
    assert raw[0, 0, 0, 7] != raw[0, 0, 1, 8]  # per pixel without instances


def test_local_enhancer_takes_a_trained_global_generator() -> None:
    torch.manual_seed(0)
    coarse = create_generator("global", in_channels=5, ngf=8, n_blocks=2)
    local = create_generator("local", in_channels=5, ngf=4, n_blocks_global=2, n_blocks_local=1)
    copied = local.load_global(coarse.state_dict())
    assert copied and all(k.startswith("model.") for k in copied)
    assert "model.38.weight" not in local.state_dict()  # the global head is dropped
    x = torch.rand(1, 5, 64, 64)
    with torch.no_grad():
        ours = local.model(local.downsample(x))
        theirs = coarse.model[:-3](downsample()(x))
    torch.testing.assert_close(ours, theirs)


def test_local_enhancer_refuses_a_global_generator_of_another_width() -> None:
    coarse = create_generator("global", in_channels=5, ngf=4, n_blocks=2, init_type=None)
    local = create_generator("local", in_channels=5, ngf=4, n_blocks_global=2, init_type=None)
    expected = r"model\.1\.weight has shape \(4, 5, 7, 7\).*\(8, 5, 7, 7\)"
    with pytest.raises(ValueError, match=expected):
        local.load_global(coarse.state_dict())


def test_local_enhancer_sums_coarse_features_into_the_enhancer() -> None:
    torch.manual_seed(0)
    local = create_generator("local", in_channels=3, ngf=4, n_blocks_global=1,
                             n_blocks_local=1).eval()
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        manual = local.model1_2(local.model1_1(x) + local.model(local.downsample(x)))
        assert torch.equal(local(x), manual)
    assert local.outer_enhancer_prefixes() == ("model1_1.", "model1_2.")
    assert local.size_multiple == 32 and local.min_size == 64


def test_multiscale_discriminator_pyramid_order_and_features() -> None:
    torch.manual_seed(0)
    net = create_discriminator("multiscale", in_channels=4, ndf=8, num_D=3).eval()
    x = torch.randn(1, 4, 64, 96)
    with torch.no_grad():
        out = net(x)
        assert len(out) == 3 and all(len(scale) == net.n_layers + 2 for scale in out)
        # as in the reference, the last-named PatchGAN sees the full resolution
        for i, scale_input in enumerate([x, downsample()(x), downsample()(downsample()(x))]):
            h = scale_input
            for layer, got in zip(net.scale_layers(2 - i), out[i], strict=True):
                h = layer(h)
                assert torch.equal(got, h)
    # padding 2: 64 -> 33 -> 17 -> 9 (stride 2), then 10 -> 11 (stride 1)
    assert [t.shape[-2] for t in out[0]] == [33, 17, 9, 10, 11]
    assert [t.shape[1] for t in out[0]] == [8, 16, 32, 64, 1]


def test_multiscale_filters_cap_at_512_and_every_conv_has_a_bias() -> None:
    net = create_discriminator("multiscale", in_channels=4, ndf=128, n_layers=4, num_D=1,
                               norm="batch", init_type=None)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [128, 256, 512, 512, 512, 1]
    assert all(m.bias is not None and m.padding == (2, 2) for m in convs)


def test_multiscale_smallest_input_gives_two_pixels_at_the_coarsest_scale() -> None:
    net = create_discriminator("multiscale", in_channels=2, ndf=2, num_D=3)
    assert net.min_size == 5  # 5 -> 3 -> 2
    out = net(torch.randn(1, 2, 5, 5))
    assert out[-1][0].shape[-1] == 2
    with pytest.raises(ValueError, match="at least 5"):
        net(torch.randn(1, 2, 4, 4))
