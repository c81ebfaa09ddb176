"""Recognise a bare published generator ``state_dict`` (``<name>.pth``) from its keys and shapes.

The reference pix2pix/CycleGAN code publishes generators as bare state dicts. Our networks
share their layout, so such a file is matched against every registered generator, norm and
channel count, and loads unchanged. Older CycleGAN files also hold InstanceNorm running
statistics that the networks do not have; they are dropped. Weights saved from a
``DataParallel`` model carry a ``module.`` prefix on every key; it is removed.
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
#: the key prefix of weights saved from ``nn.DataParallel`` / ``DistributedDataParallel``
PARALLEL_PREFIX = "module."


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

    def describe(self) -> str:
        """``resnet_9blocks (ngf 64, norm instance, 3 -> 3 channels)``."""
        o = self.options
        return (f"{self.name} (ngf {o.get('ngf')}, norm {o.get('norm')}, "
                f"{o.get('in_channels')} -> {o.get('out_channels')} channels)")


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

    A ``module.`` prefix on every key is ignored.

    Raises:
        ValueError: no registered generator has this layout; the message says what was found.
    """
    state = strip_parallel_prefix(state)
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
        f"the weights match no known generator layout (found {describe_layout(state)}); "
        f"expected the state_dict of one of: {', '.join(list_generators())} "
        "(norm batch or instance, 1 or 3 image channels)"
    )


def family_of(spec: GeneratorSpec) -> str:
    """The family a published generator comes from: its own (pix2pixHD's), else pix2pix's
    use batch norm and CycleGAN's do not."""
    if spec.family is not None:
        return spec.family
    return "pix2pix" if spec.options.get("norm") == "batch" else "cyclegan"


def summarize_weights(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """What a bare generator ``state_dict`` holds: family, network, options, parameter count.

    Raises:
        ValueError: the layout is not recognised (see :func:`recognise_generator`).
    """
    plain = strip_parallel_prefix(state)
    spec = recognise_generator(plain)
    with torch.device("meta"):
        net = spec.build()
    return {
        "family": family_of(spec),
        "network": spec.name,
        **spec.options,
        "parameters": sum(p.numel() for p in net.parameters()),
        "legacy_statistics": len(set(plain) - set(net.state_dict())),
        "parallel_prefix": len(plain) > 0 and next(iter(state)).startswith(PARALLEL_PREFIX),
    }


def is_bare_state_dict(data: object) -> bool:
    """Whether ``data`` looks like a bare ``state_dict``: names mapped to tensors."""
    return (
        isinstance(data, Mapping)
        and len(data) > 0
        and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in data.items())
    )
