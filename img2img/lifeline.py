"""Processes that end with the process that started them.

A data-loader worker or a ``train --devices N`` process has no use once its parent is gone: left
running it trains on, holds the run's lock and keeps its files open. :func:`die_with_parent`
asks Linux to send a signal when the parent ends (``prctl(PR_SET_PDEATHSIG)``); elsewhere a
daemon thread watches the parent's pid and sends the signal itself.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

#: ``prctl`` option that sets the signal sent on the parent's death (linux/prctl.h)
_PR_SET_PDEATHSIG = 1
#: how often the portable watch looks at the parent (seconds)
WATCH_INTERVAL = 0.5


def _set_pdeathsig(sig: int) -> bool:
    """Ask the kernel to send ``sig`` when the parent ends; False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, sig: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL)
        os.kill(os.getpid(), sig)

    threading.Thread(target=watch, name="img2img-parent-watch", daemon=True).start()


def die_with_parent(parent: int | None = None, sig: int = signal.SIGKILL) -> str:
    """End this process with ``sig`` as soon as ``parent`` (default: the current parent) ends.

    A parent that is already gone (its pid is no longer this process's parent) ends this
    process at once. Returns how the parent is watched: ``"prctl"`` or ``"thread"``.
    """
    parent = os.getppid() if parent is None else parent
    how = "prctl" if _set_pdeathsig(sig) else "thread"
    if how == "thread":
        _watch(parent, sig)
    if os.getppid() != parent:  # it ended before the request was in place
        os.kill(os.getpid(), sig)
    log.debug("this process ends with its parent %d (%s)", parent, how)
    return how


#: set by ``train --devices N`` for the processes it starts: the launcher's pid
LAUNCHER_PID_ENV = "IMG2IMG_LAUNCHER_PID"


def follow_launcher(env: dict[str, str] | None = None) -> bool:
    """In a process ``train --devices N`` started, end with that command (``kill -9`` of it
    included): a process left running would go on training and hold the run's lock. Returns
    whether this process is one of those."""
    value = (os.environ if env is None else env).get(LAUNCHER_PID_ENV, "")
    if not value.isdigit():
        return False
    die_with_parent(int(value))
    return True
