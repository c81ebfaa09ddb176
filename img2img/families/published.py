"""Recognise a bare published generator ``state_dict`` from its keys and shapes.

Every family proposes the generators a file could hold
(:meth:`~img2img.families.description.FamilyDescription.published_generators`); they are
tried in the families' recognition order, each built on the meta device and its layout
compared with the file's. The first that matches names the family and the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from img2img.families.registry import get_family, list_families
from img2img.models.published import (
    PARALLEL_PREFIX,
    GeneratorSpec,
    describe_layout,
    drop_legacy_stats,
    layout,
    strip_parallel_prefix,
)
from img2img.nn import list_generators


def _candidates(state: Mapping[str, Tensor]) -> list[GeneratorSpec]:
    """Every family's proposals, in recognition order (registration order among equals)."""
    descriptions = sorted((get_family(name).description_class() for name in list_families()),
                          key=lambda d: d.recognition_order)
    return [spec for d in descriptions for spec in d.published_generators(state)]


def recognise_generator(state: Mapping[str, Tensor]) -> GeneratorSpec:
    """The generator whose ``state_dict`` layout equals ``state``'s (legacy stats aside).

    A ``module.`` prefix on every key is ignored.

    Raises:
        ValueError: no registered generator has this layout; the message says what was found.
    """
    return match_generator(state)[0]


def match_generator(state: Mapping[str, Tensor]) -> tuple[GeneratorSpec, nn.Module]:
    """:func:`recognise_generator`, with the matching network as built on the meta device
    (its layout, to load the weights into without building it again)."""
    state = strip_parallel_prefix(state)
    wanted = {k: tuple(v.shape) for k, v in state.items()}
    for spec in _candidates(state):
        try:
            with torch.device("meta"):
                net = spec.build()
        except ValueError:
            continue
        if layout(net) == {k: wanted[k] for k in drop_legacy_stats(state, net)}:
            return spec, net
    raise ValueError(
        f"the weights match no known generator layout (found {describe_layout(state)}); "
        f"expected the state_dict of one of: {', '.join(list_generators())} "
        "(norm batch or instance, 1 or 3 image channels)"
    )


def summarize_weights(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """What a bare generator ``state_dict`` holds: family, network, options, parameter count.

    Raises:
        ValueError: the layout is not recognised (see :func:`recognise_generator`).
    """
    plain = strip_parallel_prefix(state)
    spec, net = match_generator(plain)
    return {
        "family": spec.family,
        "network": spec.name,
        **spec.options,
        "parameters": sum(p.numel() for p in net.parameters()),
        "legacy_statistics": len(set(plain) - set(net.state_dict())),
        "parallel_prefix": len(plain) > 0 and next(iter(state)).startswith(PARALLEL_PREFIX),
    }
