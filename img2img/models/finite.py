"""Refuse weights holding NaN or infinite values before a network runs on them.

A generator with one NaN weight turns every image black; training that diverged, or a file
damaged on disk, leaves such weights behind. The check costs one ``torch.isfinite(t).all()``
per floating tensor; the values are counted only for the message, once one is found wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = ["NonFiniteWeightsError", "check_finite", "first_non_finite"]


class NonFiniteWeightsError(ValueError):
    """Weights holding NaN or infinite values."""


def first_non_finite(state: Mapping[str, Any]) -> tuple[str, Tensor] | None:
    """The first floating tensor of ``state`` (by its order) holding NaN or inf, or None."""
    for key, value in state.items():
        floating = isinstance(value, Tensor) and (value.is_floating_point() or value.is_complex())
        if floating and not bool(torch.isfinite(value).all()):
            return key, value
    return None


def describe_values(value: Tensor) -> str:
    """``3 NaN values``, ``1 infinite value`` or both, for a tensor known to hold some."""
    nan = int(torch.isnan(value).sum())
    inf = int(torch.isinf(value).sum())
    parts = [f"{n} {what} value{'s' if n != 1 else ''}"
             for n, what in ((nan, "NaN"), (inf, "infinite")) if n]
    return " and ".join(parts)


def check_finite(states: Mapping[str, Mapping[str, Any]], source: Any = None,
                 names: Iterable[str] | None = None) -> None:
    """Fail on the first network in ``states`` (``{network: state_dict}``) whose weights
    hold NaN or infinite values, naming the file, the network and the tensor.

    Args:
        states: the networks' state dicts, by the names the file gives them.
        source: the file they come from (named first in the message), or None.
        names: only these networks (default: all of ``states``).

    Raises:
        NonFiniteWeightsError: ``<source>: network G: model.1.weight holds 3 NaN values; the
            file is damaged or training diverged``.
    """
    for name in names if names is not None else states:
        bad = first_non_finite(states[name])
        if bad is not None:
            key, value = bad
            where = f"{source}: " if source is not None else ""
            raise NonFiniteWeightsError(
                f"{where}network {name}: {key} holds {describe_values(value)}; the file is "
                "damaged or training diverged"
            )
