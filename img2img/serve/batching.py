"""Per-model queues: requests that arrive together are translated in one batch.

A request's decoded image waits in its model's :class:`BatchQueue`; the queue's worker waits
``window`` seconds after the first image of a batch (no longer once the batch is full), then
runs the waiting images that can share a forward pass (same translator, same padded size; at
most ``max_batch`` and the pixel budget) through ``translate``'s
:class:`~img2img.infer.batch.Translator`, on one compute thread shared by every model. An
image's output never depends on the rest of its batch, so batching changes no bit. The queue
holds at most ``size`` images (waiting or in translation); one more is refused with
:class:`QueueFull`. A request whose client went away is taken out while it still waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from torch import Tensor

from img2img.infer.batch import Prepared, Translator, first_line
from img2img.infer.translate import batch_limit

__all__ = ["BatchQueue", "QueueFull", "Work"]

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The model's queue holds as many images as it may."""


@dataclass(eq=False)
class Work:
    """One image waiting for its translation (a tensor, or the reason there is none)."""

    translator: Translator
    item: Prepared
    future: asyncio.Future = field(repr=False)

    @property
    def key(self) -> tuple:
        """Images of one key can share a forward pass."""
        shape = None if self.item.canvas is not None else self.item.batch_key
        return id(self.translator), shape


def translate_group(works: Sequence[Work], max_pixels: int | None) -> list[Tensor | str]:
    """Translate images of one :attr:`Work.key`: in tiles when over the pixel budget, else as
    one batch; when the batch fails, each image alone, so one failure stays its own."""
    translator = works[0].translator
    if works[0].item.canvas is not None:
        assert max_pixels, "only images over the pixel budget are kept in a canvas"
        return [translator.tiled_output(works[0].item, max_pixels)]
    try:
        return [output for _, output in translator([w.item for w in works])]
    except Exception as exc:
        if len(works) == 1:
            log.exception("translating %s failed", works[0].item.job.key)
            return [f"translating it failed: {first_line(exc)}"]
    return [translate_group([w], max_pixels)[0] for w in works]


class BatchQueue:
    """One model's queue and the worker that empties it (start it with :meth:`run`)."""

    def __init__(self, name: str, executor: Executor, *, window: float, max_batch: int,
                 size: int, max_pixels: int | None) -> None:
        self.name = name
        self.executor = executor
        self.window = window
        self.max_batch = max_batch
        self.size = size
        self.max_pixels = max_pixels or None
        self._waiting: deque[Work] = deque()
        self._running = 0
        self._wake = asyncio.Event()
        self.sizes: Counter[int] = Counter()  # batches run, by their size

    @property
    def largest(self) -> int:
        """The largest batch run so far (0: none)."""
        return max(self.sizes, default=0)

    def summary(self) -> str:
        """What the queue did, in words, for the log."""
        images = sum(size * count for size, count in self.sizes.items())
        sizes = ", ".join(f"{count} x {size}" for size, count in sorted(self.sizes.items()))
        return (f"{self.name}: {images} images in {self.sizes.total()} batches"
                + (f" ({sizes})" if sizes else ""))

    @property
    def held(self) -> int:
        """Images waiting or in translation."""
        return len(self._waiting) + self._running

    def submit(self, translator: Translator, item: Prepared) -> Work:
        """Queue ``item``; its result comes in the returned work's future.

        Raises:
            QueueFull: :attr:`size` images are already held.
        """
        if self.held >= self.size:
            raise QueueFull(self.name)
        work = Work(translator, item, asyncio.get_running_loop().create_future())
        self._waiting.append(work)
        self._wake.set()
        return work

    def withdraw(self, work: Work) -> bool:
        """Take ``work`` out if it still waits (its client went away); True if it was."""
        try:
            self._waiting.remove(work)
        except ValueError:
            return False
        work.future.cancel()
        return True

    def _take(self) -> list[Work]:
        """The first waiting image and those that can share its forward pass."""
        first = self._waiting[0]
        limit = 1 if first.item.canvas is not None else min(
            self.max_batch, batch_limit(first.item, self.max_batch, self.max_pixels))
        group = [w for w in self._waiting if w.key == first.key][:limit]
        for work in group:
            self._waiting.remove(work)
        return group

    async def run(self) -> None:
        """Translate what arrives, batch after batch, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            if len(self._waiting) < self.max_batch and self.window > 0:
                await asyncio.sleep(self.window)
            if not self._waiting:  # every waiting client went away
                self._wake.clear()
                continue
            group = self._take()
            self._running += len(group)
            try:
                outputs = await loop.run_in_executor(
                    self.executor, translate_group, group, self.max_pixels)
            except Exception as exc:  # translate_group answers for each image; this is a bug
                log.exception("%s: a batch failed", self.name)
                outputs = [f"translating it failed: {first_line(exc)}"] * len(group)
            finally:
                self._running -= len(group)
            self.sizes[len(group)] += 1
            for work, output in zip(group, outputs, strict=True):
                if not work.future.done():
                    work.future.set_result(output)
            if not self._waiting:
                self._wake.clear()
