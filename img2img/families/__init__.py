"""The model families: one folder each, registered here with one line.

What a family folder provides (``img2img/families/<name>/``):

- ``__init__.py``: ``FAMILY``, its :class:`Family` declaration (imports no torch): name,
  config class, description and recipe targets, one-line summary, the shared networks it uses
  and the networks only it has, its command-line extras (``translate`` options, examples).
- ``config.py``: its frozen model config dataclass, every option declared once on its field.
- ``description.py``: a :class:`~img2img.families.description.FamilyDescription`: what the
  family is (config resolution and validation, dataset, evaluation split, inference networks
  and model, published generators it recognises).
- ``training.py``: a :class:`~img2img.engine.recipe.TrainingRecipe`: what trains (networks,
  optimizers, schedules, one step, sample grid, extra state). The engine sees only this.
- anything only it needs (pix2pixHD's networks, instance features and label encoding).

Adding a family is its folder plus its name in :data:`BUILT_IN`; nothing else is edited.
"""

from __future__ import annotations

import importlib

from img2img.families.registry import (
    Family,
    UnknownFamilyError,
    get_family,
    list_families,
    load_run_config,
    register_family,
    run_config,
    unregister_family,
)

#: the families shipped with img2img, in the order ``datasets check`` tries their layouts
#: (the unpaired ones last: their discovery accepts any two folders of images)
BUILT_IN = ("pix2pix", "pix2pixhd", "cyclegan", "cut")

for _name in BUILT_IN:
    register_family(importlib.import_module(f"{__name__}.{_name}").FAMILY)

__all__ = [
    "BUILT_IN",
    "Family",
    "UnknownFamilyError",
    "get_family",
    "list_families",
    "load_run_config",
    "register_family",
    "run_config",
    "unregister_family",
]
