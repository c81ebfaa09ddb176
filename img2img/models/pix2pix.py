"""pix2pix: a generator G(A) -> B trained against a PatchGAN that sees (A, B) pairs, plus L1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.config import Pix2PixConfig, RunConfig
from img2img.data.dataset import PairedImageDataset
from img2img.engine.device import Precision
from img2img.infer.stochastic import paper_test_mode
from img2img.losses import GANLoss, gradient_penalty
from img2img.models.base import Recipe, set_requires_grad
from img2img.nn import create_discriminator, create_generator


class Pix2PixRecipe(Recipe):
    """The pix2pix objective: ``L_cGAN(G, D) + lambda_L1 * L1(G(A), B)``, D loss halved."""

    family = "pix2pix"
    paper_test_mode = True

    def __init__(self, config: RunConfig, device: torch.device, precision: Precision) -> None:
        super().__init__(config, device, precision)
        m: Pix2PixConfig = config.model
        self.G = self.build_generator(m, init=True).to(device)
        self.D = self.build_discriminator(m).to(device)
        self.nets = {"G": self.G, "D": self.D}
        self.optimizers = {"G": self.adam(self.G.parameters()), "D": self.adam(self.D.parameters())}
        self.schedulers = {k: self.linear_schedule(opt) for k, opt in self.optimizers.items()}
        self.gan_loss = GANLoss(m.gan_mode)
        self.lambda_l1 = m.lambda_l1

    @classmethod
    def build_generator(cls, model_config: Pix2PixConfig, init: bool = False) -> nn.Module:
        m = model_config
        return create_generator(
            m.netG,
            in_channels=m.input_nc,
            out_channels=m.output_nc,
            ngf=m.ngf,
            norm=m.norm,
            dropout=m.dropout,
            init_type=m.init_type if init else None,
            init_gain=m.init_gain,
        )

    @classmethod
    def build_discriminator(cls, m: Pix2PixConfig) -> nn.Module:
        options: dict[str, Any] = {
            "in_channels": m.input_nc + m.output_nc,
            "ndf": m.ndf,
            "norm": m.norm,
        }
        if m.netD == "n_layers":
            options["n_layers"] = m.n_layers_D
        return create_discriminator(m.netD, init_type=m.init_type, init_gain=m.init_gain, **options)

    @classmethod
    def build_dataset(cls, config: RunConfig) -> PairedImageDataset:
        m: Pix2PixConfig = config.model
        return PairedImageDataset(
            config.data, input_nc=m.input_nc, output_nc=m.output_nc, seed=config.train.seed
        )

    @classmethod
    def generator_io(cls, model_config: Pix2PixConfig) -> tuple[str, int, int]:
        return model_config.netG, model_config.input_nc, model_config.output_nc

    def _inputs(self, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
        memory_format = (
            torch.channels_last if self.config.train.channels_last else torch.contiguous_format
        )
        real_a = batch["A"].to(self.device, non_blocking=True, memory_format=memory_format)
        real_b = batch["B"].to(self.device, non_blocking=True, memory_format=memory_format)
        return real_a, real_b

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        real_a, real_b = self._inputs(batch)
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
                loss_d = loss_d + gradient_penalty(self.D, real_b, fake_b, condition=real_a)
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
        real_a, real_b = self._inputs(batch)
        seeds = list(range(real_a.shape[0]))
        with paper_test_mode(self.G, seeds), self.precision.autocast():
            fake_b = self.G(real_a)
        return [real_a, fake_b.float(), real_b]
