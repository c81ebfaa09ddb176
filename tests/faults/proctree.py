"""The processes below a process, from ``/proc``: what a command left running when it ended."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable


def _parents() -> dict[int, int]:
    """``{pid: parent pid}`` of every live (not zombie) process."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            found[int(entry)] = int(fields[1])
    return found


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, their children ...)."""
    parents = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: Iterable[int]) -> set[int]:
    """Those of ``pids`` still running (zombies count as ended)."""
    parents = _parents()
    return {pid for pid in pids if pid in parents}


def wait_gone(pids: Iterable[int], timeout: float = 20) -> set[int]:
    """Wait until none of ``pids`` runs; those still running after ``timeout`` s."""
    pids = set(pids)
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)
