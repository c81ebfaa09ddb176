"""Before a download starts: its size, and the user's consent on a terminal.

Every download the CLI starts on its own (a missing ``--data`` dataset, the metrics' weights)
goes through :func:`consent`: on a terminal it asks first, with the size, unless ``--yes``;
without one it goes ahead and says what it downloads and how big it is
(``downloading alexnet-owt-7be5be79.pth: 244.4 MB from URL into FOLDER``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from img2img.cli.console import console


class Declined(FileNotFoundError):
    """The user answered no to a download."""


def size_text(size: int | None) -> str:
    """``244.4 MB``, or ``size unknown``."""
    from img2img.hub.space import format_bytes

    return "size unknown" if size is None else format_bytes(size)


def known_size(url: str, size: int | None) -> int | None:
    """``size`` when the registry knows it, else what the server announces (or None)."""
    if size is not None:
        return size
    from img2img.hub.download import remote_size

    return remote_size(url)


def interactive() -> bool:
    """Whether a person can answer (stdin is a terminal)."""
    return sys.stdin.isatty()


def consent(what: str, url: str, dest: Path, size: int | None, *, yes: bool,
            why: str = "") -> None:
    """Ask before downloading ``what`` from ``url`` into ``dest`` (on a terminal, unless
    ``yes``), then say that it starts and its size, on stderr.

    Raises:
        Declined: the user answered no (the message names ``what``).
    """
    from img2img.hub.download import mirror_url

    source = mirror_url(url)
    shown = size_text(known_size(url, size))
    if not yes and interactive():
        question = f"{why}{what} ({shown}) is not here. Download it from {source} into {dest}?"
        if not typer.confirm(question, default=True, err=True):
            raise Declined(f"{what}: not downloaded (declined; pass --yes to download "
                           "without asking)")
    console(stderr=True).print(f"downloading {what}: {shown} from {source} into {dest}",
                               highlight=False, markup=False)
