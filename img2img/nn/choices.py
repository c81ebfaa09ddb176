"""The names a network's normalisation and weight initialisation may take (no torch import)."""

from __future__ import annotations

__all__ = ["INIT_TYPES", "NORMS"]

#: ``--norm`` choices
NORMS = ("batch", "syncbatch", "instance", "none")

#: ``--init-type`` choices
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")
