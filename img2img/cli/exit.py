"""Ending the ``img2img`` process once a command is done, without the interpreter's teardown.

After ``import torch`` the interpreter's own shutdown (clearing some 1,200 modules and running
the destructors of torch's libraries) takes most of a second on a small machine: a third of a
one-image ``translate``. Every file a command writes is closed when the command returns, so
the process can end right after the exit handlers run and the standard streams are flushed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def exit_status(code: object) -> int:
    """The process status ``sys.exit(code)`` gives: None is 0, an int itself, else 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _others_running() -> bool:
    """Whether a thread the interpreter would wait for at exit is still running."""
    main = threading.main_thread()
    return any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate())


def _distributed() -> bool:
    """Whether this process is in a torch.distributed group (its shutdown stays normal)."""
    dist = sys.modules.get("torch.distributed")
    return bool(dist is not None and dist.is_available() and dist.is_initialized())


def exit_process(status: int) -> NoReturn:
    """End the process with ``status``: exit handlers run and output is flushed, then it stops.

    Falls back to a normal ``sys.exit`` where the shortcut would lose something: before torch
    is imported (the teardown is cheap), while another non-daemon thread runs, or inside a
    distributed process group.
    """
    if "torch" not in sys.modules or _others_running() or _distributed():
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to write
            stream.flush()
    os._exit(status)
