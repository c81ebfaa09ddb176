"""SIGINT and SIGTERM as requests to stop: training ends its step, saves, then exits.

Ctrl-C sends SIGINT; job schedulers (SLURM, Kubernetes, systemd) send SIGTERM some time before
they kill a job. Inside :class:`StopSignals` neither interrupts anything: the first one only
records the request, which the trainer reads between two steps, so the checkpoint it then
writes holds whole steps only and a resume continues exactly. A second signal while the first
is being honoured raises :class:`Interrupted` at once (the previous checkpoint is never
damaged by that: checkpoints are written atomically).

:func:`sigterm_as_interrupt` makes SIGTERM raise :class:`Interrupted` (a
:class:`KeyboardInterrupt`) like SIGINT, for the parts of a command that are not a training
loop (setting a run up, translating), so their clean-up runs on either signal.

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


class Interrupted(KeyboardInterrupt):
    """A signal that ends a command at once, without waiting for a step to end.

    Attributes:
        signal: the signal that was received.
    """

    def __init__(self, sig: signal.Signals, message: str) -> None:
        super().__init__(message)
        self.signal = sig


def interrupted_signal(exc: KeyboardInterrupt) -> signal.Signals:
    """The signal behind ``exc``: its own for :class:`Interrupted`, else SIGINT (Ctrl-C)."""
    return exc.signal if isinstance(exc, Interrupted) else signal.SIGINT


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
            sig = signal.Signals(signum)
            raise Interrupted(sig, f"{sig.name} received while stopping: stopped at once, "
                                   "without finishing the step in progress")
        self.requested = signal.Signals(signum)
        log.warning("%s received: stopping after the current step", self.requested.name)

    def request(self, sig: signal.Signals = signal.SIGINT) -> None:
        """Ask for a stop as if ``sig`` had arrived (for callers that stop a run themselves)."""
        if self.requested is None:
            self.requested = sig


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM raises :class:`Interrupted`, as SIGINT raises
    :class:`KeyboardInterrupt`."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    sig = signal.Signals(signum)
    raise Interrupted(sig, f"{sig.name} received: stopped")


def exit_status(sig: signal.Signals) -> int:
    """The shell's exit status for a process ended by ``sig``: 128 + its number (130, 143)."""
    return 128 + int(sig)
