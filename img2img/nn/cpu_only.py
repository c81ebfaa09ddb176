"""Where the CPU-only speed-ups may run: on the CPU, and never on CUDA (or any other device).

The fast convolution layers (:mod:`img2img.nn.cpu_fast`: packed oneDNN weights, the small-grid
matrix products), the batch-invariance stand-ins of :mod:`img2img.infer.stochastic` and the
glibc malloc tuning (:func:`img2img.cli.memory.tune_allocator`) were measured on CPUs only. On a
GPU they would at best do nothing and at worst cost time (a module swap per call, host memory
kept that CUDA's pinned buffers need), so every place that applies one asks :func:`cpu_only`.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn


def cpu_only(where: torch.device | str | Tensor | nn.Module) -> bool:
    """Whether a CPU-only speed-up may be applied to ``where``: a device (``"cpu"``,
    ``torch.device("cuda")``), a tensor (its device) or a module (every parameter and buffer
    on the CPU; a module without any counts as the CPU's)."""
    if isinstance(where, Tensor):
        return where.device.type == "cpu"
    if isinstance(where, nn.Module):
        return all(t.device.type == "cpu"
                   for t in itertools.chain(where.parameters(), where.buffers()))
    return torch.device(where).type == "cpu"
