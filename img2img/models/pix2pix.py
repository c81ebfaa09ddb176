"""pix2pix: a generator G(A) -> B trained against a PatchGAN that sees (A, B) pairs, plus L1."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.config import DataConfig, Pix2PixConfig, RunConfig
from img2img.data.dataset import PairedImageDataset
from img2img.data.discover import find_pairs
from img2img.data.evaluation import EvalSplit, paired_split
from img2img.engine.device import Precision
from img2img.losses.gan import GANLoss, gradient_penalty
from img2img.models.base import Recipe, set_requires_grad
from img2img.models.inference import InferenceModel, check_test_mode, take_options
from img2img.models.networks import build_discriminator, build_generator, check_training_size

#: test-time options of pix2pix models (``translate`` flags without the dashes)
TEST_OPTIONS = ("test_mode", "dropout", "seed")


class Pix2PixRecipe(Recipe):
    """The pix2pix objective: ``L_cGAN(G, D) + lambda_L1 * L1(G(A), B)``, D loss halved."""

    family = "pix2pix"

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
        return build_generator(m, m.input_nc, m.output_nc, init=init)

    @classmethod
    def build_discriminator(cls, m: Pix2PixConfig) -> nn.Module:
        return build_discriminator(m, m.input_nc + m.output_nc)

    @classmethod
    def validate(cls, config: RunConfig) -> None:
        """Check that the training crops suit both networks before anything is written."""
        m: Pix2PixConfig = config.model
        check_training_size(config, lambda: [cls.build_generator(m), cls.build_discriminator(m)])

    @classmethod
    def build_dataset(cls, config: RunConfig, phase: str | None = None) -> PairedImageDataset:
        m: Pix2PixConfig = config.model
        data = config.data if phase is None else dataclasses.replace(config.data, phase=phase)
        return PairedImageDataset(data, input_nc=m.input_nc, output_nc=m.output_nc,
                                  seed=config.train.seed)

    @classmethod
    def evaluation_split(cls, data: DataConfig, model: InferenceModel) -> EvalSplit:
        """The split's A images (B with ``BtoA``) as inputs, the other side as targets."""
        return paired_split(find_pairs(data.root, data.phase), swap=data.direction == "BtoA")

    @classmethod
    def inference_networks(cls, model_config: Pix2PixConfig) -> dict[str, nn.Module]:
        return {"G": cls.build_generator(model_config)}

    @classmethod
    def inference_model(
        cls, config: RunConfig, nets: Mapping[str, nn.Module], **options: Any
    ) -> InferenceModel:
        """The generator G; test mode ``paper`` (default) or ``eval``, dropout, seed."""
        take_options(cls.family, options, TEST_OPTIONS)
        m: Pix2PixConfig = config.model
        mode = options.get("test_mode") or "paper"
        dropout = options.get("dropout")
        return InferenceModel(
            nets["G"], cls.family, m.netG, m.input_nc, m.output_nc,
            test_mode=check_test_mode(mode),
            dropout=True if dropout is None else bool(dropout),
            seed=options.get("seed") or 0,
            config=config,
        )

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
        model = self.inference_model(self.config, self.nets)
        keys = [str(i) for i in range(real_a.shape[0])]
        with self.precision.autocast():
            fake_b = model.run(real_a, keys)
        return [real_a, fake_b.float(), real_b]
