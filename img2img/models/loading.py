"""Rebuild a trained generator from a checkpoint: the config inside it says how."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from img2img.config import RunConfig
from img2img.engine.checkpoint import load_checkpoint, resolve_checkpoint
from img2img.models import recipe_class
from img2img.nn import generator_size_multiple


@dataclass(frozen=True)
class LoadedGenerator:
    """A generator ready for inference, with what is needed to feed it."""

    net: nn.Module
    config: RunConfig
    step: int
    source: Path
    network: str
    in_channels: int
    out_channels: int

    @property
    def size_multiple(self) -> int:
        return generator_size_multiple(self.network)


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedGenerator:
    """Load the inference generator of a checkpoint file or run directory onto ``device``."""
    source = resolve_checkpoint(path)
    data = load_checkpoint(source, map_location="cpu")
    config = RunConfig.from_dict(data["config"])
    recipe = recipe_class(config.family)
    net = recipe.build_generator(config.model)
    net.load_state_dict(data["nets"][recipe.generator_name])
    net.to(device)
    name, in_channels, out_channels = recipe.generator_io(config.model)
    return LoadedGenerator(net, config, data["step"], source, name, in_channels, out_channels)
