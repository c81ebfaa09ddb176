"""The ``img2img train ...`` command that starts a run again from its ``config.json``.

A run stopped before its first checkpoint cannot be resumed; its ``config.json`` still says
how it was started. The command names the family, the dataset (its absolute path), the run's
name and runs folder, and every option whose value differs from the command line's default,
spelled as the command line spells it (``--load-size 142``, ``--no-flip``, ``--netG``).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path
from typing import Any

from img2img.config import DataConfig, TrainConfig, option_flags

__all__ = ["restart_hint", "train_command"]

#: config entries that are no command-line option (or are given separately)
_NOT_OPTIONS = {"root", "root_given", "world_size", "global_batch_size"}
#: options whose command-line default depends on other options (pix2pixHD's ``--ngf`` is 32
#: for ``local``, 64 otherwise), so they are always spelled out
_ALWAYS = {"ngf"}


def _defaults(cls: type, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    values = {f.name: f.default for f in dataclasses.fields(cls)
              if f.default is not dataclasses.MISSING}
    return {**values, **(overrides or {})}


def _flags(values: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """The options of ``values`` that differ from ``defaults``, as command-line words."""
    words: list[str] = []
    for name, value in values.items():
        if name in _NOT_OPTIONS or name not in defaults:
            continue
        if value == defaults[name] and name not in _ALWAYS:
            continue
        if isinstance(value, bool):
            words.append(option_flags([name]) if value else option_flags([f"no_{name}"]))
        elif value is None:
            if name == "label_nc":  # resolved from the data when None
                words += [option_flags([name]), "auto"]
        else:
            words += [option_flags([name]), str(value)]
    return words


def train_command(config: dict[str, Any], runs_dir: str | Path, name: str | None = None) -> str:
    """The ``img2img train FAMILY ...`` command making a run of ``config`` (a run's
    ``config.json``) in ``runs_dir``, named ``name`` (default: the config's), quoted for a
    POSIX shell.

    Raises:
        ConfigError: the config names no known family.
        KeyError, TypeError: the config lacks its sections.
    """
    from img2img.families import get_family

    family = get_family(config["family"])
    data, train = config["data"], config["train"]
    words = ["img2img", "train", family.name, "--data", str(data["root"])]
    words += _flags(config["model"], _defaults(family.config))
    words += _flags(data, _defaults(DataConfig, dict(family.cli_defaults)))
    words += _flags(train, _defaults(TrainConfig))
    if train.get("world_size", 1) > 1:
        words += ["--devices", str(train["world_size"])]
    words += ["--name", name or str(config.get("name", "run")), "--runs-dir", str(runs_dir)]
    return shlex.join(words)


def restart_hint(run_dir: str | Path) -> str:
    """How to start the run in ``run_dir`` again, for a message: remove the folder and run
    the command its ``config.json`` gives, or just remove it when that file is unreadable."""
    run_dir = Path(run_dir)
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        command = train_command(config, run_dir.parent, run_dir.name)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"remove {run_dir} and start the run again"
    return f"remove {run_dir} and start it again with: {command}"
