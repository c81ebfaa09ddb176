"""CycleGAN training: G_A (A -> B) and G_B (B -> A) with cycle consistency against D_A and D_B.

D_A judges B images (real B against G_A(A)), D_B judges A images (real A against G_B(B)), as
in the reference code, whose network names (``G_A``, ``G_B``, ``D_A``, ``D_B``) the checkpoint
keeps. The objective, with the paper's defaults::

    L_G = L_GAN(G_A, D_A) + L_GAN(G_B, D_B)                              (LSGAN)
        + lambda_A * |G_B(G_A(A)) - A|_1 + lambda_B * |G_A(G_B(B)) - B|_1   (cycle, 10 and 10)
        + lambda_identity * (lambda_B * |G_A(B) - B|_1 + lambda_A * |G_B(A) - A|_1)   (0.5)
    L_D_A = (L_GAN(D_A(B), real) + L_GAN(D_A(pool_B(G_A(A))), fake)) / 2, and L_D_B alike

One Adam updates both generators, then one Adam both discriminators; each discriminator sees
fakes through an :class:`ImagePool` of the last 50 generated images.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2img.config import RunConfig
from img2img.data.seeding import mix_seed
from img2img.engine.device import Precision
from img2img.engine.recipe import TrainingRecipe, set_requires_grad
from img2img.families.cyclegan.config import CycleGANConfig
from img2img.families.cyclegan.description import CycleGANDescription
from img2img.families.init_from import Target
from img2img.losses.gan import GANLoss, gradient_penalty
from img2img.models.networks import build_discriminator, build_generator

#: seeds the pools' random draws apart from everything else the run seed drives
_POOL_SEED = 0xB001


def _pool_seed(run_seed: int, pool: int, rank: int = 0) -> int:
    """The seed of image pool ``pool`` in data-parallel process ``rank`` (rank 0: the run's)."""
    if rank == 0:
        return mix_seed(run_seed, _POOL_SEED, pool)
    return mix_seed(run_seed, _POOL_SEED, pool, rank)


class ImagePool:
    """A history of generated images for a discriminator to look at (Shrivastava et al. 2017).

    :meth:`query` takes a batch of new fakes and returns a batch of the same size: while fewer
    than ``size`` images are stored, each new image is stored and returned; once the pool is
    full, each new image is, with probability 1/2, swapped for a random stored one (which is
    returned and replaced by it) or else returned as it is. ``size`` 0 returns the batch
    unchanged. A stored image of another size than the new one is never swapped in.

    The draws come from the pool's own generator, saved with the stored images by
    :meth:`state_dict`, so a resumed run draws exactly what it would have.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"pool size: {size!r} is not valid; expected a number >= 0")
        self.size = size
        self.images: list[Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: Tensor) -> Tensor:
        """The images a discriminator sees for the new fakes ``images`` (``[N, C, H, W]``)."""
        if self.size == 0:
            return images
        returned = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                returned.append(image)
                continue
            swap = float(torch.rand((), generator=self.generator, dtype=torch.float64)) > 0.5
            slot = int(torch.randint(self.size, (), generator=self.generator))
            if swap and self.images[slot].shape == image.shape:
                returned.append(self.images[slot])
                self.images[slot] = image.clone()
            else:
                returned.append(image)
        return torch.stack(returned)

    def state_dict(self) -> dict[str, Any]:
        """The stored images (on the CPU) and the generator's state."""
        return {"images": [image.cpu() for image in self.images],
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any], device: torch.device) -> None:
        """Restore :meth:`state_dict`'s images (onto ``device``) and random state."""
        self.images = [image.to(device) for image in state["images"]][: self.size]
        self.generator.set_state(state["generator"])


