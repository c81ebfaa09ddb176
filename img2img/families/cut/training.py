"""CUT / FastCUT training: one generator G (A -> B), a PatchGAN D and the projection head F.

The objective, with the paper's defaults (``--cut-mode cut``)::

    L_D = (L_GAN(D(B), real) + L_GAN(D(G(A)), fake)) / 2                  (LSGAN)
    L_G = lambda_gan * L_GAN(D(G(A)), real)
        + lambda_nce * (PatchNCE(G(A), A) + PatchNCE(G(B), B)) / 2         (1; identity term)

FastCUT (``--cut-mode fastcut``) weighs PatchNCE 10, drops the identity term and flips each
batch left-right at random (flip equivariance: G's features of the output are flipped back
before they are compared with the unflipped input's). PatchNCE of an output averages, over
``--nce-layers``, the contrastive loss of ``--num-patches`` positions of G's encoder features
of the output against the same positions of the input's, both embedded by F. As in the
reference code, D steps before G, one Adam each updates G, D and F, and there is no image pool.

F's MLPs depend on the encoder's channels, so they are made from the first batch's features
(with F's optimizer and schedule, on the schedule's current epoch); a checkpoint written
before that holds an empty F and no F optimizer, and one written after holds both.

One economy over the reference: where G computes the same features again for the input (no
flip, per-image normalisation, no dropout), those of the forward pass serve as PatchNCE's
keys, which carry no gradient in either case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from img2img.checkpoints import state_mismatch
from img2img.config import RunConfig
from img2img.engine import distributed as ddp
from img2img.engine.device import Precision
from img2img.engine.recipe import TrainingRecipe, set_requires_grad
from img2img.families.cut.config import CUTConfig
from img2img.families.cut.description import CUTDescription, projection_head
from img2img.families.cut.networks import (
    PatchSampleF,
    build_discriminator,
    build_generator,
    run_with_features,
    to_channels,
)
from img2img.families.cut.patchnce import patch_nce_loss
from img2img.families.init_from import Target
from img2img.losses.gan import GANLoss, gradient_penalty

#: generator norms whose output for an image does not depend on the rest of the batch
_PER_IMAGE_NORMS = ("instance", "none")


class CUTRecipe(TrainingRecipe):
    """The CUT objective with the reference code's network, optimizer and loss names."""

    family = "cut"

    def __init__(self, config: RunConfig, device: torch.device, precision: Precision) -> None:
        super().__init__(config, device, precision)
        m: CUTConfig = config.model
        self.G = build_generator(m, init=True).to(device)
        self.D = build_discriminator(m).to(device)
        self.F = PatchSampleF(use_mlp=m.netF == "mlp_sample", nc=m.netF_nc).to(device)
        self.nets = {"G": self.G, "D": self.D, "F": self.F}
        self.optimizers = {"G": self.adam(self.G.parameters()),
                           "D": self.adam(self.D.parameters())}
        self.schedulers = {k: self.lr_schedule(opt) for k, opt in self.optimizers.items()}
        self.gan_loss = GANLoss(m.gan_mode)
        self.layer_ids = m.layer_ids
        self.identity = bool(m.nce_idt) and m.lambda_nce > 0

    def init_targets(self) -> dict[str, Target]:
        """G, D and (with --netF mlp_sample) F where their layouts match."""
        if self.config.model.netF != "mlp_sample":
            return {"G": Target(("G",), generator=True), "D": Target(("D",)),
                    "F": Target((), fresh="--netF sample: it has no weights")}
        return {"G": Target(("G",), generator=True), "D": Target(("D",)),
                "F": Target(("F",), load=self._load_projection)}

    def _load_projection(self, net: torch.nn.Module, state: Mapping[str, Tensor]) -> None:
        """Make F's MLPs as the first batch would, with ``state``'s weights (and F's fresh
        optimizer); only compared on the meta device."""
        if not state:
            raise ValueError("the source's F was saved before its first step, when it had none")
        problem = state_mismatch(projection_head(self.config.model).state_dict(), state)
        if problem is not None:
            raise ValueError(f"its layout differs: {problem}")
        if self.device.type != "meta":
            self.F.create_from_state(dict(state))
            self.F.load_state_dict(state)
            self.F.to(self.device)
            self._add_projection_optimizer()

    # --- training ----------------------------------------------------------------------------
    def train_step(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        m: CUTConfig = self.config.model
        real_a, real_b = self.inputs(batch, "A", "B")
        real_b_in = to_channels(real_b, m.input_nc)  # what G reads of B (identity term)
        real = torch.cat((real_a, real_b_in)) if self.identity else real_a
        flipped = bool(m.flip_equivariance) and float(torch.rand(())) < 0.5
        if flipped:
            real = torch.flip(real, [3])
        reuse = not flipped and m.normG in _PER_IMAGE_NORMS and not m.dropout
        with self.precision.autocast():
            if reuse and m.lambda_nce > 0:
                fake, features = run_with_features(self.G, real, self.layer_ids)
            else:
                fake, features = self.G(real), None
        n = real_a.shape[0]
        losses = self._discriminator_step(real_b, fake[:n])
        losses.update(self._generator_step(real_a, real_b_in, fake, features, flipped))
        self.precision.update()
        return {k: v.detach() for k, v in losses.items()}

    def _discriminator_step(self, real_b: Tensor, fake_b: Tensor) -> dict[str, Tensor]:
        amp = self.precision
        set_requires_grad(self.D, True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with amp.autocast():
            fake = fake_b.detach()
            losses = {"D_fake": self.gan_loss(self.D(fake), False),
                      "D_real": self.gan_loss(self.D(real_b), True)}
            loss = 0.5 * (losses["D_fake"] + losses["D_real"])
            if self.gan_loss.mode == "wgangp":
                loss = loss + gradient_penalty(self.D, real_b, fake,
                                               loss_scale=amp.loss_scale())
        amp.backward(loss)
        amp.step(self.optimizers["D"])
        return losses

    def _generator_step(self, real_a: Tensor, real_b_in: Tensor, fake: Tensor,
                        features: list[Tensor] | None, flipped: bool) -> dict[str, Tensor]:
        m: CUTConfig = self.config.model
        amp = self.precision
        n = real_a.shape[0]
        set_requires_grad(self.D, False)
        for name in ("G", "F"):
            if name in self.optimizers:
                self.optimizers[name].zero_grad(set_to_none=True)
        zero = real_a.new_zeros((), dtype=torch.float32)
        with amp.autocast():
            losses = {"G_GAN": self.gan_loss(self.D(fake[:n]), True, for_discriminator=False)
                      * m.lambda_gan if m.lambda_gan > 0 else zero}
            keys = None if features is None else [f[:n].detach() for f in features]
            losses["NCE"] = (self._nce(real_a, fake[:n], keys, flipped)
                             if m.lambda_nce > 0 else zero)
            nce = losses["NCE"]
            if self.identity:
                keys = None if features is None else [f[n:].detach() for f in features]
                losses["NCE_Y"] = self._nce(real_b_in, fake[n:], keys, flipped)
                nce = 0.5 * (losses["NCE"] + losses["NCE_Y"])
            total = losses["G_GAN"] + nce
        amp.backward(total)
        for name in ("G", "F"):
            if name in self.optimizers:
                amp.step(self.optimizers[name])
        return losses

    def _nce(self, source: Tensor, output: Tensor, source_features: list[Tensor] | None,
             flipped: bool) -> Tensor:
        """PatchNCE of ``output`` against its ``source``, averaged over the NCE layers and
        weighted by ``lambda_nce``; ``source_features``: G's features of ``source`` if known."""
        m: CUTConfig = self.config.model
        _, queries = run_with_features(self.G, to_channels(output, m.input_nc),
                                       self.layer_ids, encode_only=True)
        if flipped:
            queries = [torch.flip(q, [3]) for q in queries]
        with torch.no_grad():  # the keys carry no gradient
            if source_features is None:
                _, source_features = run_with_features(self.G, source, self.layer_ids,
                                                       encode_only=True)
            if not self.F.built:
                self._build_projection(source_features)
            keys, patch_ids = self.F(source_features, m.num_patches)
        queries, _ = self.F(queries, m.num_patches, patch_ids)
        total = sum(
            patch_nce_loss(q, k, m.nce_t, output.shape[0],
                           m.nce_includes_all_negatives_from_minibatch).mean()
            for q, k in zip(queries, keys, strict=True))
        return total * m.lambda_nce / len(self.layer_ids)

    def _build_projection(self, features: list[Tensor]) -> None:
        """Create F's MLPs for ``features``' channels (rank 0's in every process), and its
        optimizer and schedule."""
        m: CUTConfig = self.config.model
        self.F.create_mlp([f.shape[1] for f in features], m.init_type, m.init_gain)
        self.F.to(self.device)
        ddp.broadcast_from_main([self.F])
        self._add_projection_optimizer()

    def _add_projection_optimizer(self) -> None:
        """F's Adam, its learning-rate schedule at the epoch G's has reached."""
        if not any(True for _ in self.F.parameters()):
            return
        optimizer = self.adam(self.F.parameters())
        scheduler = self.lr_schedule(optimizer)
        scheduler.load_state_dict(self.schedulers["G"].state_dict())
        for group, lr in zip(optimizer.param_groups, scheduler.get_last_lr(), strict=True):
            group["lr"] = lr
        self.optimizers["F"] = optimizer
        self.schedulers["F"] = scheduler

    @torch.no_grad()
    def sample(self, batch: Mapping[str, Any]) -> list[Tensor]:
        """Columns A | G(A) | B | G(B), as at test time (G(B): the identity mapping)."""
        m: CUTConfig = self.config.model
        real_a, real_b = self.inputs(batch, "A", "B")
        model = CUTDescription.inference_model(self.config, self.nets)
        keys = [str(i) for i in range(real_a.shape[0])]
        with self.precision.autocast():
            fake_b = model.run(real_a, keys)
            idt_b = model.run(to_channels(real_b, m.input_nc), keys)
        return [t.float() for t in (real_a, fake_b, real_b, idt_b)]

    # --- state -------------------------------------------------------------------------------
    def build_from_state(self, nets: Mapping[str, Mapping[str, Tensor]]) -> None:
        """F's MLPs and optimizer as a saved F holds them, when this process has not made F
        from a batch yet (a state saved before F existed holds an empty F)."""
        saved = nets.get("F") or {}
        if saved and not self.F.built:
            self.F.create_from_state(dict(saved))
            self.F.to(self.device)
            self._add_projection_optimizer()
