"""Device and numeric precision, resolved from configuration strings."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from img2img.config import ConfigError
from img2img.engine.heap import return_freed_memory

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of ``fp32`` (None: no autocast), ``bf16`` or ``fp16``."""
    if precision not in _DTYPES:
        raise ConfigError(
            f"precision: {precision!r} is not valid; expected one of: {', '.join(_DTYPES)}"
        )
    return _DTYPES[precision]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Context for forward passes at ``precision`` on ``device`` (a no-op in fp32)."""
    dtype = autocast_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


#: how allocation failures read where they are not ``MemoryError``/``torch.OutOfMemoryError``:
#: the CPU allocator, and oneDNN failing to allocate a kernel's buffers
_OUT_OF_MEMORY_TEXTS = ("can't allocate memory", "out of memory", "could not create a primitive")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure: CUDA/MPS out of memory, or the CPU's."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(t in text for t in _OUT_OF_MEMORY_TEXTS)


def release_memory(device: torch.device) -> None:
    """Hand memory back after an allocation failure: the accelerator's cache, and the free
    memory the C heap holds (which the ``img2img`` command tells glibc to keep; from now on
    glibc returns freed blocks again, see :mod:`img2img.engine.heap`)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
    return_freed_memory()


def device_text(device: torch.device) -> str:
    """``cpu``, or ``cuda:0 (NVIDIA H100 80GB HBM3)`` with the accelerator's name."""
    if device.type != "cuda":
        return str(device)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def _local_rank() -> int | None:
    """``LOCAL_RANK`` as torchrun sets it for each process of a machine, else None."""
    value = os.environ.get("LOCAL_RANK")
    return int(value) if value is not None and value.isdigit() else None


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; explicit devices are checked to exist.

    Under torchrun, ``auto`` and ``cuda`` mean this process's own GPU, ``cuda:LOCAL_RANK``.
    """
    local = _local_rank()
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif torch.backends.mps.is_available():
            return torch.device("mps")
        else:
            return torch.device("cpu")
    if name == "cuda" and local is not None and torch.cuda.is_available():
        name = f"cuda:{local}"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device: {name!r} requested but CUDA is not available; use cpu or auto"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device: {name!r} does not exist; this machine has "
                f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 .. "
                f"cuda:{torch.cuda.device_count() - 1})"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device: {name!r} requested but MPS is not available; use cpu or auto")
    return device


@dataclass
class Precision:
    """Autocast and loss scaling for one device.

    One :class:`torch.amp.GradScaler` serves every optimizer (fp16 only): scale each loss,
    step each optimizer through :meth:`step`, then call :meth:`update` once per iteration.
    """

    name: str
    device: torch.device
    #: called with each optimizer before it steps (data-parallel gradient averaging)
    grad_sync: Callable[[torch.optim.Optimizer], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.dtype = autocast_dtype(self.name)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.name == "fp16" else None

    def autocast(self) -> contextlib.AbstractContextManager:
        """Context for forward passes (a no-op in fp32)."""
        return autocast(self.device, self.name)

    def backward(self, loss: Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """Step ``optimizer`` (after averaging its gradients over processes, when training
        data-parallel; scaled fp16 gradients are averaged as they are, so an overflow on any
        process makes every process skip the step)."""
        if self.grad_sync is not None:
            self.grad_sync(optimizer)
        if self.scaler:
            self.scaler.step(optimizer)
        else:
            optimizer.step()
        # a fused Adam writes the parameters without bumping their version counters, which
        # tell autograd and the CPU fast path's packed weights that a tensor changed
        torch.autograd.graph.increment_version(
            [p for group in optimizer.param_groups for p in group["params"]])

    def update(self) -> None:
        if self.scaler:
            self.scaler.update()

    def loss_scale(self) -> float | Tensor:
        """The factor losses are multiplied by before backward (1 without a scaler)."""
        return self.scaler.get_scale() if self.scaler else 1.0

    def state_dict(self) -> dict | None:
        return self.scaler.state_dict() if self.scaler else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)
