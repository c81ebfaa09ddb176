"""The registry of model families.

A :class:`Family` names everything the rest of the tool needs to know about a family: its
model config class (whose fields declare the family's model options; ``img2img train NAME``
is generated from them), its description (what it is: validation, dataset, evaluation,
inference model, published weights), its training recipe (what trains), the networks it uses
and its command-line extras. Config loading, ``train``, ``translate``, ``info`` and the CLI all
look families up here.

The description, recipe and CLI targets are ``"module:attribute"`` strings resolved on first
use, so listing families and loading configs imports neither torch nor the CLI.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from img2img.config import ConfigError, RunConfig
from img2img.nn.registry import Kind, NetworkEntry, register, tag, unregister, untag


@dataclass(frozen=True)
class Family:
    """One model family.

    Attributes:
        name: the public name (``pix2pix``), used by ``img2img train NAME`` and in checkpoints.
        config: the frozen dataclass holding the family's model options, each declared on
            its field (:mod:`img2img.options`).
        description: ``"module:Class"`` of what it is (a
            :class:`img2img.families.description.FamilyDescription`).
        recipe: ``"module:Class"`` of what trains it (a
            :class:`img2img.engine.recipe.TrainingRecipe`).
        summary: one line for ``--help`` and ``info``.
        help: the help of ``img2img train NAME`` (rich markup); None: made from ``summary``.
        examples: ``"module:attribute"`` of the examples shown below that help, or None.
        cli_defaults: shared command-line options whose default differs for this family
            (for example a preprocess mode).
        mode_defaults: ``"module:function"`` giving, for the family's model options (a
            mapping of field values), the shared options whose default follows them
            (FastCUT's epochs); None when none do.
        translate_cli: ``"module:function"`` whose signature declares the family's own
            ``img2img translate`` options (``--direction``, ``--style`` ...) and which returns
            them as test-time options for the family's inference model; None when it has none.
        networks: the shared registered networks it uses, by kind (its ``netG`` / ``netD``
            choices).
        own_networks: networks only it uses, registered with it.
        datasets_of: the family whose published datasets it trains on, where they are
            another's (CUT trains on CycleGAN's unpaired sets); None: its own.
    """

    name: str
    config: type
    description: str
    recipe: str
    summary: str
    help: str | None = None
    examples: str | None = None
    cli_defaults: Mapping[str, Any] = field(default_factory=dict)
    mode_defaults: str | None = None
    translate_cli: str | None = None
    networks: Mapping[Kind, tuple[str, ...]] = field(default_factory=dict)
    own_networks: tuple[NetworkEntry, ...] = ()
    datasets_of: str | None = None

    @property
    def dataset_family(self) -> str:
        """The family name published datasets are looked up under for this family."""
        return self.datasets_of or self.name

    def description_class(self) -> Any:
        """The family's description class (imports torch)."""
        return _resolve(self.description)

    def recipe_class(self) -> type:
        """The family's training recipe class (imports torch)."""
        return _resolve(self.recipe)

    def command_help(self) -> str:
        """The help of ``img2img train NAME``."""
        return self.help or f"Train [bold]{self.name}[/]: {self.summary}."

    def shared_defaults(self, model: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults of shared options that differ for this family, for the model options
        ``model`` (field values) where they follow them."""
        follow = {} if model is None or self.mode_defaults is None else _resolve(
            self.mode_defaults)(model)
        return {**self.cli_defaults, **follow}

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
    """Add ``family`` and its networks; names are unique."""
    if family.name in _FAMILIES:
        raise ValueError(f"model family {family.name!r} is already registered")
    for entry in family.own_networks:
        register(entry)
        tag(entry.kind, (entry.name,), family.name)
    for kind, names in family.networks.items():
        tag(kind, names, family.name)
    _FAMILIES[family.name] = family
    return family


def unregister_family(name: str) -> Family:
    """Remove the family called ``name`` (one a test or a plugin registered) and its own
    networks; returns it."""
    family = get_family(name)
    del _FAMILIES[name]
    for entry in family.own_networks:
        unregister(entry.kind, entry.name)
    untag(name)
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
