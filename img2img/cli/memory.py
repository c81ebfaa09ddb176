"""The CLI process's memory allocator setting (``IMG2IMG_MALLOC``).

A training step allocates and frees the same large tensors every iteration (the 32 MB weight
gradients of a U-Net); by default glibc maps each one fresh from the kernel and pays a page
fault per 4 KB. Telling glibc to keep freed memory in its heap makes those allocations about 8x
cheaper and the pix2pix step on the CPU about 10% faster. The setting is process-wide, so
library code never applies it: only the ``img2img`` command does, on Linux, for ``train`` and
``translate``. ``IMG2IMG_MALLOC=default`` leaves glibc's behaviour alone, and so does a process
whose address space is capped (``ulimit -v``): there, memory kept in the heap would count
against the cap and starve the mappings that later work needs (after an allocation failure,
translate hands what it can back and returns to glibc's behaviour anyway), and the threads
share one malloc arena instead of reserving 64 MiB of address space each.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

log = logging.getLogger(__name__)

ENV = "IMG2IMG_MALLOC"
CHOICES = ("warm", "default")


def malloc_mode() -> str:
    """``warm`` (the default: keep freed memory) or ``default`` (glibc's own behaviour)."""
    mode = os.environ.get(ENV, "warm").strip().lower() or "warm"
    if mode not in CHOICES:
        raise ValueError(f"{ENV}: {mode!r} is not valid; expected one of: {', '.join(CHOICES)}")
    return mode


def _capped() -> bool:
    """Whether this process's address space is limited (``ulimit -v``)."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return soft != resource.RLIM_INFINITY


#: malloc arenas allowed in a process whose address space is capped (see :func:`tune_allocator`)
CAPPED_ARENAS = 1


def tune_allocator(device: Any = None) -> bool:
    """Apply the ``IMG2IMG_MALLOC`` setting to this process; returns whether glibc was tuned.

    ``device``: where the work runs (a ``torch.device`` or its name); the tuning is a CPU
    speed-up and is never applied for another device (CUDA: host memory kept in the heap is
    memory the GPU's pinned buffers cannot have). Under an address-space cap, glibc is also
    told to keep :data:`CAPPED_ARENAS` malloc arenas: each thread's own arena would reserve
    64 MiB of the cap (a gigabyte for the threads of a 16-core machine), whatever the setting.
    """
    if not sys.platform.startswith("linux"):
        return False
    if device is not None and str(device).split(":")[0] != "cpu":
        log.debug("glibc malloc: left alone for %s (a CPU-only tuning)", device)
        return False
    if _capped():
        from img2img.engine.heap import limit_arenas

        log.debug("address space capped: %d malloc arena(s) (applied: %s)", CAPPED_ARENAS,
                  limit_arenas(CAPPED_ARENAS))
        return False
    if malloc_mode() == "default":
        return False
    from img2img.engine.heap import keep_freed_memory

    applied = keep_freed_memory()
    log.debug("glibc malloc: keeping freed memory (applied: %s)", applied)
    return applied
