"""Options declared once, on the config dataclass fields they set.

A field that the command line sets carries its :class:`Option` in its metadata::

    lambda_l1: float = field(default=100.0, metadata=option(
        "--lambda-l1", help="Weight of the L1 term.", panel=MODEL))

Everything else is generated from there: the ``img2img train`` options (flag, help text, help
panel, default; see :mod:`img2img.cli.options`), the choices a config checks its values
against, the config built from the parsed command line (:func:`build`) and what
``train --resume`` may change (:func:`resumable`). A field without an option is not on the
command line (``DataConfig.root_given``, ``TrainConfig.beta2``).

A boolean field whose flag is ``--no-<field>`` is negated: the flag sets the field False
(``--no-dropout``: ``dropout=False``). Nothing here imports torch or typer.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass
from typing import Any

__all__ = [
    "DATA", "MODEL", "OPTIM", "RUN", "FieldOption", "Option", "build", "command_words", "option",
    "options_of", "resumable",
]

#: the help panels of ``img2img train``
MODEL = "Model"
DATA = "Data"
OPTIM = "Optimisation"
RUN = "Run"

#: the metadata key an :class:`Option` is stored under
KEY = "img2img.option"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: :attr:`Option.default` when the command line's default is the field's
UNSET: Any = _Unset()


@dataclass(frozen=True)
class Option:
    """How a config field appears on the command line.

    Attributes:
        flag: its spelling (``--n-layers-D``); the command's parameter is named after it
            (``n_layers_D``, ``no_dropout``) and so is the option in ``train --resume``
            changes and :data:`img2img.launch.RESUME_CHANGEABLE`.
        help: the help text; ``{choices}`` in it stands for the choices, comma-separated.
        panel: the help panel (:data:`MODEL`, :data:`DATA`, :data:`OPTIM`, :data:`RUN`).
        choices: the values the field takes, or a function returning them (asked on use, so
            a registry's names can be registered later); the config checks its value against
            them (:func:`img2img.config.check_choices`).
        type: the command line's type, where it is not the field's (``--label-nc`` takes
            ``auto``, a text; ``--vgg-weights`` a path).
        parse: turns a given command-line value (not None) into the field's value.
        default: the command line's default, where it is not the field's (``--name``: None,
            for a name made from the dataset's); a field without a default has None.
        resume: ``train --resume`` may change it.
        resume_help: its help text in ``train --resume``, where it differs.
        unparse: the command-line text of a field value, where :attr:`parse` does more than
            convert (``--label-nc``: None is ``auto``).
        complete: the shell completion of its value (``complete(typed) -> candidates``), where
            it is not its choices (see :mod:`img2img.completion`).
    """

    flag: str
    help: str = ""
    panel: str | None = None
    choices: Callable[[], Sequence[str]] | Sequence[str] | None = None
    type: Any = None
    parse: Callable[[Any], Any] | None = None
    default: Any = UNSET
    resume: bool = False
    resume_help: str | None = None
    unparse: Callable[[Any], str] | None = None
    complete: Callable[[str], list[str]] | None = None

    @property
    def name(self) -> str:
        """The parameter name: ``--n-layers-D`` -> ``n_layers_D``."""
        return self.flag.lstrip("-").replace("-", "_")

    def choice_list(self) -> tuple[str, ...] | None:
        """The choices, now (None: any value)."""
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def help_text(self, resuming: bool = False) -> str:
        """The help text, with its choices filled in."""
        text = self.resume_help if resuming and self.resume_help is not None else self.help
        choices = self.choice_list()
        return text if choices is None else text.replace("{choices}", ", ".join(choices))

    def completer(self) -> Callable[[str], list[str]] | None:
        """The shell completion of the value: :attr:`complete`, else the choices, else None."""
        if self.complete is not None:
            return self.complete
        if self.choices is None:
            return None
        from img2img.completion import choices

        return choices(self.choices)


def option(flag: str, help: str = "", panel: str | None = None, **settings: Any  # noqa: A002
           ) -> dict[str, Option]:
    """Field metadata declaring the field's command-line option (see :class:`Option`)."""
    return {KEY: Option(flag, help, panel, **settings)}


@dataclass(frozen=True)
class FieldOption:
    """A field's :class:`Option`, resolved against the field (its type and default)."""

    field: str
    option: Option
    type: Any
    default: Any
    negated: bool

    @property
    def name(self) -> str:
        return self.option.name

    @property
    def flag(self) -> str:
        return self.option.flag

    def to_field(self, value: Any) -> Any:
        """The field's value from the command line's ``value``."""
        if self.negated:
            return not value
        if value is not None and self.option.parse is not None:
            return self.option.parse(value)
        return value


def options_of(cls: Any) -> tuple[FieldOption, ...]:
    """The options declared on the fields of the dataclass ``cls`` (or instance), in field
    order."""
    return _options_of(cls if isinstance(cls, type) else type(cls))


@functools.cache
def _options_of(cls: type) -> tuple[FieldOption, ...]:
    hints = typing.get_type_hints(cls)
    resolved = []
    for f in dataclasses.fields(cls):
        opt = f.metadata.get(KEY)
        if opt is None:
            continue
        hint = hints.get(f.name, Any)
        negated = hint is bool and opt.flag == "--no-" + f.name.replace("_", "-")
        if opt.default is not UNSET:
            default = opt.default
        elif negated:
            default = False
        elif f.default is not MISSING:
            default = f.default
        else:
            default = None
        kind = bool if negated else (opt.type if opt.type is not None else hint)
        if default is None and not _optional(kind):
            kind = kind | None
        resolved.append(FieldOption(f.name, opt, kind, default, negated))
    return tuple(resolved)


def _optional(hint: Any) -> bool:
    return hint is Any or type(None) in typing.get_args(hint)


def build(cls: type, values: Mapping[str, Any], **given: Any) -> Any:
    """An instance of the dataclass ``cls`` from command-line ``values`` (by option name),
    negated and parsed into field values; ``given`` sets fields directly. Fields with neither
    keep their defaults."""
    fields = {o.field: o.to_field(values[o.name]) for o in options_of(cls)
              if o.field not in given}
    return cls(**fields, **given)


def command_words(cls: type, values: Mapping[str, Any],
                  defaults: Mapping[str, Any] | None = None) -> list[str]:
    """The command-line words that give the fields of ``values`` (a saved config section of
    ``cls``) wherever they differ from what the command line would make by default
    (``defaults``: command-line defaults by option name, where the family changes them)."""
    words: list[str] = []
    for o in options_of(cls):
        if o.field not in values:
            continue
        value = values[o.field]
        default = (defaults or {}).get(o.name, o.default)
        if value == o.to_field(default):
            continue
        if o.type is bool or o.negated:
            if value is (not o.negated):
                words.append(o.flag)
            continue
        text = o.option.unparse(value) if o.option.unparse else str(value)
        words += [o.flag, text]
    return words


def resumable(sections: Mapping[str, type]) -> dict[str, tuple[str, ...]]:
    """The options ``train --resume`` may change, by config section (names as in
    :attr:`Option.name`), for ``{section: config class}``."""
    return {section: tuple(o.name for o in options_of(cls) if o.option.resume)
            for section, cls in sections.items()}
