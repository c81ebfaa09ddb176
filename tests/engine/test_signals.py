"""SIGINT/SIGTERM as stop requests, in this very process."""

from __future__ import annotations

import signal

import pytest

from img2img.engine.signals import StopSignals, exit_status, sigterm_as_interrupt


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_is_recorded_the_second_interrupts(sig):
    before = signal.getsignal(sig)
    with StopSignals() as stop:
        signal.raise_signal(sig)
        assert stop.requested == sig  # nothing was interrupted
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(sig) is before


def test_sigterm_can_raise_like_ctrl_c():
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is not signal.default_int_handler


def test_exit_status_is_the_shells():
    assert exit_status(signal.SIGINT) == 130 and exit_status(signal.SIGTERM) == 143
