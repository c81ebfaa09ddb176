"""Whether a checkpoint's saved weights fit the networks its config describes.

The networks to compare with are built by their owner (a family's recipe, on the meta
device: no memory); only names and shapes are compared, so a crafted or damaged checkpoint is
refused before anything is allocated or ``load_state_dict`` fails deep inside a network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from img2img.checkpoints.format import CheckpointError


def state_mismatch(expected: Mapping[str, Any], state: Mapping[str, Any]) -> str | None:
    """How ``state`` differs from the layout of ``expected`` (a network's state_dict), or None.

    Only names and shapes are compared, so ``expected`` may live on the meta device.
    """
    if not isinstance(state, Mapping):
        return f"expected a state_dict, got {type(state).__name__}"
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing, first {missing[0]!r}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected, first {unexpected[0]!r}")
        return "entries " + "; ".join(parts)
    for key, value in expected.items():
        given = state[key]
        if not isinstance(given, torch.Tensor):
            return f"{key!r} is a {type(given).__name__} in the file, not a tensor"
        if tuple(given.shape) != tuple(value.shape):
            return (
                f"{key!r} is {list(given.shape)} in the file but {list(value.shape)} for the "
                "configured network"
            )
    return None


def check_layouts(expected: Mapping[str, Any], states: Mapping[str, Any], source: Any) -> None:
    """Fail unless ``states`` holds a state_dict of each network's layout in ``expected``.

    ``expected`` maps network names to modules (on the meta device, typically); ``source``
    names the file in the message (None: no name).

    Raises:
        CheckpointError: a network is missing or its layout differs.
    """
    named = f"{source}: " if source is not None else ""
    for name, net in expected.items():
        if name not in states:
            raise CheckpointError(f"{named}the checkpoint holds no network {name!r}")
        problem = state_mismatch(net.state_dict(), states[name])
        if problem is not None:
            raise CheckpointError(
                f"{named}the weights of network {name!r} do not fit the network its config "
                f"describes ({problem})"
            )
