"""The VGG19 perceptual loss: slices, weights, frozen network, and where its weights come from.

The ImageNet weights are never downloaded in tests: VGG19 runs with random weights here
(torchvision's architecture and initialisation), which is enough to check the arithmetic.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from img2img.losses.vgg import (
    LAYER_WEIGHTS,
    VGG19_FILE,
    VGGLoss,
    VGGWeightsError,
    find_vgg_weights,
    load_vgg19_features,
)


def test_loss_is_the_weighted_l1_of_relu1_1_to_relu5_1(vgg_file) -> None:
    path, features = vgg_file
    loss = VGGLoss(load_vgg19_features(path))
    torch.manual_seed(1)
    x, y = torch.rand(1, 3, 32, 48) * 2 - 1, torch.rand(1, 3, 32, 48) * 2 - 1
    expected = 0.0
    with torch.no_grad():
        for weight, end in zip(LAYER_WEIGHTS, (2, 7, 12, 21, 30), strict=True):
            expected += weight * F.l1_loss(features[:end](x), features[:end](y))
        got = loss(x, y)
    torch.testing.assert_close(got, expected)
    assert LAYER_WEIGHTS == (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


def test_loss_is_zero_for_equal_images_and_trains_only_the_output(vgg_file) -> None:
    loss = VGGLoss(load_vgg19_features(vgg_file[0]))
    x = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    y = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    assert loss(x, x.detach()).item() == 0.0
    loss(x, y).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert y.grad is None
    assert not any(p.requires_grad for p in loss.parameters())
    assert not loss.train().training  # always in eval mode


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(VGGWeightsError) as info:
        find_vgg_weights()
    message = str(info.value)
    assert str(tmp_path / "hub" / "checkpoints" / VGG19_FILE) in message
    assert "--vgg-weights" in message and "--no-vgg-loss" in message
    with pytest.raises(VGGWeightsError, match="--vgg-weights nowhere.pth: no such file"):
        find_vgg_weights("nowhere.pth")


def test_weights_from_the_hub_cache_are_found(tmp_path, monkeypatch, vgg_file) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    cached = tmp_path / "checkpoints" / VGG19_FILE
    cached.write_bytes(vgg_file[0].read_bytes())
    assert find_vgg_weights() == cached


def test_a_file_that_is_not_vgg19_is_refused(tmp_path) -> None:
    torch.save({"features.0.weight": torch.zeros(64, 3, 5, 5)}, tmp_path / "other.pth")
    with pytest.raises(VGGWeightsError, match="not VGG19 weights"):
        load_vgg19_features(tmp_path / "other.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(VGGWeightsError, match="junk.pth: cannot be read"):
        load_vgg19_features(tmp_path / "junk.pth")
