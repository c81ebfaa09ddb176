"""Estimate the memory a training step needs, without running it.

The family's recipe is built on the ``meta`` device (shapes only, nothing allocated) and its
:meth:`~img2img.engine.recipe.TrainingRecipe.forward_losses` runs on a batch of the training
size while every tensor autograd saves for the backward pass is counted once. The peak of a
step is then about: weights (every network, frozen ones included) + their gradients + Adam's
two moments + the saved activations. Half precision (bf16/fp16 autocast) is accounted for by
halving the activations, as convolutions save their inputs in the autocast dtype.

:func:`check_fits` refuses, before anything is allocated, a run whose weights, gradients and
Adam moments alone exceed the memory free on its device (``--ngf 100000``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import default_collate

from img2img.config import ConfigError, RunConfig
from img2img.engine.device import Precision

_HALF = ("bf16", "fp16")


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training step holds at its peak, by kind.

    Attributes:
        weights: parameters and buffers of every network (frozen ones included).
        gradients: gradients of the trained parameters.
        optimizer: Adam's two moments of the trained parameters.
        activations: tensors saved for the backward pass.
        shape: ``(batch, height, width)`` of the estimate.
        precision: the run's precision.
    """

    weights: int
    gradients: int
    optimizer: int
    activations: int
    shape: tuple[int, int, int]
    precision: str

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    def describe(self) -> str:
        """One line: the total and its parts, in GiB."""
        gib = 1024**3
        batch, h, w = self.shape
        return (
            f"~{self.total / gib:.2f} GiB peak for batch {batch} at {h}x{w} in {self.precision} "
            f"(weights {self.weights / gib:.2f}, gradients {self.gradients / gib:.2f}, Adam "
            f"{self.optimizer / gib:.2f}, activations {self.activations / gib:.2f})"
        )


def _modules(recipe: Any) -> list[nn.Module]:
    """Every network a recipe holds (its ``nets`` and loss networks such as VGG), once each."""
    found: dict[int, nn.Module] = {}
    for value in [*recipe.nets.values(), *vars(recipe).values()]:
        if isinstance(value, nn.Module):
            found.setdefault(id(value), value)
    return list(found.values())


def saved_tensor_bytes(recipe: Any, batch: Mapping[str, Any]) -> int:
    """Bytes of the tensors autograd saves for backward in ``recipe.forward_losses(batch)``.

    Each storage counts once (views and in-place results share theirs); the networks' own
    weights and buffers are not counted. Works on any device, ``meta`` included.
    """
    own = {t.untyped_storage()._cdata for m in _modules(recipe)
           for t in (*m.parameters(), *m.buffers())}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage._cdata not in own:
            saved[storage._cdata] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        recipe.forward_losses(batch)
    return sum(saved.values())


def estimate_training_memory(
    recipe_class: type, config: RunConfig, sample: Mapping[str, Any]
) -> MemoryEstimate:
    """Estimate a step's peak memory for ``config`` from one training ``sample``.

    Args:
        recipe_class: the family's recipe (it must implement ``forward_losses``).
        config: the run's configuration; its batch size and precision are used.
        sample: one sample of the training set (its tensors give the training size).

    Raises:
        NotImplementedError: the recipe has no ``forward_losses``.
    """
    meta = torch.device("meta")
    with meta:
        recipe = recipe_class(config, meta, Precision("fp32", meta))
    batch_size = config.train.batch_size
    batch = default_collate([dict(sample)] * batch_size)
    batch = {k: v.to(meta) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    modules = _modules(recipe)
    tensors = [t for m in modules for t in (*m.parameters(), *m.buffers())]
    trained = sum(p.numel() * p.element_size() for m in recipe.nets.values()
                  for p in m.parameters())
    activations = saved_tensor_bytes(recipe, batch)
    if config.train.precision in _HALF:
        activations //= 2
    shape = next(v.shape for v in batch.values() if isinstance(v, torch.Tensor))
    return MemoryEstimate(
        weights=sum(t.numel() * t.element_size() for t in tensors),
        gradients=trained,
        optimizer=2 * trained,
        activations=activations,
        shape=(batch_size, int(shape[-2]), int(shape[-1])),
        precision=config.train.precision,
    )


#: model options that set the networks' widths, named when a run does not fit
_WIDTH_OPTIONS = ("ngf", "ndf", "nef")


def available_memory(device: torch.device) -> int | None:
    """Bytes free for a run on ``device``: the GPU's free memory on CUDA, the system's
    available memory (``MemAvailable``) elsewhere; None when unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def training_state_bytes(recipe_class: type, config: RunConfig) -> tuple[int, dict[str, int]]:
    """Bytes of a run's weights, gradients and Adam moments, and each network's parameter
    count, from the networks built on the ``meta`` device (nothing is allocated)."""
    meta = torch.device("meta")
    with meta:
        recipe = recipe_class(config, meta, Precision("fp32", meta))
    tensors = [t for m in _modules(recipe) for t in (*m.parameters(), *m.buffers())]
    trained = sum(p.numel() * p.element_size() for m in recipe.nets.values()
                  for p in m.parameters())
    counts = {name: sum(p.numel() for p in net.parameters()) for name, net in recipe.nets.items()}
    return sum(t.numel() * t.element_size() for t in tensors) + 3 * trained, counts


def check_fits(recipe_class: type, config: RunConfig, device: torch.device) -> None:
    """Refuse a run whose weights, gradients and Adam moments alone exceed the memory free on
    ``device``, before anything is allocated (activations come on top of that).

    Raises:
        ConfigError: naming the network widths and both sizes.
    """
    free = available_memory(device)
    if free is None:
        return
    needed, counts = training_state_bytes(recipe_class, config)
    if needed <= free:
        return
    gb = 1e9
    widths = ", ".join(f"--{name} {getattr(config.model, name)}" for name in _WIDTH_OPTIONS
                       if hasattr(config.model, name))
    nets = ", ".join(f"{name} {count:,}" for name, count in counts.items())
    where = "free GPU memory" if device.type == "cuda" else "available memory"
    raise ConfigError(
        f"{widths}: the networks ({nets} parameters) need {needed / gb:,.1f} GB for weights, "
        f"gradients and Adam's moments, more than the {free / gb:,.1f} GB of {where} on "
        f"{device}; expected smaller networks (a lower --ngf/--ndf) or a larger device"
    )
