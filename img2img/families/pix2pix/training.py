"""pix2pix training: G(A) -> B against a PatchGAN that sees (A, B) pairs, plus L1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from img2img.config import RunConfig
from img2img.engine.device import Precision
from img2img.engine.recipe import TrainingRecipe, set_requires_grad
from img2img.families.init_from import Target
from img2img.families.pix2pix.config import Pix2PixConfig
from img2img.families.pix2pix.description import Pix2PixDescription
from img2img.losses.gan import GANLoss, gradient_penalty


class Pix2PixRecipe(TrainingRecipe):
    """The pix2pix objective: ``L_cGAN(G, D) + lambda_L1 * L1(G(A), B)``, D loss halved."""

    family = "pix2pix"

    def __init__(self, config: RunConfig, device: torch.device, precision: Precision) -> None:
        super().__init__(config, device, precision)
        m: Pix2PixConfig = config.model
        self.G = Pix2PixDescription.build_generator(m, init=True).to(device)
        self.D = Pix2PixDescription.build_discriminator(m).to(device)
        self.nets = {"G": self.G, "D": self.D}
        self.optimizers = {"G": self.adam(self.G.parameters()), "D": self.adam(self.D.parameters())}
        self.schedulers = {k: self.lr_schedule(opt) for k, opt in self.optimizers.items()}
        self.gan_loss = GANLoss(m.gan_mode)
        self.lambda_l1 = m.lambda_l1

    def init_targets(self) -> dict[str, Target]:
        return {"G": Target(("G",), generator=True), "D": Target(("D",))}

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        real_a, real_b = self.inputs(batch, "A", "B")
        amp = self.precision
        with amp.autocast():
            fake_b = self.G(real_a)

        # discriminator: real pairs -> real, generated pairs -> fake
        set_requires_grad(self.D, True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with amp.autocast():
            pred_fake = self.D(torch.cat([real_a, fake_b.detach()], dim=1))
            pred_real = self.D(torch.cat([real_a, real_b], dim=1))
            loss_d_fake = self.gan_loss(pred_fake, False)
            loss_d_real = self.gan_loss(pred_real, True)
            loss_d = 0.5 * (loss_d_fake + loss_d_real)
            if self.gan_loss.mode == "wgangp":
                loss_d = loss_d + gradient_penalty(
                    self.D, real_b, fake_b, condition=real_a, loss_scale=amp.loss_scale()
                )
        amp.backward(loss_d)
        amp.step(self.optimizers["D"])

        # generator: fool D and stay close to the target
        set_requires_grad(self.D, False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with amp.autocast():
            pred_fake = self.D(torch.cat([real_a, fake_b], dim=1))
            loss_g_gan = self.gan_loss(pred_fake, True, for_discriminator=False)
            loss_g_l1 = F.l1_loss(fake_b.float(), real_b.float())
            loss_g = loss_g_gan + self.lambda_l1 * loss_g_l1
        amp.backward(loss_g)
        amp.step(self.optimizers["G"])
        amp.update()

        return {
            "G_GAN": loss_g_gan.detach(),
            "G_L1": loss_g_l1.detach(),
            "D_real": loss_d_real.detach(),
            "D_fake": loss_d_fake.detach(),
        }

    @torch.no_grad()
    def sample(self, batch: Mapping[str, Any]) -> list[Tensor]:
        """Translate as at test time; touches neither running statistics nor the global RNG."""
        real_a, real_b = self.inputs(batch, "A", "B")
        model = Pix2PixDescription.inference_model(self.config, self.nets)
        keys = [str(i) for i in range(real_a.shape[0])]
        with self.precision.autocast():
            fake_b = model.run(real_a, keys)
        return [real_a, fake_b.float(), real_b]
