"""Batched translation of files and folders with a trained generator.

* :mod:`~img2img.infer.padding`: reflect-pad any size to the generator's multiple, crop back.
* :mod:`~img2img.infer.stochastic`: the pix2pix paper's test mode (per-image statistics and
  seeded per-image dropout) and exact batch invariance of CPU convolutions.
* :mod:`~img2img.infer.batch`: one batch of prepared images through a model, cropped back.
* :mod:`~img2img.infer.plan`: which files to translate and where each result goes.
* :mod:`~img2img.infer.translate`: run a folder through a generator with decoding and writing
  overlapped with compute.
* :mod:`~img2img.infer.video`: translate a video frame by frame into a video.

Importing this package does not import torch; the names below load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from img2img.infer.padding import crop_back, pad_to_multiple, padded_size
    from img2img.infer.plan import Job, plan_outputs
    from img2img.infer.stochastic import batch_invariant, image_seed, paper_test_mode
    from img2img.infer.translate import TranslateSummary, translate_files

_EXPORTS = {
    "crop_back": "img2img.infer.padding",
    "pad_to_multiple": "img2img.infer.padding",
    "padded_size": "img2img.infer.padding",
    "batch_invariant": "img2img.infer.stochastic",
    "image_seed": "img2img.infer.stochastic",
    "paper_test_mode": "img2img.infer.stochastic",
    "Job": "img2img.infer.plan",
    "TranslateSummary": "img2img.infer.translate",
    "plan_outputs": "img2img.infer.plan",
    "translate_files": "img2img.infer.translate",
}

__all__ = [
    "Job",
    "TranslateSummary",
    "batch_invariant",
    "crop_back",
    "image_seed",
    "pad_to_multiple",
    "padded_size",
    "paper_test_mode",
    "plan_outputs",
    "translate_files",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