class CycleGANRecipe(TrainingRecipe):
    """The CycleGAN objective with the reference code's network, optimizer and loss names."""

    family = "cyclegan"

    def __init__(self, config: RunConfig, device: torch.device, precision: Precision) -> None:
        super().__init__(config, device, precision)
        m: CycleGANConfig = config.model
        self.G_A = build_generator(m, m.input_nc, m.output_nc, init=True).to(device)
        self.G_B = build_generator(m, m.output_nc, m.input_nc, init=True).to(device)
        self.D_A = build_discriminator(m, m.output_nc).to(device)
        self.D_B = build_discriminator(m, m.input_nc).to(device)
        self.nets = {"G_A": self.G_A, "G_B": self.G_B, "D_A": self.D_A, "D_B": self.D_B}
        self.optimizers = {
            "G": self.adam(itertools.chain(self.G_A.parameters(), self.G_B.parameters())),
            "D": self.adam(itertools.chain(self.D_A.parameters(), self.D_B.parameters())),
        }
        self.schedulers = {k: self.lr_schedule(opt) for k, opt in self.optimizers.items()}
        self.pools = {
            name: ImagePool(m.pool_size, _pool_seed(config.train.seed, i))
            for i, name in enumerate(("fake_A", "fake_B"))
        }
        self.gan_loss = GANLoss(m.gan_mode)

    def init_targets(self) -> dict[str, Target]:
        """G_A from a run's G_A or a published (one-generator) file; the rest from a run."""
        return {"G_A": Target(("G_A", "G"), generator=True),
                "G_B": Target(("G_B",), generator=True),
                "D_A": Target(("D_A",)), "D_B": Target(("D_B",))}

    # --- training ----------------------------------------------------------------------------
    def train_step(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        real_a, real_b = self.inputs(batch, "A", "B")
        amp = self.precision
        with amp.autocast():
            fake_b = self.G_A(real_a)
            rec_a = self.G_B(fake_b)
            fake_a = self.G_B(real_b)
            rec_b = self.G_A(fake_a)
        losses = self._generator_step(real_a, real_b, fake_a, fake_b, rec_a, rec_b)
        losses.update(self._discriminator_step(real_a, real_b, fake_a, fake_b))
        amp.update()
        return {k: v.detach() for k, v in losses.items()}

    def _generator_step(self, real_a: Tensor, real_b: Tensor, fake_a: Tensor, fake_b: Tensor,
                        rec_a: Tensor, rec_b: Tensor) -> dict[str, Tensor]:
        m: CycleGANConfig = self.config.model
        amp = self.precision
        set_requires_grad(self.D_A, False)
        set_requires_grad(self.D_B, False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with amp.autocast():
            if m.lambda_identity > 0:
                idt_a = _l1(self.G_A(real_b), real_b) * m.lambda_B * m.lambda_identity
                idt_b = _l1(self.G_B(real_a), real_a) * m.lambda_A * m.lambda_identity
            else:
                idt_a = idt_b = real_a.new_zeros((), dtype=torch.float32)
            losses = {
                "G_A": self.gan_loss(self.D_A(fake_b), True, for_discriminator=False),
                "G_B": self.gan_loss(self.D_B(fake_a), True, for_discriminator=False),
                "cycle_A": _l1(rec_a, real_a) * m.lambda_A,
                "cycle_B": _l1(rec_b, real_b) * m.lambda_B,
                "idt_A": idt_a,
                "idt_B": idt_b,
            }
            total = sum(losses.values())
        amp.backward(total)
        amp.step(self.optimizers["G"])
        return losses

    def _discriminator_step(self, real_a: Tensor, real_b: Tensor, fake_a: Tensor,
                            fake_b: Tensor) -> dict[str, Tensor]:
        amp = self.precision
        set_requires_grad(self.D_A, True)
        set_requires_grad(self.D_B, True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with amp.autocast():
            loss_d_a = self._discriminator_loss(
                self.D_A, real_b, self.pools["fake_B"].query(fake_b.detach()))
            loss_d_b = self._discriminator_loss(
                self.D_B, real_a, self.pools["fake_A"].query(fake_a.detach()))
        amp.backward(loss_d_a + loss_d_b)
        amp.step(self.optimizers["D"])
        return {"D_A": loss_d_a, "D_B": loss_d_b}

    def _discriminator_loss(self, net: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        loss = 0.5 * (self.gan_loss(net(real), True) + self.gan_loss(net(fake), False))
        if self.gan_loss.mode == "wgangp":
            loss = loss + gradient_penalty(net, real, fake, loss_scale=self.precision.loss_scale())
        return loss

    @torch.no_grad()
    def sample(self, batch: Mapping[str, Any]) -> list[Tensor]:
        """Columns A | G_A(A) | G_B(G_A(A)) | B | G_B(B) | G_A(G_B(B)), as at test time."""
        real_a, real_b = self.inputs(batch, "A", "B")
        forward = CycleGANDescription.inference_model(self.config, self.nets, direction="AtoB")
        backward = CycleGANDescription.inference_model(self.config, self.nets, direction="BtoA")
        keys = [str(i) for i in range(real_a.shape[0])]
        with self.precision.autocast():
            fake_b = forward.run(real_a, keys)
            rec_a = backward.run(fake_b, keys)
            fake_a = backward.run(real_b, keys)
            rec_b = forward.run(fake_a, keys)
        return [t.float() for t in (real_a, fake_b, rec_a, real_b, fake_a, rec_b)]

    # --- state -------------------------------------------------------------------------------
    def rank_state(self) -> dict[str, Any]:
        """Both image pools, their stored fakes and random state: every data-parallel process
        fills its own from its own batches."""
        return {"image_pools": {name: pool.state_dict() for name, pool in self.pools.items()}}

    def load_rank_state(self, state: dict[str, Any]) -> None:
        self._load_pools(state.get("image_pools", {}))

    def seed_rank(self, rank: int) -> None:
        """Each process's pools swap with their own draws, not the same ones on every rank."""
        for i, pool in enumerate(self.pools.values()):
            pool.generator.manual_seed(_pool_seed(self.config.train.seed, i, rank))

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Checkpoints written before pools were saved per process hold rank 0's here."""
        if "pools" in state:
            self._load_pools(state["pools"])

    def _load_pools(self, pools: Mapping[str, Any]) -> None:
        missing = sorted(set(self.pools) - set(pools))
        if missing:
            raise ValueError(f"checkpoint lacks image pools {missing}")
        for name, pool in self.pools.items():
            pool.load_state_dict(pools[name], self.device)


def _l1(output: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error in fp32 (outputs may be half precision under autocast)."""
    return F.l1_loss(output.float(), target.float())
