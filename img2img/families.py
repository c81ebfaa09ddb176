"""The model families, each declared once.

A :class:`Family` names everything the rest of the tool needs to know about a family: its
model config class (whose fields declare the family's model options; ``img2img train NAME``
is generated from them), its recipe (networks, optimizers, one training step, inference
model) and its command help. Config loading, ``train``, ``translate``, ``info`` and the CLI
all look families up here; adding a family is one :func:`register_family` call and never
edits the engine or translate.

The recipe and CLI targets are ``"module:attribute"`` strings resolved on first use, so listing
families and loading configs imports neither torch nor the CLI.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from img2img.config import ConfigError, CycleGANConfig, Pix2PixConfig, Pix2PixHDConfig, RunConfig


@dataclass(frozen=True)
class Family:
    """One model family.

    Attributes:
        name: the public name (``pix2pix``), used by ``img2img train NAME`` and in checkpoints.
        config: the frozen dataclass holding the family's model options, each declared on
            its field (:mod:`img2img.options`).
        recipe: ``"module:Class"`` of its recipe (a :class:`img2img.models.base.Recipe`).
        summary: one line for ``--help`` and ``info``.
        help: the help of ``img2img train NAME`` (rich markup); None: made from ``summary``.
        examples: ``"module:attribute"`` of the examples shown below that help, or None.
        cli_defaults: shared command-line options whose default differs for this family
            (for example a preprocess mode).
        translate_cli: ``"module:function"`` whose signature declares the family's own
            ``img2img translate`` options (``--direction``, ``--style`` ...) and which returns
            them as test-time options for the family's inference model; None when it has none.
    """

    name: str
    config: type
    recipe: str
    summary: str
    help: str | None = None
    examples: str | None = None
    cli_defaults: Mapping[str, Any] = field(default_factory=dict)
    translate_cli: str | None = None

    def recipe_class(self) -> type:
        """The recipe class (imports torch)."""
        return _resolve(self.recipe)

    def command_help(self) -> str:
        """The help of ``img2img train NAME``."""
        return self.help or f"Train [bold]{self.name}[/]: {self.summary}."

    def cli_examples(self) -> str | None:
        """The examples of ``img2img train NAME``, or None."""
        return None if self.examples is None else _resolve(self.examples)

    def cli_translate_options(self) -> Any:
        """The function declaring the family's ``translate`` options, or None."""
        return None if self.translate_cli is None else _resolve(self.translate_cli)


class UnknownFamilyError(ConfigError):
    """A family name that is not registered."""


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add ``family``; names are unique."""
    if family.name in _FAMILIES:
        raise ValueError(f"model family {family.name!r} is already registered")
    _FAMILIES[family.name] = family
    return family


def unregister_family(name: str) -> Family:
    """Remove the family called ``name`` (one a test or a plugin registered); returns it."""
    family = get_family(name)
    del _FAMILIES[name]
    return family


def get_family(name: str) -> Family:
    """The family called ``name``, failing with the list of known families."""
    if name not in _FAMILIES:
        raise UnknownFamilyError(
            f"family: {name!r} is not known; expected one of: {', '.join(list_families())}"
        )
    return _FAMILIES[name]


def list_families() -> list[str]:
    """Names of the registered families, in registration order."""
    return list(_FAMILIES)


def run_config(family: str, model: Any, **sections: Any) -> RunConfig:
    """A :class:`RunConfig` for ``family``, checking that ``model`` is that family's config."""
    expected = get_family(family).config
    if not isinstance(model, expected):
        raise ConfigError(
            f"model: a {family} run needs a {expected.__name__}; got {type(model).__name__}"
        )
    return RunConfig(family=family, model=model, **sections)


def load_run_config(d: Mapping[str, Any]) -> RunConfig:
    """Rebuild a :class:`RunConfig` saved by :meth:`RunConfig.to_dict` (config.json, checkpoint)."""
    family = get_family(str(d.get("family")))
    return RunConfig.from_dict(dict(d), family.config)


def _resolve(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


register_family(
    Family(
        name="pix2pix",
        config=Pix2PixConfig,
        recipe="img2img.models.pix2pix:Pix2PixRecipe",
        summary="U-Net generator, PatchGAN on (A, B), cGAN + L1 (paired data)",
        examples="img2img.cli.pix2pix:EXAMPLES",
    )
)

register_family(
    Family(
        name="pix2pixhd",
        config=Pix2PixHDConfig,
        recipe="img2img.models.pix2pixhd:Pix2PixHDRecipe",
        summary="coarse-to-fine generator, multi-scale D, feature matching + VGG (label maps)",
        help="Train [bold]pix2pixHD[/]: label maps (+ instance boundaries) to photos with a "
             "coarse-to-fine generator, a multi-scale discriminator, feature matching and a "
             "VGG19 loss.",
        examples="img2img.cli.pix2pixhd:EXAMPLES",
        cli_defaults={"preprocess": "scale_width", "load_size": 1024, "crop_size": 512},
        translate_cli="img2img.cli.pix2pixhd:translate_options",
    )
)

# last: its discovery accepts any two folders of images, so datasets check tries it after the
# families whose layouts say more
register_family(
    Family(
        name="cyclegan",
        config=CycleGANConfig,
        recipe="img2img.models.cyclegan:CycleGANRecipe",
        summary="two ResNet generators and two PatchGANs, LSGAN + cycle + identity (unpaired data)",
        help="Train [bold]CycleGAN[/]: two ResNet generators and two PatchGANs, LSGAN + cycle + "
             "identity (unpaired data).",
        examples="img2img.cli.cyclegan:EXAMPLES",
        translate_cli="img2img.cli.cyclegan:translate_options",
    )
)
