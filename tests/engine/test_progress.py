"""Progress reporters: plain lines for logs, a rich bar that fits 80 columns, the choice."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from img2img.engine.progress import (
    PlainReporter,
    RichReporter,
    format_duration,
    format_losses,
    make_reporter,
)

LOSSES = {"G_GAN": 0.712, "G_L1": 23.41, "D_real": 0.351, "D_fake": 0.349}


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _FlushCounter(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "0s"),
        (42.4, "42s"),
        (460, "7m40s"),
        (3600 + 5 * 60 + 9, "1h05m"),
        (2 * 86400 + 4 * 3600, "2d04h"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_format_losses_keeps_three_digits():
    assert format_losses(LOSSES) == "G_GAN 0.712 G_L1 23.4 D_real 0.351 D_fake 0.349"


def test_plain_reporter_prints_one_flushed_line_per_update():
    clock, stream = _Clock(), _FlushCounter()
    reporter = PlainReporter(stream, clock=clock)
    reporter.message("training on cpu in fp32")
    reporter.start(2000, 0, epoch=0)
    clock.now += 60  # 120 steps in 60 s: 1880 left at 2 steps/s
    reporter.update(120, 3, {"G_GAN": 0.71, "G_L1": 0.23}, 4.1)
    reporter.close()
    assert stream.getvalue().splitlines() == [
        "training on cpu in fp32",
        "step 120/2000 (6%)  epoch 3  G_GAN 0.71 G_L1 0.23  4.1 img/s  ETA 15m40s",
    ]
    assert stream.flushes >= 2


def test_plain_reporter_eta_counts_only_steps_since_resume():
    clock, stream = _Clock(), io.StringIO()
    reporter = PlainReporter(stream, clock=clock)
    reporter.start(1000, 900, epoch=37)
    clock.now += 10  # 50 steps in 10 s: the other 50 take another 10 s
    reporter.update(950, 37, {}, 10.0)
    clock.now += 10
    reporter.update(1000, 38, {}, 10.0)
    assert stream.getvalue().splitlines() == [
        "step 950/1000 (95%)  epoch 37  10.0 img/s  ETA 10s",
        "step 1000/1000 (100%)  epoch 38  10.0 img/s  ETA 0s",
    ]


def test_plain_reporter_writes_to_current_stderr(capsys):
    reporter = PlainReporter()
    reporter.message("hello")
    assert capsys.readouterr().err == "hello\n"


def _render(reporter: RichReporter, width: int = 80) -> list[str]:
    out = Console(width=width, file=io.StringIO(), force_terminal=True, color_system=None)
    out.print(reporter.progress.get_renderable())
    return out.file.getvalue().splitlines()


def _rich(clock: _Clock | None = None) -> RichReporter:
    console = Console(width=80, file=io.StringIO(), force_terminal=True)
    return RichReporter(console, clock=clock or _Clock())


@pytest.mark.parametrize("total", [2000, 1_000_000])
def test_rich_bar_fits_80_columns(total):
    clock = _Clock()
    reporter = _rich(clock)
    reporter.start(total, 0, epoch=0)
    clock.now += 3600 * 30
    reporter.update(total // 20, 1234, LOSSES, 123.4)
    try:
        bar, *rest = _render(reporter)
    finally:
        reporter.close()
    assert f"{total // 20}/{total}" in bar and "5%" in bar
    assert "epoch 1234" in bar and "ETA " in bar and "123.4 img/s" in bar
    assert len(bar) <= 80
    assert rest == [format_losses(LOSSES)]


def test_rich_losses_wrap_onto_lines_of_their_own():
    reporter = _rich()
    reporter.start(100, 0)
    many = {f"loss_{i}": 1.5 + i for i in range(12)}
    reporter.update(10, 0, many, 1.0)
    try:
        lines = _render(reporter)
    finally:
        reporter.close()
    assert all(len(line) <= 80 for line in lines)
    assert " ".join(lines[1:]) == format_losses(many)
    assert all(re.fullmatch(r"(loss_\d+ [\d.]+ ?)+", line) for line in lines[1:])  # pairs whole


def test_rich_bar_shows_the_starting_epoch_after_resume():
    reporter = _rich()
    reporter.start(2000, 480, epoch=20)
    try:
        bar = _render(reporter)[0]
    finally:
        reporter.close()
    assert "epoch 20" in bar and "480/2000" in bar


def test_rich_messages_go_to_its_console_as_plain_text():
    reporter = _rich()
    reporter.start(10, 0)
    reporter.message("resuming runs/[bold]x at step 3")
    reporter.close()
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", reporter.console.file.getvalue())
    assert "resuming runs/[bold]x at step 3" in shown


def test_make_reporter_picks_by_terminal():
    assert isinstance(make_reporter(io.StringIO()), PlainReporter)
    terminal = _Terminal()
    reporter = make_reporter(terminal)
    assert isinstance(reporter, RichReporter) and reporter.console.file is terminal


def test_make_reporter_defaults_to_stderr(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert isinstance(make_reporter(), PlainReporter)
    monkeypatch.setattr("sys.stderr", _Terminal())
    assert isinstance(make_reporter(), RichReporter)
