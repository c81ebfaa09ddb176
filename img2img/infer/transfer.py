"""Moving translate batches between the host and a device without stalling either.

:class:`Staging` keeps host buffers for two batches in turn (pinned on CUDA, so copies are
asynchronous), allocated once per size and reused: a batch is copied into its slot's buffer and
sent to the device with ``non_blocking``; its output comes back into a reused output buffer on
a side stream, behind an event. While batch N's output is copied back and encoded, batch N+1
is already uploaded and computed (double buffering). On a device without streams (the CPU)
the streams and events are no-ops, so the same logic runs, and is tested, there.

:func:`io_threads` is how many threads decode (and as many encode) images: on a GPU machine
half the cores this process may use, since the device does the math; on the CPU two, at a
lower priority, in the math threads' gaps.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor

__all__ = ["CPU_IO_THREADS", "Download", "HostBuffers", "Staging", "available_cores",
           "io_threads"]

#: decoding (and encoding) threads when the network runs on the CPU
CPU_IO_THREADS = 2


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which a container or ``taskset``
    narrows; the machine's count where the platform has no affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def io_threads(device: torch.device, cores: int | None = None) -> int:
    """Decoding threads (and as many encoding threads) for translating on ``device``: half of
    ``cores`` (default: :func:`available_cores`), at least 2, off the CPU; on the CPU
    :data:`CPU_IO_THREADS`, as the math threads use every core."""
    if device.type == "cpu":
        return CPU_IO_THREADS
    return max(2, (cores or available_cores()) // 2)


class _NoEvent:
    """An event on a device without streams: everything before it is already done."""

    def record(self, stream: Any = None) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def query(self) -> bool:
        return True


class HostBuffers:
    """Flat host buffers by key, grown when a batch needs more and otherwise reused; pinned
    (page-locked) when ``pin``, so device copies from and into them are asynchronous.

    Attributes:
        allocations: how many buffers were allocated so far (a new key, or a larger batch).
    """

    def __init__(self, pin: bool) -> None:
        self.pin = pin
        self.allocations = 0
        self._flat: dict[tuple, Tensor] = {}

    def take(self, key: tuple, shape: torch.Size | tuple[int, ...], dtype: torch.dtype) -> Tensor:
        """A ``shape`` x ``dtype`` view of the buffer ``key`` (contents undefined)."""
        numel = math.prod(shape)
        flat = self._flat.get(key)
        if flat is None or flat.dtype != dtype or flat.numel() < numel:
            flat = torch.empty(numel, dtype=dtype, pin_memory=self.pin)
            self._flat[key] = flat
            self.allocations += 1
        return flat[:numel].view(shape)


class Download:
    """A device tensor on its way into a host buffer; :meth:`wait` gives the host tensor."""

    def __init__(self, host: Tensor, event: Any) -> None:
        self.host = host
        self.event = event
        self.taken = False

    def wait(self) -> Tensor:
        """The host tensor, once the copy is done. It stays valid until the buffer is used
        again, by a later download: copy out what must live longer."""
        self.event.synchronize()
        self.taken = True
        return self.host


class Staging:
    """Reused host buffers, uploads and side-stream downloads for batches on ``device``.

    Uploads take the ``slots`` slots' input buffers in turn, each reused once its last upload
    is done; an output buffer is reused once the output in it was taken (:meth:`Download.wait`).
    """

    def __init__(self, device: torch.device, slots: int = 2) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self.buffers = HostBuffers(pin=self.cuda)
        self.slots = slots
        self.slot = slots - 1
        self.copy_stream = torch.cuda.Stream(device) if self.cuda else None
        self._uploaded: list[Any] = [_NoEvent() for _ in range(slots)]
        self._downloads: list[Download | None] = []  # the last output of each buffer

    def _event(self) -> Any:
        return torch.cuda.Event() if self.cuda else _NoEvent()

    @contextmanager
    def _on(self, stream: Any) -> Iterator[None]:
        with torch.cuda.stream(stream) if stream is not None else nullcontext():
            yield

    def upload(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Take the next slot; copy ``inputs`` (host tensors) into its buffers and start their
        copies to the device; the device tensors (the buffers themselves on the CPU)."""
        self.slot = (self.slot + 1) % self.slots
        self._uploaded[self.slot].synchronize()  # the slot's last upload has left its buffers
        moved = {}
        for name, tensor in inputs.items():
            host = self.buffers.take((self.slot, "in", name), tensor.shape, tensor.dtype)
            host.copy_(tensor)
            moved[name] = host.to(self.device, non_blocking=True)
        event = self._event()
        event.record()
        self._uploaded[self.slot] = event
        return moved

    def download(self, output: Tensor) -> Download:
        """Start copying ``output`` (on the device) into a host buffer whose last output was
        taken (a new one if none is: an out-of-memory retry may run while a batch is still
        out), on the side stream once the work queued so far is done."""
        index = next((i for i, d in enumerate(self._downloads) if d is None or d.taken),
                     len(self._downloads))
        host = self.buffers.take(("out", index), output.shape, output.dtype)
        if self.copy_stream is not None:
            self.copy_stream.wait_stream(torch.cuda.current_stream(self.device))
        with self._on(self.copy_stream):
            host.copy_(output, non_blocking=True)
            if self.copy_stream is not None:  # its memory is not reused before the copy ends
                output.record_stream(self.copy_stream)
            event = self._event()
            event.record()
        done = Download(host, event)
        if index == len(self._downloads):
            self._downloads.append(done)
        else:
            self._downloads[index] = done
        return done
