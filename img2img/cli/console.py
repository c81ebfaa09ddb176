"""The rich consoles the CLI prints through: terminal width on a terminal, no width when piped.

Off a terminal (``img2img weights list | grep ...``, a log file, a test runner) rich would
assume 80 columns and cut or wrap long paths and URLs. :func:`console` makes consoles that use
a width no line reaches there, so every line comes out whole; ``$COLUMNS`` still wins when set.
"""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console, ConsoleDimensions

#: columns assumed off a terminal: wider than any line the CLI prints, so nothing is cut
PIPED_WIDTH = 4096


class PipeConsole(Console):
    """A :class:`rich.console.Console` that does not wrap or cut lines when not on a terminal.

    ``$COLUMNS`` is read when printing, not when the console is made, so a console made at
    import time follows the environment of each command.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fixed_width = kwargs.get("width")
        self._width = self._fixed_width

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size; ``$COLUMNS`` when set; off a terminal, :data:`PIPED_WIDTH`."""
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        if self._fixed_width is not None:
            return size
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return ConsoleDimensions(int(columns), size.height)
        if not self.is_terminal:
            return ConsoleDimensions(PIPED_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]
        self._fixed_width = self._width


def console(*, stderr: bool = False, **kwargs: Any) -> Console:
    """A console on stdout (or stderr) that never cuts lines when the stream is piped."""
    return PipeConsole(stderr=stderr, **kwargs)
