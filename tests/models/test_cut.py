"""CUT's pieces against straightforward implementations of the paper's and reference's facts:
antialiased sampling, the networks' layouts, the projection head F, PatchNCE, and the options."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from img2img.config import ConfigError
from img2img.families import get_family
from img2img.families.cut.config import CUTConfig, parse_layers, parse_switch, train_defaults
from img2img.families.cut.networks import (
    PatchSampleF,
    build_discriminator,
    build_generator,
    run_with_features,
    to_channels,
)
from img2img.families.cut.patchnce import patch_nce_loss
from img2img.families.published import recognise_generator
from img2img.nn import create_discriminator, create_generator
from img2img.nn.antialias import BlurDownsample, BlurUpsample
from img2img.nn.patchgan import min_input_size, output_size, receptive_field


# --- antialiased sampling ------------------------------------------------------------------------
def _upsample_1d(a: np.ndarray, axis: int) -> np.ndarray:
    """[1, 3, 3, 1] upsampling by 2 along ``axis``, edges replicated: out[2i] = (x[i-1] + 3
    x[i]) / 4, out[2i+1] = (3 x[i] + x[i+1]) / 4."""
    a = np.moveaxis(a, axis, -1)
    p = np.concatenate([a[..., :1], a, a[..., -1:]], -1)
    out = np.empty(a.shape[:-1] + (2 * a.shape[-1],))
    out[..., 0::2] = (p[..., :-2] + 3 * p[..., 1:-1]) / 4
    out[..., 1::2] = (3 * p[..., 1:-1] + p[..., 2:]) / 4
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize(("h", "w"), [(5, 7), (8, 8), (2, 3)])
def test_blur_downsample_is_a_reflect_padded_121_blur_kept_every_other_pixel(h, w):
    x = torch.randn(1, 2, h, w, generator=torch.Generator().manual_seed(h * w))
    out = BlurDownsample(2)(x)[0].numpy()
    padded = np.pad(x[0].numpy(), ((0, 0), (1, 1), (1, 1)), mode="reflect")
    kernel = np.outer([1, 2, 1], [1, 2, 1]) / 16
    expected = np.array([[[(padded[c, 2 * i:2 * i + 3, 2 * j:2 * j + 3] * kernel).sum()
                           for j in range(math.ceil(w / 2))] for i in range(math.ceil(h / 2))]
                         for c in range(2)])
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_blur_upsample_interpolates_with_1331_and_doubles_the_size():
    x = torch.randn(1, 2, 5, 7, generator=torch.Generator().manual_seed(1))
    out = BlurUpsample(2)(x)[0].numpy()
    expected = _upsample_1d(_upsample_1d(x[0].numpy(), 1), 2)
    assert out.shape == (2, 10, 14)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_blur_filters_are_per_channel_buffers_of_the_reference_shapes():
    down, up = BlurDownsample(4), BlurUpsample(4)
    assert [k for k, _ in down.named_parameters()] == []
    assert tuple(down.state_dict()["filt"].shape) == (4, 1, 3, 3)
    assert tuple(up.state_dict()["filt"].shape) == (4, 1, 4, 4)
    assert torch.allclose(down.filt.sum((1, 2, 3)), torch.ones(4))
    assert torch.allclose(up.filt.sum((1, 2, 3)), torch.full((4,), 4.0))  # times stride**2


# --- networks ------------------------------------------------------------------------------------
def _expected_generator_layout(ngf: int, blocks: int, in_c: int, out_c: int) -> list:
    """The reference CUT generator's keys and shapes, written out from its layout facts:
    conv 7x7; twice conv 3x3 (stride 1) + norm + ReLU + blur-pool; residual blocks; twice
    blur-upsample + conv 3x3 + norm + ReLU; conv 7x7; instance norm has no parameters."""
    rows = [("model.1.weight", [ngf, in_c, 7, 7]), ("model.1.bias", [ngf])]
    index = 4
    for mult in (1, 2):
        c = ngf * mult
        rows += [(f"model.{index}.weight", [2 * c, c, 3, 3]), (f"model.{index}.bias", [2 * c]),
                 (f"model.{index + 3}.filt", [2 * c, 1, 3, 3])]
        index += 4
    for _ in range(blocks):
        for conv in (1, 5):
            rows += [(f"model.{index}.conv_block.{conv}.weight", [4 * ngf, 4 * ngf, 3, 3]),
                     (f"model.{index}.conv_block.{conv}.bias", [4 * ngf])]
        index += 1
    for mult in (4, 2):
        c = ngf * mult
        rows += [(f"model.{index}.filt", [c, 1, 4, 4]),
                 (f"model.{index + 1}.weight", [c // 2, c, 3, 3]),
                 (f"model.{index + 1}.bias", [c // 2])]
        index += 4
    rows += [(f"model.{index + 1}.weight", [out_c, ngf, 7, 7]), (f"model.{index + 1}.bias",
                                                                 [out_c])]
    return [[k, s] for k, s in rows]


def _layout(net: nn.Module) -> list:
    return [[k, list(v.shape)] for k, v in net.state_dict().items()]


@pytest.mark.parametrize(("net_g", "blocks", "ngf", "in_c"), [
    ("resnet_9blocks", 9, 64, 3), ("resnet_6blocks", 6, 8, 1)])
def test_generator_layout_equals_the_reference_facts(net_g, blocks, ngf, in_c):
    with torch.device("meta"):
        net = build_generator(CUTConfig(netG=net_g, ngf=ngf, input_nc=in_c))
    assert _layout(net) == _expected_generator_layout(ngf, blocks, in_c, 3)


def test_discriminator_layout_and_output_size_with_antialiasing():
    d = build_discriminator(CUTConfig(ndf=8))
    keys = [k for k, _ in _layout(d)]
    assert keys == ["model.0.weight", "model.0.bias", "model.2.filt", "model.3.weight",
                    "model.3.bias", "model.6.filt", "model.7.weight", "model.7.bias",
                    "model.10.filt", "model.11.weight", "model.11.bias", "model.14.weight",
                    "model.14.bias"]
    for size in (24, 32, 33, 64):
        assert d(torch.randn(1, 3, size, size)).shape[-1] == output_size(size, 3, antialias=True)
    assert output_size(256, 3, antialias=True) == output_size(256, 3) == 30
    assert receptive_field(3) == 70 and receptive_field(3, antialias=True) > 70
    with pytest.raises(ValueError, match="at least"):
        d(torch.randn(1, 3, min_input_size(3, True) - 1, 64))


def test_no_antialias_options_give_the_plain_cyclegan_networks():
    m = CUTConfig(ngf=8, ndf=8, antialias=False, antialias_up=False)
    with torch.device("meta"):
        cut_g, cut_d = build_generator(m), build_discriminator(m)
        plain_g = create_generator("resnet_9blocks", init_type=None, ngf=8, norm="instance")
        plain_d = create_discriminator("basic", init_type=None, in_channels=3, ndf=8,
                                       norm="instance")
    assert _layout(cut_g) == _layout(plain_g)
    assert _layout(cut_d) == _layout(plain_d)


def test_encoder_features_are_the_outputs_of_the_indexed_layers():
    g = build_generator(CUTConfig(netG="resnet_6blocks", ngf=4), init=True).eval()
    x = torch.randn(2, 3, 32, 32)
    out, feats = run_with_features(g, x, (0, 4, 8, 12, 16))
    torch.testing.assert_close(out, g(x))
    expected, y = [], x
    for index, layer in enumerate(g.model):
        y = layer(y)
        if index in (0, 4, 8, 12, 16):
            expected.append(y)
    assert [f.shape[1:] for f in feats] == [(3, 38, 38), (8, 32, 32), (16, 16, 16),
                                           (16, 8, 8), (16, 8, 8)]
    for got, want in zip(feats, expected, strict=True):
        torch.testing.assert_close(got, want)
    none, encoded = run_with_features(g, x, (0, 4), encode_only=True)
    assert none is None and len(encoded) == 2


def test_to_channels_luma_and_repeat():
    rgb = torch.rand(1, 3, 4, 4) * 2 - 1
    gray = to_channels(rgb, 1)
    expected = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    torch.testing.assert_close(gray[:, 0], expected)
    assert torch.equal(to_channels(gray, 3), gray.expand(-1, 3, -1, -1))
    assert to_channels(rgb, 3) is rgb


# --- F and PatchNCE ------------------------------------------------------------------------------
def test_projection_head_layout_sampling_and_normalisation():
    torch.manual_seed(0)
    head = PatchSampleF(use_mlp=True, nc=16)
    assert not head.built and list(head.state_dict()) == []
    feats = [torch.randn(2, 3, 6, 6), torch.randn(2, 8, 3, 3)]
    head.create_mlp([3, 8])  # PyTorch's init: rows far from the 1e-7 of the norm
    assert _layout(head) == [["mlp_0.0.weight", [16, 3]], ["mlp_0.0.bias", [16]],
                             ["mlp_0.2.weight", [16, 16]], ["mlp_0.2.bias", [16]],
                             ["mlp_1.0.weight", [16, 8]], ["mlp_1.0.bias", [16]],
                             ["mlp_1.2.weight", [16, 16]], ["mlp_1.2.bias", [16]]]
    out, ids = head(feats, num_patches=5)
    assert [o.shape for o in out] == [(10, 16), (10, 16)]
    assert [len(i) for i in ids] == [5, 5] and len(set(ids[0].tolist())) == 5
    torch.testing.assert_close(out[0].norm(dim=1), torch.ones(10))
    # the rows are the MLP of the C-vectors at the sampled positions, image-major
    rows = feats[1].permute(0, 2, 3, 1).reshape(2, 9, 8)[:, ids[1]].reshape(10, 8)
    direct = head.mlp_1(rows)
    torch.testing.assert_close(out[1], direct / direct.norm(dim=1, keepdim=True), atol=1e-6,
                               rtol=1e-5)
    again, _ = head(feats, num_patches=5, patch_ids=ids)
    torch.testing.assert_close(again[0], out[0])
    few, few_ids = head([torch.randn(1, 3, 2, 2)], num_patches=256)
    assert few[0].shape == (4, 16) and sorted(few_ids[0].tolist()) == [0, 1, 2, 3]


def _direct_patch_nce(q: torch.Tensor, k: torch.Tensor, tau: float, batch: int) -> torch.Tensor:
    """Per query, -log softmax of its own key among [own key, other keys of its image]."""
    patches = q.shape[0] // batch
    losses = []
    for b in range(batch):
        for i in range(patches):
            row = b * patches + i
            own = float(q[row] @ k[row])
            others = [float(q[row] @ k[b * patches + j]) for j in range(patches) if j != i]
            logits = torch.tensor([own, *others, -10.0]) / tau  # own key among negatives: -10
            losses.append(float(-torch.log_softmax(logits, 0)[0]))
    return torch.tensor(losses)


def test_patch_nce_equals_a_direct_computation():
    g = torch.Generator().manual_seed(3)
    q = F.normalize(torch.randn(2 * 5, 7, generator=g), dim=1).requires_grad_()
    k = F.normalize(torch.randn(2 * 5, 7, generator=g), dim=1).requires_grad_()
    loss = patch_nce_loss(q, k, 0.07, batch_size=2)
    torch.testing.assert_close(loss.detach(), _direct_patch_nce(q.detach(), k.detach(), 0.07, 2),
                               atol=1e-4, rtol=1e-5)
    loss.mean().backward()
    assert q.grad is not None and k.grad is None  # the keys carry no gradient
    whole = patch_nce_loss(q, k, 0.07, batch_size=2, all_negatives_from_minibatch=True)
    torch.testing.assert_close(whole.detach(), _direct_patch_nce(q.detach(), k.detach(), 0.07,
                                                                 1), atol=1e-4, rtol=1e-5)


def test_patch_nce_is_low_when_each_query_matches_its_own_key():
    k = F.normalize(torch.randn(16, 8), dim=1)
    assert float(patch_nce_loss(k, k, 0.07, 1).mean()) < 0.5
    assert float(patch_nce_loss(k.flip(0), k, 0.07, 1).mean()) > 1.0


# --- options -------------------------------------------------------------------------------------
def test_modes_set_the_reference_defaults_and_given_values_win():
    cut, fast = CUTConfig(), CUTConfig(cut_mode="FastCUT")
    assert (cut.lambda_nce, cut.nce_idt, cut.flip_equivariance) == (1.0, True, False)
    assert (fast.cut_mode, fast.lambda_nce, fast.nce_idt, fast.flip_equivariance) == (
        "fastcut", 10.0, False, True)
    assert CUTConfig(cut_mode="fastcut", lambda_nce=2.0, nce_idt=True).lambda_nce == 2.0
    assert (cut.init_type, cut.normG, cut.normD, cut.netF, cut.netF_nc, cut.nce_t,
            cut.num_patches, cut.layer_ids, cut.gan_mode) == (
        "xavier", "instance", "instance", "mlp_sample", 256, 0.07, 256, (0, 4, 8, 12, 16),
        "lsgan")
    assert train_defaults({"cut_mode": "fastcut"}) == {"n_epochs": 150, "n_epochs_decay": 50}
    assert get_family("cut").shared_defaults({"cut_mode": "cut"})["n_epochs"] == 200


@pytest.mark.parametrize(("field", "value", "match"), [
    ("cut_mode", "slowcut", "cut_mode"), ("nce_layers", "4,0", "nce_layers"),
    ("nce_layers", "a,b", "nce_layers"), ("nce_t", 0.0, "nce_t"),
    ("num_patches", 0, "num_patches"), ("input_nc", 2, "input_nc")])
def test_bad_options_are_refused_by_name(field, value, match):
    with pytest.raises(ConfigError, match=match):
        CUTConfig(**{field: value})


def test_switches_and_layers_parse_as_the_reference_spells_them():
    assert parse_switch("True") is True and parse_switch("0") is False
    with pytest.raises(ConfigError, match="switch"):
        parse_switch("maybe")
    assert parse_layers("0,4,8") == (0, 4, 8)


def test_a_published_cut_generator_is_recognised_from_its_filters():
    with torch.device("meta"):
        net = build_generator(CUTConfig(ngf=16))
    spec = recognise_generator({k: torch.empty(v.shape) for k, v in net.state_dict().items()})
    assert (spec.family, spec.name) == ("cut", "resnet_9blocks")
    assert spec.options["antialias"] and spec.options["antialias_up"]
    plain = CUTConfig(ngf=16, antialias=False, antialias_up=False)
    with torch.device("meta"):
        net = build_generator(plain)
    spec = recognise_generator({k: torch.empty(v.shape) for k, v in net.state_dict().items()})
    assert spec.family == "cyclegan"  # the same layout as CycleGAN's: its generator serves
