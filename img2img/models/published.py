"""Bare published generator ``state_dict`` files (``<name>.pth``): their layouts, and candidates.

The reference pix2pix/CycleGAN code publishes generators as bare state dicts. Our networks
share their layout, so such a file is matched against the generators each family proposes
(:func:`img2img.families.published.recognise_generator`), and loads unchanged. Older CycleGAN
files also hold InstanceNorm running statistics that the networks do not have; they are
dropped. Weights saved from a ``DataParallel`` model carry a ``module.`` prefix on every key;
it is removed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from img2img.nn import create_generator, list_generators

LEGACY_STATS = ("running_mean", "running_var", "num_batches_tracked")
#: the key prefix of weights saved from ``nn.DataParallel`` / ``DistributedDataParallel``
PARALLEL_PREFIX = "module."


@dataclass(frozen=True)
class GeneratorSpec:
    """A registered generator and the options that reproduce a state dict's layout.

    ``family`` names the model family it comes from, whose description builds the inference
    model.
    """

    name: str
    options: dict[str, Any]
    family: str

    def build(self) -> nn.Module:
        return create_generator(self.name, init_type=None, **self.options)

    def describe(self) -> str:
        """``resnet_9blocks (ngf 64, norm instance, 3 -> 3 channels)``, and ``antialiased``
        sampling where it has it (CUT's)."""
        o = self.options
        sampling = ", antialiased" if o.get("antialias") or o.get("antialias_up") else ""
        return (f"{self.name} (ngf {o.get('ngf')}, norm {o.get('norm')}, "
                f"{o.get('in_channels')} -> {o.get('out_channels')} channels{sampling})")


def strip_parallel_prefix(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` without the ``module.`` prefix that (Distributed)DataParallel puts on every key."""
    if state and all(k.startswith(PARALLEL_PREFIX) for k in state):
        return {k[len(PARALLEL_PREFIX):]: v for k, v in state.items()}
    return dict(state)


def describe_layout(state: Mapping[str, Tensor]) -> str:
    """What a state dict holds, in words, for messages about weights that are not recognised."""
    convs = [(k, tuple(v.shape)) for k, v in state.items() if k.endswith("weight") and v.dim() == 4]
    parts = [f"{len(state)} tensors"]
    if convs:
        (first, first_shape), (last, last_shape) = convs[0], convs[-1]
        parts.append(f"{len(convs)} convolution weights, the first {first} {list(first_shape)}, "
                     f"the last {last} {list(last_shape)}")
    else:
        parts.append("no convolution weights")
    stats = sum(k.endswith("running_mean") for k in state)
    parts.append(f"{stats} normalisation layers with running statistics")
    keys = list(state)
    parts.append("keys " + ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else ""))
    return "; ".join(parts)


def layout(net: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def drop_legacy_stats(state: Mapping[str, Tensor], net: nn.Module) -> dict[str, Tensor]:
    """``state`` without running statistics that ``net`` has no place for."""
    own = net.state_dict().keys()
    return {k: v for k, v in state.items() if k in own or not k.endswith(LEGACY_STATS)}


def image_generator_candidates(
    state: Mapping[str, Tensor], family: str, norm: str
) -> list[GeneratorSpec]:
    """The generators ``family`` uses, with ``norm``, whose channels and width could be those
    of ``state`` (U-Nets with batch norm have dropout, as the reference trains them)."""
    weights = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 4]
    if not weights:
        return []
    ngf, in_channels = weights[0].shape[:2]
    outs = sorted({int(n) for n in weights[-1].shape[:2]} & {1, 3})
    specs = []
    for name, out in itertools.product(list_generators(family), outs):
        options = {
            "in_channels": int(in_channels),
            "out_channels": out,
            "ngf": int(ngf),
            "norm": norm,
            "dropout": name.startswith("unet") and norm == "batch",
        }
        specs.append(GeneratorSpec(name, options, family))
    return specs


def is_bare_state_dict(data: object) -> bool:
    """Whether ``data`` looks like a bare ``state_dict``: names mapped to tensors."""
    return (
        isinstance(data, Mapping)
        and len(data) > 0
        and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in data.items())
    )
