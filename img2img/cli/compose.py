"""Commands whose options are put together from several signatures (shared + per family).

Typer reads a command's options from its signature; a command composed here gets the
parameters it is given, in order, and passes every value to one body function by name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any


def parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    """The parameters of ``function``, with string annotations resolved."""
    return list(inspect.signature(function, eval_str=True).parameters.values())


def merge_parameters(groups: Iterable[Iterable[inspect.Parameter]]) -> list[inspect.Parameter]:
    """The parameters of ``groups`` in order, each name once (the first declaration wins)."""
    merged: dict[str, inspect.Parameter] = {}
    for group in groups:
        for parameter in group:
            merged.setdefault(parameter.name, parameter)
    return list(merged.values())


def compose(
    name: str, doc: str | None, params: list[inspect.Parameter], body: Callable[..., None]
) -> Callable[..., None]:
    """A command called ``name`` whose options are ``params`` and which runs ``body(**values)``."""

    def command(**values: Any) -> None:
        body(**values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = doc
    command.__name__ = name
    return command
