"""pix2pixHD training: label maps (+ instance boundaries, + encoder features) to photos.

The generator (``global``, or ``local`` around a global one) is trained against a multi-scale
PatchGAN with LSGAN, discriminator feature matching and the VGG19 perceptual loss, both
weighted by ``lambda_feat``. As in the reference, one forward pass gives both networks' losses;
the generator steps first, then the discriminator (whose loss is halved).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from img2img.checkpoints import state_mismatch
from img2img.config import RunConfig
from img2img.data.labelmaps import check_label_values, colourise
from img2img.engine.device import Precision
from img2img.engine.recipe import TrainingRecipe, set_requires_grad
from img2img.families.init_from import Target, load_same_layout
from img2img.families.pix2pixhd.builders import (
    build_discriminator,
    build_encoder,
    build_generator,
)
from img2img.families.pix2pixhd.config import Pix2PixHDConfig
from img2img.families.pix2pixhd.inference import encode_labels
from img2img.losses.gan import GANLoss, feature_matching_loss
from img2img.losses.vgg import VGGLoss, find_vgg_weights, load_vgg19_features
from img2img.models.inference import eval_mode

log = logging.getLogger(__name__)


def hd_linear_decay(n_epochs: int, n_epochs_decay: int):
    """Learning-rate factor of epoch ``e`` (0-based): pix2pixHD's schedule, exactly.

    The rate is constant for the first ``n_epochs + 1`` epochs and then lowered by
    ``1 / n_epochs_decay`` of the initial rate after each epoch: epoch ``n_epochs + k`` runs
    at ``1 - k / n_epochs_decay``, the last one (``k = n_epochs_decay - 1``) at
    ``1 / n_epochs_decay``. The reference lowers the rate at the end of every epoch after
    the ``n_epochs``-th, as the scheduler here steps at the end of each epoch.
    """

    def factor(epoch: int) -> float:
        if n_epochs_decay == 0:
            return 1.0
        return 1.0 - max(0, epoch - n_epochs) / float(n_epochs_decay)

    return factor



class Pix2PixHDRecipe(TrainingRecipe):
    """pix2pixHD's objective: ``GAN + lambda_feat * (feature matching + VGG)``, D loss halved."""

    family = "pix2pixhd"
    #: measured on the CPU (bench/channels_last.py, bench/RESULTS.md): with the networks
    #: channels-last, contiguous inputs made the step slower than no --channels-last at all
    channels_last_inputs = True

    def __init__(self, config: RunConfig, device: torch.device, precision: Precision) -> None:
        super().__init__(config, device, precision)
        m: Pix2PixHDConfig = config.model
        self.G = build_generator(m, init=True).to(device)
        self.D = build_discriminator(m).to(device)
        self.nets = {"G": self.G, "D": self.D}
        self.E = None
        if m.instance_feat:
            self.E = build_encoder(m, init=True).to(device)
            self.nets["E"] = self.E
        self.optimizers = {
            "G": self.adam(self._generator_groups()),
            "D": self.adam(self.D.parameters()),
        }
        decay = hd_linear_decay(config.train.n_epochs, config.train.n_epochs_decay)
        self.schedulers = {k: self.lr_schedule(opt, decay) for k, opt in self.optimizers.items()}
        self.gan_loss = GANLoss(m.gan_mode)
        self.vgg = self._vgg_loss(m, device)
        self._extra: dict[str, Any] = {}
        self._fix_global()

    def _vgg_loss(self, m: Pix2PixHDConfig, device: torch.device) -> VGGLoss | None:
        if not m.vgg_loss:
            return None
        if device.type == "meta":  # shape-only runs (memory estimates)
            return VGGLoss(device="meta")
        return VGGLoss(load_vgg19_features(find_vgg_weights(m.vgg_weights))).to(device)

    def _generator_groups(self) -> list[dict[str, Any]]:
        """G's parameters (and E's), the outermost enhancer's apart when it trains alone first."""
        m: Pix2PixHDConfig = self.config.model
        encoder = list(self.E.parameters()) if self.E is not None else []
        if not m.fix_global_epochs:
            return [{"params": list(self.G.parameters()) + encoder}]
        outer = self.G.outer_enhancer_prefixes()
        named = list(self.G.named_parameters())
        enhancer = [p for k, p in named if k.startswith(outer)]
        rest = [p for k, p in named if not k.startswith(outer)]
        return [{"params": enhancer + encoder}, {"params": rest}]

    @property
    def epochs_done(self) -> int:
        """Epochs finished so far (the schedule's own count, so it resumes with it)."""
        return int(self.schedulers["G"].last_epoch)

    def _fix_global(self) -> None:
        """Freeze G outside its outermost enhancer during the first ``fix_global_epochs``.

        Frozen parameters get no gradient, so Adam leaves them (and its state for them) alone;
        from that epoch on the generator's optimizer updates them too.
        """
        m: Pix2PixHDConfig = self.config.model
        if not m.fix_global_epochs:
            return
        fixed = self.epochs_done < m.fix_global_epochs
        outer = self.G.outer_enhancer_prefixes()
        for key, p in self.G.named_parameters():
            if not key.startswith(outer):
                p.requires_grad_(not fixed)

    def end_epoch(self, epoch_loss: float | None = None) -> None:
        super().end_epoch(epoch_loss)
        m: Pix2PixHDConfig = self.config.model
        if m.fix_global_epochs and self.epochs_done == m.fix_global_epochs:
            log.info("epoch %d: the global generator now trains too", self.epochs_done)
        self._fix_global()

    # --- fine-tuning -------------------------------------------------------------------------
    def init_targets(self) -> dict[str, Target]:
        """G (a global one goes into a local G's global part), and D and E where they fit."""
        targets = {"G": Target(("G",), generator=True, load=self._load_generator),
                   "D": Target(("D",))}
        if self.E is not None:
            targets["E"] = Target(("E",))
        return targets

    def _load_generator(self, net: torch.nn.Module, state: Mapping[str, Tensor]) -> str | None:
        m: Pix2PixHDConfig = self.config.model
        if m.netG == "local" and state_mismatch(net.state_dict(), state) is not None:
            net.load_global(dict(state))  # a global run's; ValueError names what differs
            return "a global generator, into the global part (the local enhancer starts fresh)"
        load_same_layout(net, state)
        return None

    # --- training -----------------------------------------------------------------------------
    def _inputs(self, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor | None, Tensor]:
        """Encoded labels, instance ids and the target photo, on the device."""
        m: Pix2PixHDConfig = self.config.model
        labels = batch["label"]
        if m.label_nc:  # where the batch was loaded: on a GPU, reading the range would wait
            check_label_values(labels, m.label_nc, "batch")
        labels = labels.to(self.device, non_blocking=True)
        instances = batch.get("instance")
        if instances is not None:
            instances = instances.to(self.device, non_blocking=True)
        fmt = self.input_memory_format
        real = batch["image"].to(self.device, non_blocking=True, memory_format=fmt)
        label_in = encode_labels(labels, instances, m, checked=True).contiguous(memory_format=fmt)
        return label_in, instances, real

    def _generator_input(self, label_in: Tensor, instances: Tensor | None, real: Tensor) -> Tensor:
        if self.E is None:
            return label_in
        return torch.cat([label_in, self.E(real, instances)], dim=1)

    def forward_losses(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """Every loss of one step from one forward pass: ``G``/``D`` totals and their terms."""
        m: Pix2PixHDConfig = self.config.model
        label_in, instances, real = self._inputs(batch)
        with self.precision.autocast():
            fake = self.G(self._generator_input(label_in, instances, real))
            set_requires_grad(self.D, True)
            pred_real = self.D(torch.cat([label_in, real], dim=1))
            pred_fake_d = self.D(torch.cat([label_in, fake.detach()], dim=1))
            set_requires_grad(self.D, False)  # G's terms need no gradient in D's weights
            pred_fake = self.D(torch.cat([label_in, fake], dim=1))
        losses = {
            "D_real": self.gan_loss(pred_real, True),
            "D_fake": self.gan_loss(pred_fake_d, False),
            "G_GAN": self.gan_loss(pred_fake, True, for_discriminator=False),
        }
        if m.ganfeat_loss:
            losses["G_GAN_Feat"] = feature_matching_loss(pred_fake, pred_real, m.lambda_feat)
        if self.vgg is not None:
            with self.precision.autocast():
                losses["G_VGG"] = self.vgg(fake, real) * m.lambda_feat
        losses["G"] = sum(v for k, v in losses.items() if k.startswith("G_"))
        losses["D"] = 0.5 * (losses["D_real"] + losses["D_fake"])
        return losses

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        losses = self.forward_losses(batch)
        amp = self.precision
        self.optimizers["G"].zero_grad(set_to_none=True)
        amp.backward(losses["G"])
        amp.step(self.optimizers["G"])
        set_requires_grad(self.D, True)  # D's graph was recorded with gradients on
        self.optimizers["D"].zero_grad(set_to_none=True)
        amp.backward(losses["D"])
        amp.step(self.optimizers["D"])
        amp.update()
        return {k: v.detach() for k, v in losses.items() if k not in ("G", "D")}

    @torch.no_grad()
    def sample(self, batch: Mapping[str, Any]) -> list[Tensor]:
        """Labels (coloured) | output | photo, the output with the encoder's own features."""
        m: Pix2PixHDConfig = self.config.model
        label_in, instances, real = self._inputs(batch)
        labels = batch["label"].to(self.device)
        shown = colourise(labels) if m.label_nc else labels
        nets = [net for net in (self.G, self.E) if net is not None]
        with eval_mode(*nets), self.precision.autocast():
            fake = self.G(self._generator_input(label_in, instances, real))
        return [shown, fake.float(), real]

    # --- state --------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Feature centres added by ``img2img features`` survive a resumed run's checkpoints."""
        return dict(self._extra)

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Keep the checkpoint's extra state; freeze or free the global part for the epoch."""
        self._extra = dict(state)
        self._fix_global()



