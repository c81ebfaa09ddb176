"""The ``img2img train ...`` command that starts a run again from its ``config.json``.

A run stopped before its first checkpoint cannot be resumed; its ``config.json`` still says
how it was started. The command names the family, the dataset (its absolute path), the run's
name and runs folder, and every option whose value differs from the command line's default,
spelled as the command line spells it (``--load-size 142``, ``--no-flip``, ``--netG``).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from img2img.config import DataConfig, TrainConfig
from img2img.options import command_words

__all__ = ["restart_hint", "train_command"]


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
    words += command_words(family.config, config["model"])
    words += command_words(DataConfig, {k: v for k, v in data.items() if k != "root"},
                           family.cli_defaults)
    words += command_words(TrainConfig, train, family.shared_defaults(config["model"]))
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
