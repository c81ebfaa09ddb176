"""Recognise a bare published generator ``state_dict`` (``<name>.pth``) from its keys and shapes.

The reference pix2pix/CycleGAN code publishes generators as bare state dicts. Our networks
share their layout, so such a file is matched against every registered generator, norm and
channel count, and loads unchanged. Older CycleGAN files also hold InstanceNorm running
statistics that the networks do not have; they are dropped.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from img2img.config import image_generators
from img2img.nn import create_generator, list_generators

LEGACY_STATS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class GeneratorSpec:
    """A registered generator and the options that reproduce a state dict's layout.

    ``family`` names the model family whose recipe builds the inference model (pix2pixHD's
    generators take label maps); None for the pix2pix/CycleGAN image generators.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    family: str | None = None

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
    for name, norm, out in itertools.product(image_generators(), ("batch", "instance"), outs):
        options = {
            "in_channels": int(in_channels),
            "out_channels": out,
            "ngf": int(ngf),
            "norm": norm,
            "dropout": name.startswith("unet") and norm == "batch",
        }
        specs.append(GeneratorSpec(name, options))
    return specs


_BLOCK = re.compile(r"^(model\d*(?:_2)?)\.(\d+)\.conv_block\.")
_CONV = re.compile(r"^model\.(\d+)\.weight$")


def _pix2pixhd_candidates(state: Mapping[str, Tensor]) -> list[GeneratorSpec]:
    """pix2pixHD's ``global`` / ``local`` generators whose depth the keys of ``state`` give."""
    first = state.get("model.1.weight")
    if first is None or first.dim() != 4 or first.shape[-1] != 7:
        return []
    blocks: dict[str, set[int]] = {}
    for key in state:
        if match := _BLOCK.match(key):
            blocks.setdefault(match.group(1), set()).add(int(match.group(2)))
    if not blocks.get("model"):
        return []
    convs = sorted(int(m.group(1)) for k in state if (m := _CONV.match(k)))
    n_down = sum(1 for i in convs if 1 < i < min(blocks["model"]))
    width, in_channels = int(first.shape[0]), int(first.shape[1])
    last = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 4][-1]
    enhancers = len({k.split(".")[0] for k in state if re.match(r"^model\d+_1\.", k)})
    specs = []
    for norm in ("instance", "batch"):
        common = {"in_channels": in_channels, "out_channels": int(last.shape[0]), "norm": norm}
        if enhancers == 0:
            specs.append(GeneratorSpec("global", {**common, "ngf": width, "n_downsampling": n_down,
                                                  "n_blocks": len(blocks["model"])}, "pix2pixhd"))
        else:
            local_blocks = len(blocks.get(f"model{enhancers}_2", ()))
            specs.append(GeneratorSpec("local", {
                **common, "ngf": width // 2**enhancers, "n_downsample_global": n_down,
                "n_blocks_global": len(blocks["model"]), "n_local_enhancers": enhancers,
                "n_blocks_local": local_blocks}, "pix2pixhd"))
    return specs


def recognise_generator(state: Mapping[str, Tensor]) -> GeneratorSpec:
    """The generator whose ``state_dict`` layout equals ``state``'s (legacy stats aside).

    Raises:
        ValueError: no registered generator has this layout.
    """
    wanted = {k: tuple(v.shape) for k, v in state.items()}
    # a layout both families share (CycleGAN's resnet is a global generator with 2
    # downsamplings) is the image generator's: label-map generators take more channels
    for spec in [*_candidates(state), *_pix2pixhd_candidates(state)]:
        try:
            with torch.device("meta"):
                net = spec.build()
        except ValueError:
            continue
        if _layout(net) == {k: wanted[k] for k in drop_legacy_stats(state, net)}:
            return spec
    raise ValueError(
        "the weights match no known generator layout; expected the state_dict of one of: "
        f"{', '.join(list_generators())} (norm batch or instance, 1 or 3 image channels)"
    )


def is_bare_state_dict(data: object) -> bool:
    """Whether ``data`` looks like a bare ``state_dict``: names mapped to tensors."""
    return (
        isinstance(data, Mapping)
        and len(data) > 0
        and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in data.items())
    )
