"""Learning-rate schedules by name (``--lr-policy``), stepped once at the end of every epoch.

``linear`` keeps the rate for ``n_epochs`` epochs, then lowers it linearly over
``n_epochs_decay`` epochs (never to zero: see :func:`linear_decay`); ``step`` multiplies it by
0.1 every ``lr_decay_iters`` epochs; ``cosine`` follows half a cosine from the rate down
towards zero over all ``n_epochs + n_epochs_decay`` epochs; ``plateau`` multiplies it by 0.2
when the epoch's mean generator loss has not fallen by 1 % for 5 epochs. The policies are the
reference pix2pix/CycleGAN code's; each schedule is a torch scheduler whose state the
checkpoint keeps, so a resume continues it exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LambdaLR,
    LRScheduler,
    ReduceLROnPlateau,
    StepLR,
)

from img2img.config import LR_POLICIES

#: ``step``: the factor applied every ``lr_decay_iters`` epochs
STEP_GAMMA = 0.1
#: ``plateau``: factor, relative improvement that counts, epochs without one before lowering
PLATEAU_FACTOR, PLATEAU_THRESHOLD, PLATEAU_PATIENCE = 0.2, 0.01, 5

Factor = Callable[[int], float]
Scheduler = LRScheduler | ReduceLROnPlateau


def linear_decay(n_epochs: int, n_epochs_decay: int) -> Factor:
    """Learning-rate factor of epoch ``e`` (0-based): the pix2pix/CycleGAN linear decay.

    The factor is 1 for the first ``n_epochs`` epochs, then falls by ``1 / (n_epochs_decay + 1)``
    per epoch: epoch ``n_epochs`` runs at ``1 - 1/(n_epochs_decay + 1)`` and the last epoch
    (``n_epochs + n_epochs_decay - 1``) at ``1 / (n_epochs_decay + 1)``; it never reaches 0.
    The scheduler steps at the end of each epoch. The reference code steps at the start of
    each epoch instead, so its decay begins one epoch earlier and its last epoch runs at 0.
    """

    def factor(epoch: int) -> float:
        return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)

    return factor


def build_scheduler(
    optimizer: Optimizer,
    policy: str,
    *,
    n_epochs: int,
    n_epochs_decay: int,
    lr_decay_iters: int,
    linear: Factor | None = None,
) -> Scheduler:
    """The schedule ``policy`` of :data:`LR_POLICIES` for ``optimizer``.

    ``linear`` replaces :func:`linear_decay` as the ``linear`` policy's factor (a family whose
    reference decays differently, such as pix2pixHD).
    """
    if policy == "linear":
        return LambdaLR(optimizer, linear or linear_decay(n_epochs, n_epochs_decay))
    if policy == "step":
        return StepLR(optimizer, step_size=lr_decay_iters, gamma=STEP_GAMMA)
    if policy == "cosine":
        return CosineAnnealingLR(optimizer, T_max=n_epochs + n_epochs_decay, eta_min=0.0)
    if policy == "plateau":
        return ReduceLROnPlateau(optimizer, mode="min", factor=PLATEAU_FACTOR,
                                 threshold=PLATEAU_THRESHOLD, patience=PLATEAU_PATIENCE)
    raise ValueError(f"--lr-policy: {policy!r} is not valid; expected one of: "
                     f"{', '.join(LR_POLICIES)}")


def step_scheduler(scheduler: Scheduler, epoch_loss: float | None) -> None:
    """Advance ``scheduler`` by one epoch; ``plateau`` needs the epoch's mean generator loss."""
    if isinstance(scheduler, ReduceLROnPlateau):
        if epoch_loss is None:
            raise ValueError("--lr-policy plateau: the epoch's generator loss is missing")
        scheduler.step(epoch_loss)
    else:
        scheduler.step()


def generator_loss(losses: dict[str, torch.Tensor]) -> torch.Tensor:
    """The generator's total loss of one step: every loss except the discriminators'
    (``D_*``) summed, which is what ``plateau`` watches."""
    parts = [v for k, v in losses.items() if not k.startswith("D")]
    if not parts:
        raise ValueError(f"no generator loss among {sorted(losses)}")
    return torch.stack([p.detach().float() for p in parts]).sum()
