"""Command-line options of ``img2img train`` and the test-time options, declared once.

The options that set a config field are declared on the field (:mod:`img2img.options`);
:func:`config_parameters` makes a command's parameters of them. The options that steer a
training command rather than describe its run (``--resume``, ``--dry-run``, ``--runs-dir``,
``--yes``, ``--devices``, ``--trust-side-by-side``) are the signature of :func:`control_options`. The option names are
the reference code's.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from img2img.options import DATA, MODEL, OPTIM, RUN, options_of

__all__ = ["DATA", "MODEL", "OPTIM", "RUN", "TEST", "config_parameters", "control_options",
           "test_options"]

Opt = typer.Option

TEST = "Test time"


def config_parameters(cls: type, defaults: Mapping[str, Any] | None = None, *,
                      resuming: bool = False) -> list[inspect.Parameter]:
    """The command parameters of the options declared on the fields of the dataclass ``cls``.

    ``defaults`` replaces the declared defaults by option name (a family's ``cli_defaults``).
    With ``resuming``, only the options a resume may change, each defaulting to None (not
    given), with its resume help.
    """
    defaults = defaults or {}
    params = []
    for declared in options_of(cls):
        if resuming and not declared.option.resume:
            continue
        default = None if resuming else defaults.get(declared.name, declared.default)
        info = Opt(declared.flag, help=declared.option.help_text(resuming),
                   rich_help_panel=declared.option.panel,
                   autocompletion=declared.option.completer())
        params.append(inspect.Parameter(
            declared.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
            annotation=Annotated[declared.type, info],
        ))
    return params


# --- control: what a training command does rather than what its run is ----------------------
Resume = Annotated[Path | None, Opt("--resume", help="Continue the run in this directory (its saved config is used).", rich_help_panel=RUN)]
DryRun = Annotated[bool, Opt("--dry-run", help="Print the resolved config and network sizes; write nothing.", rich_help_panel=RUN)]
RunsDir = Annotated[Path, Opt("--runs-dir", help="Where run directories are created.", rich_help_panel=RUN)]
Yes = Annotated[bool, Opt("--yes", "-y", help="Download a missing published --data dataset without asking.", rich_help_panel=DATA)]
TRUST_SIDE_BY_SIDE_HELP = "Side-by-side files are A|B pairs even though their sizes vary or they are not about twice as wide as high (otherwise the data check stops with an error)."
TrustSideBySide = Annotated[bool, Opt("--trust-side-by-side", help=TRUST_SIDE_BY_SIDE_HELP, rich_help_panel=DATA)]
Devices = Annotated[int, Opt("--devices", help="Train data-parallel on N processes of this machine (N GPUs, or N CPU processes); the same as 'torchrun --nproc-per-node N -m img2img train ...'. --batch-size is per process.", rich_help_panel=RUN, min=1)]


def control_options(
    devices: Devices = 1,
    runs_dir: RunsDir = Path("runs"),
    resume: Resume = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    trust_side_by_side: TrustSideBySide = False,
) -> None:
    """The template of the control options every family's train command takes after the
    run's options (never called)."""


# --- test time (translate, evaluate, export) --------------------------------------------------
InferDevice = Annotated[str, Opt("--device", help="auto, cpu, cuda, cuda:N or mps.")]
TestSeed = Annotated[int | None, Opt("--seed", help="Seed of the per-image dropout noise (paper test mode; default 0).", rich_help_panel=TEST)]
TestNoDropout = Annotated[bool, Opt("--no-dropout", help="Paper test mode with dropout off.", rich_help_panel=TEST)]
TestEval = Annotated[bool, Opt("--eval", help="Test with running statistics and no dropout (model.eval()) instead of the paper's test mode.", rich_help_panel=TEST)]


def test_options(eval_mode: bool, no_dropout: bool, seed: int | None) -> dict:
    """The inference model's test-time options from the three flags (None: the default)."""
    return {"test_mode": "eval" if eval_mode else None, "dropout": False if no_dropout else None,
            "seed": seed}
