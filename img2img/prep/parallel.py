"""Per-file work on a pool of threads, in order, one bad file never stopping the others.

Decoding, resizing and encoding images (PIL, OpenCV, torch) release the GIL, so threads share
the cores without copying images between processes. At most a few jobs per worker are in
flight at a time, so a folder of 100k files never holds 100k pending results.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from img2img.data.io import ImageReadError

Job = TypeVar("Job")
Result = TypeVar("Result")

#: ``progress(done, total)``, called in the caller's thread after each job
ProgressFn = Callable[[int, int], None]

#: failures that belong to one file (unreadable, bad values, disk errors) and are reported
FILE_ERRORS: tuple[type[BaseException], ...] = (ImageReadError, ValueError, OSError)

_IN_FLIGHT_PER_WORKER = 4


@dataclass(frozen=True)
class Outcome(Generic[Job, Result]):
    """What one job gave: its result, or the error that stopped it.

    Attributes:
        job: the job as given.
        result: the function's return value; None when it failed.
        error: the exception (one of :data:`FILE_ERRORS`), or None.
    """

    job: Job
    result: Result | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def default_workers() -> int:
    """Threads for per-image work: the cores this process may use, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


def check_workers(workers: int) -> int:
    """``workers`` if it is at least 1, else a ValueError naming the flag."""
    if workers < 1:
        raise ValueError(f"--workers: {workers} is not valid; expected a number >= 1")
    return workers


def run_jobs(
    work: Callable[[Job], Result],
    jobs: Sequence[Job],
    *,
    workers: int = 1,
    progress: ProgressFn | None = None,
) -> Iterator[Outcome[Job, Result]]:
    """Yield ``Outcome(job, work(job))`` for every job, in the order given.

    A job that raises one of :data:`FILE_ERRORS` yields an outcome carrying the error; any
    other exception (a bug) propagates. The jobs run on ``workers`` threads (one when
    ``workers`` is 1); the caller's thread only collects the outcomes.
    """
    total = len(jobs)
    outcomes = _threaded(work, jobs, max(1, workers))
    for done, outcome in enumerate(outcomes, start=1):
        if progress is not None:
            progress(done, total)
        yield outcome


def _call(work: Callable[[Job], Result], job: Job) -> Outcome[Job, Result]:
    try:
        return Outcome(job, work(job))
    except FILE_ERRORS as exc:
        return Outcome(job, error=exc)


def _threaded(
    work: Callable[[Job], Result], jobs: Iterable[Job], workers: int
) -> Iterator[Outcome]:
    pending: deque[Future[Outcome]] = deque()
    remaining = iter(jobs)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="img2img-prep") as pool:
        for job in remaining:
            pending.append(pool.submit(_call, work, job))
            if len(pending) >= workers * _IN_FLIGHT_PER_WORKER:
                break
        while pending:
            outcome = pending.popleft().result()
            job = next(remaining, _END)
            if job is not _END:
                pending.append(pool.submit(_call, work, job))
            yield outcome


_END = object()
