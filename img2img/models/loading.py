"""Rebuild a trained generator for inference from a checkpoint or published weights.

An img2img checkpoint carries its config, which says how to rebuild the network; a bare
published ``state_dict`` is recognised from its keys and shapes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from img2img.config import RunConfig
from img2img.engine.checkpoint import (
    FORMAT,
    CheckpointError,
    check_checkpoint,
    read_checkpoint_file,
    resolve_checkpoint,
)
from img2img.models import recipe_class
from img2img.models.published import drop_legacy_stats, is_bare_state_dict, recognise_generator
from img2img.nn import generator_size_multiple


@dataclass(frozen=True)
class LoadedGenerator:
    """A generator ready for inference, with what is needed to feed it."""

    net: nn.Module
    source: Path
    network: str
    in_channels: int
    out_channels: int
    #: translate as the pix2pix paper tests (per-image statistics, dropout on)
    paper_test_mode: bool
    step: int | None = None
    config: RunConfig | None = None  # None for published weights

    @property
    def size_multiple(self) -> int:
        return generator_size_multiple(self.network)


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedGenerator:
    """Load the inference generator of a checkpoint, run directory or published ``.pth``."""
    source = resolve_checkpoint(path)
    data = read_checkpoint_file(source, mmap=True)  # optimizer states are never paged in
    if isinstance(data, dict) and data.get("format") == FORMAT:
        loaded = _from_checkpoint(check_checkpoint(data, source), source)
    elif is_bare_state_dict(data):
        loaded = _from_published(data, source)
    else:
        raise CheckpointError(f"{source}: neither an img2img checkpoint nor a generator state_dict")
    loaded.net.to(device)
    return loaded


def _from_checkpoint(data: dict, source: Path) -> LoadedGenerator:
    config = RunConfig.from_dict(data["config"])
    recipe = recipe_class(config.family)
    net = recipe.build_generator(config.model)
    net.load_state_dict(data["nets"][recipe.generator_name])
    name, in_channels, out_channels = recipe.generator_io(config.model)
    return LoadedGenerator(
        net, source, name, in_channels, out_channels, recipe.paper_test_mode, data["step"], config
    )


def _from_published(state: dict, source: Path) -> LoadedGenerator:
    try:
        spec = recognise_generator(state)
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc
    net = spec.build()
    net.load_state_dict(drop_legacy_stats(state, net))
    paper = spec.options["norm"] == "batch"  # pix2pix's U-Nets; CycleGAN uses instance norm
    o = spec.options
    return LoadedGenerator(net, source, spec.name, o["in_channels"], o["out_channels"], paper)
