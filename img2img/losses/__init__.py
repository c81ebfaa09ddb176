"""Loss functions: adversarial objectives, gradient penalty, discriminator feature matching.

The names of the adversarial objectives (:data:`GAN_MODES`) live in
:mod:`img2img.losses.modes`, which imports nothing heavy, so configuration and the command line
can validate them without importing torch. The loss functions load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from img2img.losses.modes import GAN_MODES, check_gan_mode

_EXPORTS = {
    "GANLoss": "img2img.losses.gan",
    "Prediction": "img2img.losses.gan",
    "gradient_penalty": "img2img.losses.gan",
    "feature_matching_loss": "img2img.losses.gan",
}

__all__ = ["GAN_MODES", "check_gan_mode", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
