"""Weight initialisation schemes of the pix2pix/CycleGAN papers."""

from __future__ import annotations

import logging

import torch
from torch import nn

from img2img.nn.choices import INIT_TYPES
from img2img.nn.norms import BATCH_NORMS

logger = logging.getLogger(__name__)

_WEIGHTED = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
)


def check_init_type(init_type: str) -> str:
    """Return ``init_type`` if it is a known scheme.

    Raises:
        ValueError: ``init_type`` is not one of :data:`~img2img.nn.choices.INIT_TYPES`.
    """
    if init_type not in INIT_TYPES:
        raise ValueError(
            f"init_type: {init_type!r} is not valid; expected one of: {', '.join(INIT_TYPES)}"
        )
    return init_type


def _init_weight(weight: torch.Tensor, init_type: str, gain: float) -> None:
    if init_type == "normal":
        nn.init.normal_(weight, 0.0, gain)
    elif init_type == "xavier":
        nn.init.xavier_normal_(weight, gain=gain)
    elif init_type == "kaiming":
        nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
    else:
        nn.init.orthogonal_(weight, gain=gain)


@torch.no_grad()
def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise ``net`` in place and return it.

    Convolution and linear weights get ``normal`` N(0, gain), ``xavier`` normal with ``gain``,
    ``kaiming`` normal (a=0, fan_in; ``gain`` unused) or ``orthogonal`` with ``gain``; their
    biases become 0. BatchNorm weights get N(1, gain) and biases 0. Other modules keep theirs.
    A network on the meta device (shapes only) is left as it is: there are no values to set,
    and torch's random initialisers there import its compiler stack (seconds of start-up).

    Args:
        net: the network to initialise.
        init_type: one of :data:`~img2img.nn.choices.INIT_TYPES`.
        gain: standard deviation (``normal``) or scale (``xavier``, ``orthogonal``).

    Raises:
        ValueError: ``init_type`` is unknown.
    """
    check_init_type(init_type)
    if any(p.is_meta for p in net.parameters()):
        return net
    count = 0
    for module in net.modules():
        if isinstance(module, _WEIGHTED):
            _init_weight(module.weight, init_type, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
            count += 1
        elif isinstance(module, BATCH_NORMS) and module.affine:
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
            count += 1
    logger.debug("initialised %d layers of %s with %s (gain %g)",
                 count, type(net).__name__, init_type, gain)
    return net
