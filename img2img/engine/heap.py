"""The C heap's policy for freed memory (glibc on Linux; elsewhere nothing happens).

:func:`keep_freed_memory` makes glibc keep freed memory for reuse instead of handing each large
block back to the kernel: a training step frees and reallocates the same large tensors every
iteration, and mapping them fresh costs a page fault per 4 KB. :func:`return_freed_memory`
undoes that and hands back what can be, for after an allocation failure, when memory matters
more than speed. Both are process-wide.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import sys

# glibc mallopt parameters and their defaults
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:  # the process's own symbols (no library search, which would start a process)
        libc = ctypes.CDLL(None)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc, not another C library
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory() -> bool:
    """Keep freed memory in the heap (no block mapped alone, no trimming under 1 GiB);
    returns whether glibc took the setting."""
    libc = _libc()
    return libc is not None and (
        libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
    )


def limit_arenas(count: int) -> bool:
    """Let at most ``count`` malloc arenas exist; returns whether glibc took the setting.

    glibc gives each new thread an arena of its own (up to 8 per core), and each arena
    reserves 64 MiB of address space: with a thread pool on many cores that is gigabytes of
    address space no data uses, which a capped address space (``ulimit -v``) cannot spare.
    Threads started afterwards share the existing arenas.
    """
    libc = _libc()
    return libc is not None and libc.mallopt(_M_ARENA_MAX, count) == 1


def return_freed_memory() -> None:
    """Back to glibc's own policy (large blocks mapped alone, and unmapped when freed), and
    hand the free memory the heap holds back to the kernel. Safe to call when memory has run
    out (it then does what it can)."""
    with contextlib.suppress(MemoryError):  # finding glibc the first time allocates a little
        libc = _libc()
        if libc is not None:
            libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
            libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
            libc.malloc_trim(0)
