"""run_jobs(): ordered results on threads, per-file failures kept, bugs raised, bounded queue."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from img2img.data.io import ImageReadError
from img2img.prep.parallel import check_workers, default_workers, run_jobs


def test_results_come_in_order_with_failures_kept() -> None:
    def work(n: int) -> int:
        time.sleep(0.002 * (n % 3))  # finish out of order
        if n == 4:
            raise ImageReadError(Path(f"{n}.png"), "truncated")
        if n == 7:
            raise ValueError("bad value")
        return n * n

    seen = []
    outcomes = list(run_jobs(work, range(10), workers=3,
                             progress=lambda done, total: seen.append((done, total))))
    assert [o.job for o in outcomes] == list(range(10))
    assert [o.result for o in outcomes if o.ok] == [n * n for n in range(10) if n not in (4, 7)]
    assert isinstance(outcomes[4].error, ImageReadError) and "bad value" in str(outcomes[7].error)
    assert seen == [(i, 10) for i in range(1, 11)]


def test_a_bug_is_not_swallowed() -> None:
    def work(n: int) -> int:
        raise KeyError(n)

    for workers in (1, 2):
        with pytest.raises(KeyError):
            list(run_jobs(work, [1, 2], workers=workers))


def test_only_a_few_jobs_per_worker_are_in_flight() -> None:
    started = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            started.append(n)
        return n

    outcomes = run_jobs(work, list(range(1000)), workers=2)
    next(outcomes)
    time.sleep(0.05)
    assert len(started) <= 2 * 4 + 1  # not 1000 pending results
    assert sum(1 for _ in outcomes) == 999


def test_worker_counts() -> None:
    assert 1 <= default_workers() <= 8
    assert check_workers(3) == 3
    with pytest.raises(ValueError, match="--workers: 0"):
        check_workers(0)
