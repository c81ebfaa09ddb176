"""Loss functions: adversarial objectives, gradient penalty and discriminator feature matching.

A discriminator output may be one tensor or, for multi-scale discriminators, a list with one
entry per scale, each a tensor or a list of intermediate features whose last item is the
prediction. Losses are summed over scales.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.losses.modes import check_gan_mode

Prediction = Tensor | Sequence[Tensor | Sequence[Tensor]]


def _final_predictions(pred: Prediction) -> list[Tensor]:
    """The prediction tensor of every scale."""
    if isinstance(pred, Tensor):
        return [pred]
    return [scale if isinstance(scale, Tensor) else scale[-1] for scale in pred]


class GANLoss(nn.Module):
    """The adversarial objective ``mode`` (one of :data:`img2img.losses.modes.GAN_MODES`).

    * ``vanilla``: binary cross-entropy on logits (the original GAN, pix2pix).
    * ``lsgan``: least squares (CycleGAN, pix2pixHD).
    * ``hinge``: hinge loss for D, ``-D(G(x))`` for G.
    * ``wgangp``: Wasserstein critic; pair it with :func:`gradient_penalty`.
    """

    def __init__(self, mode: str, real_label: float = 1.0, fake_label: float = 0.0) -> None:
        super().__init__()
        check_gan_mode(mode, "gan mode")
        self.mode = mode
        self.real_label = real_label
        self.fake_label = fake_label

    def forward(
        self, pred: Prediction, target_is_real: bool, for_discriminator: bool = True
    ) -> Tensor:
        """Loss of predictions ``pred`` against real (True) or fake (False) targets."""
        return sum(
            self._single(p, target_is_real, for_discriminator) for p in _final_predictions(pred)
        )

    def _single(self, pred: Tensor, target_is_real: bool, for_discriminator: bool) -> Tensor:
        pred = pred.float()
        if self.mode in ("vanilla", "lsgan"):
            value = self.real_label if target_is_real else self.fake_label
            target = torch.full_like(pred, value)
            if self.mode == "vanilla":
                return F.binary_cross_entropy_with_logits(pred, target)
            return F.mse_loss(pred, target)
        sign = -1.0 if target_is_real else 1.0
        if self.mode == "hinge" and for_discriminator:
            return F.relu(1.0 + sign * pred).mean()
        return sign * pred.mean()


def gradient_penalty(
    discriminator: nn.Module,
    real: Tensor,
    fake: Tensor,
    *,
    condition: Tensor | None = None,
    weight: float = 10.0,
    target_norm: float = 1.0,
    loss_scale: float | Tensor = 1.0,
) -> Tensor:
    """WGAN-GP penalty ``weight * (||grad D(x_hat)|| - target_norm)^2`` on random interpolates.

    ``condition`` (the input image for conditional GANs) is concatenated on the channel axis.
    Under fp16 pass the loss scaler's current scale as ``loss_scale``: the inner gradient is
    then taken of the scaled outputs (so small gradients do not flush to zero in half
    precision) and unscaled before its norm, as with any other loss under the scaler. An
    overflow turns the penalty non-finite, and the scaler skips that step.
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    d_input = mixed if condition is None else torch.cat([condition, mixed], dim=1)
    outputs = _final_predictions(discriminator(d_input))
    scaled = [o.float().sum() * loss_scale for o in outputs]
    grads = torch.autograd.grad(outputs=scaled, inputs=mixed, create_graph=True)[0]
    grads = grads.float() / loss_scale
    norms = grads.flatten(1).norm(2, dim=1)
    return weight * ((norms - target_norm) ** 2).mean()


def feature_matching_loss(
    fake_features: Sequence[Sequence[Tensor]],
    real_features: Sequence[Sequence[Tensor]],
    weight: float = 10.0,
) -> Tensor:
    """pix2pixHD's discriminator feature matching: L1 between intermediate features.

    Each argument holds, per scale, the list of features whose last item is the prediction
    (excluded). Every layer is weighted ``weight / num_scales * 4 / (n_layers + 1)``, where a
    scale of ``n_layers`` downsampling layers returns ``n_layers + 2`` outputs.
    """
    num_scales = len(fake_features)
    total = fake_features[0][0].new_zeros(())
    for fake_scale, real_scale in zip(fake_features, real_features, strict=True):
        layer_weight = 4.0 / (len(fake_scale) - 1)  # n_layers + 2 outputs per scale
        for fake, real in zip(fake_scale[:-1], real_scale[:-1], strict=True):
            total = total + layer_weight / num_scales * F.l1_loss(fake, real.detach()) * weight
    return total
