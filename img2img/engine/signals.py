"""SIGINT and SIGTERM as requests to stop: training ends its step, saves, then exits.

Ctrl-C sends SIGINT; job schedulers (SLURM, Kubernetes, systemd) send SIGTERM some time before
they kill a job. Inside :class:`StopSignals` neither interrupts anything: the first one only
records the request, which the trainer reads between two steps, so the checkpoint it then
writes holds whole steps only and a resume continues exactly. A second signal while the first
is being honoured raises :class:`KeyboardInterrupt` at once (the previous checkpoint is never
damaged by that: checkpoints are written atomically).

:func:`sigterm_as_interrupt` makes SIGTERM raise :class:`KeyboardInterrupt` like SIGINT, for
the parts of a command that are not a training loop (setting a run up, translating), so their
clean-up runs on either signal.

Handlers can only be installed from the main thread; elsewhere both helpers do nothing.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger(__name__)

#: the signals that ask a run to stop
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class StopSignals:
    """Turns SIGINT/SIGTERM into a stop request while it is entered (``with StopSignals() as s``).

    Attributes:
        requested: the first signal received (``signal.Signals``), or None.
    """

    def __init__(self) -> None:
        self.requested: signal.Signals | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if _in_main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:
            raise KeyboardInterrupt(f"second stop signal ({signal.Signals(signum).name})")
        self.requested = signal.Signals(signum)
        log.warning("%s received: stopping after the current step", self.requested.name)

    def request(self, sig: signal.Signals = signal.SIGINT) -> None:
        """Ask for a stop as if ``sig`` had arrived (for callers that stop a run themselves)."""
        if self.requested is None:
            self.requested = sig


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM raises :class:`KeyboardInterrupt`, as SIGINT does."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_status(sig: signal.Signals) -> int:
    """The shell's exit status for a process ended by ``sig``: 128 + its number (130, 143)."""
    return 128 + int(sig)
