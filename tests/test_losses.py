"""Adversarial losses, gradient penalty and feature matching against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from img2img.losses import GAN_MODES, GANLoss, feature_matching_loss, gradient_penalty


def test_every_configured_mode_is_implemented():
    for mode in GAN_MODES:
        GANLoss(mode)(torch.zeros(1, 1, 2, 2), True)
    with pytest.raises(ValueError, match="vanilla, lsgan"):
        GANLoss("nope")


def test_vanilla_is_bce_with_logits():
    pred = torch.tensor([[[[0.0, 2.0]]]])
    assert GANLoss("vanilla")(pred, True).item() == pytest.approx(
        (math.log(2) + math.log(1 + math.exp(-2))) / 2
    )
    assert GANLoss("vanilla")(pred, False).item() == pytest.approx(
        (math.log(2) + math.log(1 + math.exp(2))) / 2
    )


def test_lsgan_is_mse():
    pred = torch.tensor([0.5, 1.5])
    assert GANLoss("lsgan")(pred, True).item() == pytest.approx(0.25)
    assert GANLoss("lsgan")(pred, False).item() == pytest.approx((0.25 + 2.25) / 2)


def test_hinge_and_wgan():
    pred = torch.tensor([-2.0, 0.5])
    hinge = GANLoss("hinge")
    assert hinge(pred, True).item() == pytest.approx((3.0 + 0.5) / 2)
    assert hinge(pred, False).item() == pytest.approx((0.0 + 1.5) / 2)
    assert hinge(pred, True, for_discriminator=False).item() == pytest.approx(0.75)
    wgan = GANLoss("wgangp")
    assert wgan(pred, True).item() == pytest.approx(0.75)
    assert wgan(pred, False).item() == pytest.approx(-0.75)


def test_multiscale_predictions_are_summed():
    scale1 = [torch.randn(1, 4, 4, 4), torch.full((1, 1, 2, 2), 0.5)]  # features + prediction
    scale2 = torch.full((1, 1, 1, 1), 2.0)
    loss = GANLoss("lsgan")([scale1, scale2], True)
    assert loss.item() == pytest.approx(0.25 + 1.0)


def test_gradient_penalty_of_linear_critic():
    # D(x) = sum(w * x): its gradient norm is ||w|| everywhere
    critic = torch.nn.Conv2d(3, 1, kernel_size=4, bias=False)
    torch.nn.init.constant_(critic.weight, 0.1)
    real, fake = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    norm = critic.weight.norm().item()
    gp = gradient_penalty(critic, real, fake, weight=10.0)
    assert gp.item() == pytest.approx(10.0 * (norm - 1.0) ** 2, rel=1e-5)
    gp.backward()
    assert critic.weight.grad is not None


def test_feature_matching_weights():
    fake = [[torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 2, 2), torch.zeros(1, 1, 1, 1)]]
    real = [[torch.ones(1, 2, 4, 4), torch.full((1, 2, 2, 2), 2.0), torch.zeros(1, 1, 1, 1)]]
    # one scale with 3 outputs: layer weight 4 / 2 = 2; L1 terms 1 and 2; weight 10
    loss = feature_matching_loss(fake, real, weight=10.0)
    assert loss.item() == pytest.approx(10.0 * 2.0 * (1.0 + 2.0))
    assert loss.item() == pytest.approx(
        10 * 2 * (F.l1_loss(fake[0][0], real[0][0]) + F.l1_loss(fake[0][1], real[0][1])).item()
    )
