"""Advisory locks that fail at once instead of waiting (one process per run folder, partial
download or unpacked archive). Imports nothing from the rest of the package."""

from __future__ import annotations

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]


def try_lock(fd: int) -> bool:
    """Take an exclusive advisory lock on the open file ``fd`` without waiting.

    Returns False when another process holds it; True when it is taken, or on a platform
    without ``flock`` (nothing to hold). Closing ``fd`` releases it.
    """
    if fcntl is None:  # pragma: no cover - not on Windows
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
