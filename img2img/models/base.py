"""What every model family provides to the training engine.

A recipe owns its networks, optimizers and schedulers (by name) and knows how to take one
training step. The engine owns everything else: data order, devices, precision, checkpoints,
logging. Families with several networks (CycleGAN's four) or extra state (an image pool)
fit by filling the dicts and overriding :meth:`extra_state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from img2img.config import RunConfig
from img2img.engine.device import Precision


def linear_decay(n_epochs: int, n_epochs_decay: int):
    """LR factor: constant for ``n_epochs``, then linear to zero over ``n_epochs_decay``."""

    def factor(epoch: int) -> float:
        return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)

    return factor


def set_requires_grad(net: nn.Module, flag: bool) -> None:
    """Freeze or unfreeze every parameter of ``net``."""
    for p in net.parameters():
        p.requires_grad_(flag)


class Recipe:
    """Base class of a model family's training recipe."""

    family: str = ""
    #: the network translate uses
    generator_name: str = "G"
    #: translate normalises with each image's own statistics and keeps dropout on (pix2pix)
    paper_test_mode: bool = False

    def __init__(self, config: RunConfig, device: torch.device, precision: Precision) -> None:
        self.config = config
        self.device = device
        self.precision = precision
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}

    # --- building -----------------------------------------------------------------------------
    @classmethod
    def build_generator(cls, model_config: Any) -> nn.Module:
        """The inference network, built from a model config (no weights loaded)."""
        raise NotImplementedError

    @classmethod
    def build_dataset(cls, config: RunConfig) -> Dataset:
        """The training dataset described by ``config.data``."""
        raise NotImplementedError

    @classmethod
    def generator_io(cls, model_config: Any) -> tuple[str, int, int]:
        """``(network name, input channels, output channels)`` of the inference network."""
        raise NotImplementedError

    def adam(self, params, lr: float | None = None) -> torch.optim.Optimizer:
        """Adam with the run's betas; the fused kernel (one pass over memory) where available."""
        train = self.config.train
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(
            params, lr=lr or train.lr, betas=(train.beta1, train.beta2), fused=fused
        )

    def linear_schedule(
        self, optimizer: torch.optim.Optimizer
    ) -> torch.optim.lr_scheduler.LambdaLR:
        train = self.config.train
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, linear_decay(train.n_epochs, train.n_epochs_decay)
        )

    # --- training -----------------------------------------------------------------------------
    def train_step(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """One optimisation step on ``batch``; returns detached scalar losses by name."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, batch: Mapping[str, Any]) -> list[Tensor]:
        """Sample-grid columns (input | output | target), each ``[N,C,H,W]`` in [-1, 1]."""
        raise NotImplementedError

    def end_epoch(self) -> None:
        """Advance the learning-rate schedules by one epoch."""
        for scheduler in self.schedulers.values():
            scheduler.step()

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

    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "scaler": self.precision.state_dict(),
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for group in ("nets", "optimizers", "schedulers"):
            own: dict = getattr(self, group)
            missing = set(own) - set(state[group])
            if missing:
                raise ValueError(f"checkpoint lacks {group} {sorted(missing)}")
            for name, obj in own.items():
                obj.load_state_dict(state[group][name])
        self.precision.load_state_dict(state.get("scaler"))
        self.load_extra_state(state.get("extra", {}))
