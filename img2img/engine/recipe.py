"""What the training engine needs of a model family's recipe, and nothing more."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from img2img.config import RunConfig


class TrainingRecipe(Protocol):
    """A family's networks, optimizers and training step, as the trainer drives them.

    :class:`img2img.models.base.Recipe` implements it for every family.
    """

    family: str
    config: RunConfig
    device: torch.device
    nets: dict[str, nn.Module]

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """One optimisation step; detached scalar losses by name."""
        ...

    def sample(self, batch: Mapping[str, Any]) -> list[Tensor]:
        """Sample-grid columns, each ``[N, C, H, W]`` in [-1, 1]."""
        ...

    def end_epoch(self) -> None:
        """Advance the learning-rate schedules by one epoch."""
        ...

    @property
    def learning_rate(self) -> float: ...

    def train(self, mode: bool = True) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def rank_state(self) -> dict[str, Any]:
        """What this process keeps for itself (saved for every process, by rank)."""
        ...

    def load_rank_state(self, state: dict[str, Any]) -> None: ...

    def seed_rank(self, rank: int) -> None:
        """Give this process's own random draws their own stream (data-parallel rank > 0)."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...
