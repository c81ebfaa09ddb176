"""Image and id-map I/O, discovery and pairing, streams, aligned augmentation, datasets, loaders.

Names are imported on first use, so ``import img2img.data`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "IMAGE_EXTENSIONS": "img2img.data.extensions",
    "is_image_file": "img2img.data.extensions",
    "ImageReadError": "img2img.data.io",
    "read_image": "img2img.data.io",
    "read_ids": "img2img.data.io",
    "write_image": "img2img.data.io",
    "to_channels": "img2img.data.io",
    "DatasetLayoutError": "img2img.data.discover",
    "Pair": "img2img.data.discover",
    "PairedFiles": "img2img.data.discover",
    "accepted_layouts": "img2img.data.discover",
    "find_images": "img2img.data.discover",
    "find_pairs": "img2img.data.discover",
    "split_ab": "img2img.data.discover",
    "to_model_range": "img2img.data.ranges",
    "from_model_range": "img2img.data.ranges",
    "STREAM_KINDS": "img2img.data.streams",
    "Stream": "img2img.data.streams",
    "StreamKind": "img2img.data.streams",
    "PairedParams": "img2img.data.transforms",
    "PairedTransform": "img2img.data.transforms",
    "StreamTransform": "img2img.data.transforms",
    "resize_nearest": "img2img.data.transforms",
    "StreamFiles": "img2img.data.dataset",
    "StreamDataset": "img2img.data.dataset",
    "PairedImageDataset": "img2img.data.dataset",
    "EpochSampler": "img2img.data.sampler",
    "make_loader": "img2img.data.sampler",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'img2img.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
