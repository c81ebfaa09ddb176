"""Device and numeric precision, resolved from configuration strings."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import sys
from dataclasses import dataclass

import torch
from torch import Tensor

from img2img.config import ConfigError

log = logging.getLogger(__name__)

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

# glibc mallopt parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def keep_cpu_memory_warm() -> bool:
    """Make glibc keep freed memory instead of handing it back to the OS.

    A training step allocates and frees the same large tensors (32 MB weight gradients of a
    U-Net) every iteration; by default glibc maps each one fresh from the kernel and pays a
    page fault per 4 KB. Keeping them in the heap makes such allocations ~8x cheaper. The
    setting is process-wide and harmless elsewhere; returns whether it was applied (glibc
    on Linux only).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        applied = (
            libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
        )
    except (OSError, AttributeError):
        return False
    log.debug("glibc malloc: keeping freed memory (applied: %s)", applied)
    return applied


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; explicit devices are checked to exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device: {name!r} requested but CUDA is not available; use cpu or auto"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device: {name!r} does not exist; this machine has "
                f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 .. "
                f"cuda:{torch.cuda.device_count() - 1})"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device: {name!r} requested but MPS is not available; use cpu or auto")
    return device


@dataclass
class Precision:
    """Autocast and loss scaling for one device.

    One :class:`torch.amp.GradScaler` serves every optimizer (fp16 only): scale each loss,
    step each optimizer through :meth:`step`, then call :meth:`update` once per iteration.
    """

    name: str
    device: torch.device

    def __post_init__(self) -> None:
        self.dtype = autocast_dtype(self.name)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.name == "fp16" else None

    def autocast(self) -> contextlib.AbstractContextManager:
        """Context for forward passes (a no-op in fp32)."""
        return autocast(self.device, self.name)

    def backward(self, loss: Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler:
            self.scaler.step(optimizer)
        else:
            optimizer.step()

    def update(self) -> None:
        if self.scaler:
            self.scaler.update()

    def state_dict(self) -> dict | None:
        return self.scaler.state_dict() if self.scaler else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)
