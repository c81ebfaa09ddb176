"""What trains: a family's networks, optimizers, schedules and one training step.

A family's training recipe subclasses :class:`TrainingRecipe`; the engine sees nothing else of
the family. The recipe owns its networks, optimizers and schedulers (by name) and takes one
step; the engine owns data order, devices, precision, checkpoints and logging. Families with
several networks (CycleGAN's four) or extra state (an image pool) fit by filling the dicts and
overriding :meth:`TrainingRecipe.extra_state` / :meth:`TrainingRecipe.rank_state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from img2img.config import RunConfig
from img2img.engine.device import Precision
from img2img.engine.schedules import Factor, Scheduler, build_scheduler, step_scheduler
from img2img.engine.schedules import generator_loss as summed_generator_loss


def set_requires_grad(net: nn.Module, flag: bool) -> None:
    """Freeze or unfreeze every parameter of ``net``."""
    for p in net.parameters():
        p.requires_grad_(flag)


class TrainingRecipe:
    """Base class of a family's training recipe: built for a run, on a device and precision."""

    family: str = ""
    #: whether the batch's streams go to the device channels-last under ``--channels-last``
    #: (the networks always do): chosen per family by measurement (bench/channels_last.py,
    #: figures in bench/RESULTS.md; on the CPU so far, the CUDA choice waits for a device)
    channels_last_inputs: bool = True

    def __init__(self, config: RunConfig, device: torch.device, precision: Precision) -> None:
        self.config = config
        self.device = device
        self.precision = precision
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Scheduler] = {}
        #: what the engine did to the recipe's networks (data-parallel setup), for the user
        self.notes: list[str] = []

    def adam(self, params, lr: float | None = None) -> torch.optim.Optimizer:
        """Adam with the run's betas; the fused kernel (one pass over memory) where available."""
        train = self.config.train
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(
            params, lr=lr or train.lr, betas=(train.beta1, train.beta2), fused=fused
        )

    def lr_schedule(self, optimizer: torch.optim.Optimizer, linear: Factor | None = None
                    ) -> Scheduler:
        """The run's ``--lr-policy`` schedule for ``optimizer``; ``linear`` replaces the
        ``linear`` policy's factor where the family's reference decays differently."""
        train = self.config.train
        return build_scheduler(optimizer, train.lr_policy, n_epochs=train.n_epochs,
                               n_epochs_decay=train.n_epochs_decay,
                               lr_decay_iters=train.lr_decay_iters, linear=linear)

    @property
    def input_memory_format(self) -> torch.memory_format:
        """The memory format of the networks' inputs: channels-last under ``--channels-last``
        where the family's :attr:`channels_last_inputs` says so."""
        if self.config.train.channels_last and self.channels_last_inputs:
            return torch.channels_last
        return torch.contiguous_format

    def inputs(self, batch: Mapping[str, Any], *names: str) -> tuple[Tensor, ...]:
        """The streams ``names`` of ``batch`` on the run's device, channels-last if asked for."""
        memory_format = self.input_memory_format
        return tuple(batch[name].to(self.device, non_blocking=True, memory_format=memory_format)
                     for name in names)

    # --- the step -------------------------------------------------------------------------------
    def init_targets(self) -> dict[str, Any]:
        """The networks ``--init-from`` may load, by name: :class:`~img2img.families.init_from
        .Target` each (a network left out starts fresh)."""
        return {}

    def forward_losses(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """The losses of one step without backward (memory estimates); optional."""
        raise NotImplementedError

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """One optimisation step on ``batch``; returns detached scalar losses by name."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, batch: Mapping[str, Any]) -> list[Tensor]:
        """Sample-grid columns (input | output | target), each ``[N,C,H,W]`` in [-1, 1]."""
        raise NotImplementedError

    def generator_loss(self, losses: Mapping[str, Tensor]) -> Tensor:
        """The generator's total loss of one step (what ``--lr-policy plateau`` watches): every
        loss but the discriminators' (``D_*``), summed."""
        return summed_generator_loss(dict(losses))

    def end_epoch(self, epoch_loss: float | None = None) -> None:
        """Advance the learning-rate schedules by one epoch; ``epoch_loss`` is the epoch's mean
        generator loss (needed by ``--lr-policy plateau``)."""
        for scheduler in self.schedulers.values():
            step_scheduler(scheduler, epoch_loss)

    @property
    def learning_rate(self) -> float:
        first = next(iter(self.optimizers.values()))
        return float(first.param_groups[0]["lr"])

    def train(self, mode: bool = True) -> None:
        for net in self.nets.values():
            net.train(mode)

    # --- state --------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Family-specific state to checkpoint (plain types and tensors)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""

    def rank_state(self) -> dict[str, Any]:
        """State each data-parallel process keeps for itself (plain types and tensors), saved
        for every process by rank; keys name what it is (``image_pools``)."""
        return {}

    def load_rank_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`rank_state` returned in this process before the stop."""

    def seed_rank(self, rank: int) -> None:
        """Give the random draws this process keeps for itself (:meth:`rank_state`) their own
        stream in data-parallel process ``rank`` (> 0; rank 0 keeps the run's)."""

    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "scaler": self.precision.state_dict(),
            "extra": self.extra_state(),
        }

    def build_from_state(self, nets: Mapping[str, Mapping[str, Tensor]]) -> None:
        """Create what this recipe otherwise makes from its first batch (CUT's projection
        head) as the saved network states ``nets`` hold it; before they are checked and
        loaded. Nothing by default."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.build_from_state(state["nets"])
        for group in ("nets", "optimizers", "schedulers"):
            own: dict = getattr(self, group)
            missing = set(own) - set(state[group])
            if missing:
                raise ValueError(f"checkpoint lacks {group} {sorted(missing)}")
            for name, obj in own.items():
                obj.load_state_dict(state[group][name])
        self.precision.load_state_dict(state.get("scaler"))
        self.load_extra_state(state.get("extra", {}))
