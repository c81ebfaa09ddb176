"""The Typer application class every ``img2img`` command group is made from.

Each group takes ``-h`` as well as ``--help`` and rich markup in its help texts. A command's
help is its docstring with the lines of each paragraph joined, so that rich wraps it to the
terminal's width: rich markup keeps line breaks as written, which leaves ragged lines in a
terminal narrower than the source (80 columns) and breaks the one-line summaries of the
command list. Lines that start a list item (``-``, ``*``) or are indented stay on their own.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import typer

__all__ = ["CommandGroup", "reflow"]

#: a line that keeps its own line: a list item or an indented line
_OWN_LINE = re.compile(r"^(\s|[-*] )")


def reflow(text: str) -> str:
    """``text`` with each paragraph's lines joined by spaces (blank lines kept between
    paragraphs; list items and indented lines kept on their own lines)."""
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not _OWN_LINE.match(line):
                lines[-1] = f"{lines[-1]} {line.strip()}"
            else:
                lines.append(line.rstrip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


class CommandGroup(typer.Typer):
    """:class:`typer.Typer` with img2img's settings; commands' help is their reflowed docstring."""

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
        settings.setdefault("rich_markup_mode", "rich")
        super().__init__(**settings)

    def command(self, name: str | None = None, *, help: str | None = None,  # noqa: A002
                **settings: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command

        def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
            text = help if help is not None else inspect.getdoc(function)
            return register(name, help=reflow(text) if text else None, **settings)(function)

        return decorator
