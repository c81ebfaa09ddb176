"""Training recipes, one per model family, looked up by family name."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from img2img.models.base import Recipe

_RECIPES = {"pix2pix": "img2img.models.pix2pix:Pix2PixRecipe"}


def recipe_class(family: str) -> type[Recipe]:
    """The recipe class of ``family``, failing with the list of known families."""
    if family not in _RECIPES:
        raise ValueError(f"family {family!r} is not known; expected one of: {', '.join(_RECIPES)}")
    module_name, _, attr = _RECIPES[family].partition(":")
    return getattr(importlib.import_module(module_name), attr)
