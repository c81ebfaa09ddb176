"""Pixel ranges: files and transforms use ``[0, 1]``, the networks ``[-1, 1]``."""

from __future__ import annotations

import torch


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """Map ``[0, 1]`` images to the ``[-1, 1]`` range the generators expect."""
    return x * 2.0 - 1.0


def from_model_range(x: torch.Tensor) -> torch.Tensor:
    """Map network outputs in ``[-1, 1]`` back to ``[0, 1]`` (clamped)."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)
