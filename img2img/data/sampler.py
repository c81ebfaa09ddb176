"""Reproducible sample order: a sampler of ``(index, sample_seed)`` and the loader around it.

The permutation of an epoch and the seed of each sample are pure functions of
``(seed, epoch, position)``, computed from a local generator: the order is the same with 0 or 8
workers, on 1 or N processes, and a run resumed mid-epoch sees exactly the samples it would have.
"""

from __future__ import annotations

import atexit
import math
import multiprocessing
import signal
import sys
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate, get_worker_info

from img2img.data.seeding import mix_seed
from img2img.lifeline import die_with_parent


class EpochSampler(Sampler[tuple[int, int]]):
    """Yield ``(index, sample_seed)`` for one epoch at a time.

    Args:
        num_samples: size of the dataset.
        seed: run seed; with the epoch it fixes the order and the per-sample seeds.
        shuffle: permute each epoch (otherwise 0, 1, 2, ...).
        drop_last: with several replicas, drop the tail that does not divide evenly instead of
            repeating samples to fill it.
        num_replicas: number of data-parallel processes sharing the epoch.
        rank: this process's share, ``0 <= rank < num_replicas``.
    """

    def __init__(
        self,
        num_samples: int,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples: {num_samples!r} is not valid; expected >= 1")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(
                f"rank {rank!r} / num_replicas {num_replicas!r} are not valid; "
                "expected num_replicas >= 1 and 0 <= rank < num_replicas"
            )
        if drop_last and num_samples < num_replicas:
            raise ValueError(
                f"num_samples {num_samples} is smaller than num_replicas {num_replicas}; "
                "expected at least one sample per replica with drop_last"
            )
        self.num_samples = num_samples
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.start = 0

    @property
    def samples_per_replica(self) -> int:
        """Samples this replica sees in a whole epoch."""
        if self.drop_last:
            return self.num_samples // self.num_replicas
        return math.ceil(self.num_samples / self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; moving to another epoch clears the start offset."""
        if epoch < 0:
            raise ValueError(f"epoch: {epoch!r} is not valid; expected >= 0")
        if epoch != self.epoch:
            self.start = 0
        self.epoch = epoch

    def set_start(self, position: int) -> None:
        """Skip the first ``position`` samples of this epoch (exact resume mid-epoch).

        A position at or past the end of the epoch leaves nothing to yield.
        """
        if position < 0:
            raise ValueError(f"start position {position!r} is not valid; expected >= 0")
        self.start = min(position, self.samples_per_replica)

    def indices(self) -> list[int]:
        """This replica's dataset indices for the current epoch, from position 0."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
            order = torch.randperm(self.num_samples, generator=generator).tolist()
        else:
            order = list(range(self.num_samples))
        total = self.samples_per_replica * self.num_replicas
        if total > len(order):
            repeats = math.ceil((total - len(order)) / len(order))
            order += (order * repeats)[: total - len(order)]
        return order[:total][self.rank :: self.num_replicas]

    def sample_seed(self, position: int) -> int:
        """The augmentation seed of this replica's ``position``-th sample of the epoch."""
        global_position = position * self.num_replicas + self.rank
        return mix_seed(self.seed, self.epoch, global_position)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = self.indices()
        for position in range(self.start, len(indices)):
            yield indices[position], self.sample_seed(position)

    def __len__(self) -> int:
        return self.samples_per_replica - self.start


def worker_init(worker_id: int) -> None:
    """Keep each loader worker to one torch thread so workers do not fight the trainer for cores.

    Workers ignore SIGINT and SIGTERM: Ctrl-C, and a scheduler's SIGTERM to the whole process
    group, reach every process of the group, and the trainer, which decides when to stop, still
    needs its workers while it finishes the step in progress and writes its checkpoint (a
    worker ended by a signal makes torch raise an error in the trainer wherever it is). The
    trainer ends its workers itself (:meth:`Loader.close`), on every way out, and a worker whose
    trainer is killed ends with it (:func:`~img2img.lifeline.die_with_parent`).

    OpenCV's thread pool is left alone: reconfiguring it in a forked worker after the parent has
    used it can deadlock, and the loader path only uses OpenCV for single-threaded decoding.
    """
    del worker_id
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    die_with_parent()
    sys.excepthook = _silent_when_the_trainer_hangs_up(sys.excepthook)
    torch.set_num_threads(1)


def _silent_when_the_trainer_hangs_up(hook):
    """``hook``, except for a lost connection: a trainer stopped at once (a second Ctrl-C)
    may hang up while fetching a batch's shared tensors, and the worker's sharing thread would
    print a traceback before the worker ends with its parent; the trainer reports the stop."""

    def excepthook(kind, value, traceback) -> None:
        if issubclass(kind, (EOFError, ConnectionError, multiprocessing.AuthenticationError)):
            return
        hook(kind, value, traceback)

    return excepthook


class SampleError(ValueError):
    """A sample could not be loaded in a loader worker (a bad file or value): the worker's own
    message, without the worker's traceback."""


@dataclass(frozen=True)
class _Failure:
    """What a worker hands back instead of a sample whose loading failed on bad input."""

    message: str


class _Skipping(NamedTuple):
    """A sample or batch from a worker, with the files the worker's copy of the dataset newly
    found unreadable (listed in its ``skipped``); they travel back beside it, not in it."""

    value: object
    skipped: tuple[str, ...]


class _Guarded(Dataset):
    """``dataset`` whose bad-input errors (ValueError, OSError) raised in a loader worker travel
    back as a :class:`_Failure` instead of a worker traceback; in the main process they are
    raised as they are. In a worker, the files the dataset newly skipped come back beside the
    sample (:class:`_Skipping`)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._reported: set[str] = set()  # skipped files a worker has reported (its own copy)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: object) -> object:
        try:
            sample = self.dataset[key]
        except (ValueError, OSError) as exc:
            if get_worker_info() is None:
                raise
            return _Failure(str(exc))
        if get_worker_info() is None:
            return sample
        met = [str(p) for p in getattr(self.dataset, "skipped", ())]
        new = tuple(dict.fromkeys(p for p in met if p not in self._reported))
        self._reported.update(new)
        return _Skipping(sample, new) if new else sample


def _collate(samples: list) -> object:
    """The batch (beside the files its workers newly skipped), or the first failure among its
    samples."""
    failed = next((s for s in samples if isinstance(s, _Failure)), None)
    if failed is not None:
        return failed
    skipped = tuple(p for s in samples if isinstance(s, _Skipping) for p in s.skipped)
    batch = default_collate([s.value if isinstance(s, _Skipping) else s for s in samples])
    return _Skipping(batch, skipped) if skipped else batch


#: every loader made here that may have workers, for the exit backstop
_LOADERS: weakref.WeakSet[Loader] = weakref.WeakSet()


class Loader(DataLoader):
    """A DataLoader that raises a worker's bad-input error as one :class:`SampleError`, keeps
    the files its dataset could not read (:attr:`skipped`, also those met in its workers) and
    can end its workers at once (:meth:`close`)."""

    def __init__(self, dataset: Dataset, **options: object) -> None:
        super().__init__(_Guarded(dataset), collate_fn=_collate, **options)  # type: ignore[arg-type]
        self._iterators: weakref.WeakSet = weakref.WeakSet()
        self._skipped_in_workers: dict[str, None] = {}
        if self.num_workers:
            _LOADERS.add(self)

    def _get_iterator(self):  # noqa: ANN202 - torch's private iterator type
        iterator = super()._get_iterator()
        self._iterators.add(iterator)
        return iterator

    def __iter__(self) -> Iterator:
        for batch in super().__iter__():
            if isinstance(batch, _Failure):
                raise SampleError(batch.message)
            if isinstance(batch, _Skipping):
                self._skipped_in_workers.update(dict.fromkeys(batch.skipped))
                batch = batch.value
            yield batch

    @property
    def skipped(self) -> list[str]:
        """The files the dataset could not read so far, each once: in this process (a
        dataset's ``skipped``), and in this loader's workers as their batches arrived."""
        here = [str(p) for p in getattr(self.dataset.dataset, "skipped", ())]
        return list(dict.fromkeys([*here, *self._skipped_in_workers]))

    def close(self) -> None:
        """End this loader's workers now (a no-op without workers, or when already ended).

        Workers are asked to stop and given torch's usual few seconds; any still running then
        is killed (they ignore SIGTERM, see :func:`worker_init`).
        """
        for iterator in list(self._iterators):
            shutdown = getattr(iterator, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
            for worker in getattr(iterator, "_workers", ()):
                if worker.is_alive():
                    worker.kill()
                    worker.join(timeout=5)
        self._iterators = weakref.WeakSet()
        self._iterator = None


@atexit.register
def _close_loaders() -> None:
    """At exit, end every loader's workers before multiprocessing's own exit handler would
    wait for them (it sends SIGTERM, which workers ignore, and waits without end)."""
    for loader in list(_LOADERS):
        loader.close()


def make_loader(
    dataset: Dataset,
    batch_size: int,
    num_workers: int,
    seed: int,
    shuffle: bool = True,
    pin_memory: bool = False,
    drop_last: bool = False,
    num_replicas: int = 1,
    rank: int = 0,
    prefetch_factor: int = 2,
    timeout: float = 0.0,
) -> tuple[Loader, EpochSampler]:
    """A DataLoader over ``dataset`` driven by an :class:`EpochSampler`.

    Workers (when ``num_workers > 0``) are persistent, prefetch ``prefetch_factor`` batches each
    and run single-threaded; ``loader.close()`` ends them. ``timeout`` (seconds, 0 = none)
    bounds the wait for a worker's batch. Call ``sampler.set_epoch(e)`` before each epoch and
    ``sampler.set_start(k)`` to resume after ``k`` samples.

    Returns:
        ``(loader, sampler)``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: {batch_size!r} is not valid; expected >= 1")
    if num_workers < 0:
        raise ValueError(f"num_workers: {num_workers!r} is not valid; expected >= 0")
    sampler = EpochSampler(
        len(dataset),  # type: ignore[arg-type]
        seed,
        shuffle=shuffle,
        drop_last=drop_last,
        num_replicas=num_replicas,
        rank=rank,
    )
    workers = num_workers > 0
    loader = Loader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        persistent_workers=workers,
        prefetch_factor=prefetch_factor if workers else None,
        worker_init_fn=worker_init if workers else None,
        timeout=timeout if workers else 0.0,
        generator=torch.Generator().manual_seed(mix_seed(seed, 0x10AD)),
    )
    return loader, sampler
