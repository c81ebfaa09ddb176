"""Recognise a bare published generator ``state_dict`` (``<name>.pth``) from its keys and shapes.

The reference pix2pix/CycleGAN code publishes generators as bare state dicts. Our networks
share their layout, so such a file is matched against every registered generator, norm and
channel count, and loads unchanged. Older CycleGAN files also hold InstanceNorm running
statistics that the networks do not have; they are dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from img2img.nn import create_generator, list_generators

LEGACY_STATS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class GeneratorSpec:
    """A registered generator and the options that reproduce a state dict's layout."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def build(self) -> nn.Module:
        return create_generator(self.name, init_type=None, **self.options)


def _layout(net: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def drop_legacy_stats(state: Mapping[str, Tensor], net: nn.Module) -> dict[str, Tensor]:
    """``state`` without running statistics that ``net`` has no place for."""
    own = net.state_dict().keys()
    return {k: v for k, v in state.items() if k in own or not k.endswith(LEGACY_STATS)}


def _candidates(state: Mapping[str, Tensor]) -> list[GeneratorSpec]:
    weights = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 4]
    if not weights:
        return []
    ngf, in_channels = weights[0].shape[:2]
    outs = sorted({int(n) for n in weights[-1].shape[:2]} & {1, 3})
    specs = []
    for name, norm, out in itertools.product(list_generators(), ("batch", "instance"), outs):
        options = {
            "in_channels": int(in_channels),
            "out_channels": out,
            "ngf": int(ngf),
            "norm": norm,
            "dropout": name.startswith("unet") and norm == "batch",
        }
        specs.append(GeneratorSpec(name, options))
    return specs


def recognise_generator(state: Mapping[str, Tensor]) -> GeneratorSpec:
    """The generator whose ``state_dict`` layout equals ``state``'s (legacy stats aside).

    Raises:
        ValueError: no registered generator has this layout.
    """
    wanted = {k: tuple(v.shape) for k, v in state.items()}
    for spec in _candidates(state):
        try:
            with torch.device("meta"):
                net = spec.build()
        except ValueError:
            continue
        if _layout(net) == {k: wanted[k] for k in drop_legacy_stats(state, net)}:
            return spec
    raise ValueError(
        "the weights match no known generator layout; expected the state_dict of one of: "
        f"{', '.join(list_generators())} (norm batch or instance, 1 or 3 channels)"
    )


def is_bare_state_dict(data: object) -> bool:
    """Whether ``data`` looks like a bare ``state_dict``: names mapped to tensors."""
    return (
        isinstance(data, Mapping)
        and len(data) > 0
        and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in data.items())
    )
