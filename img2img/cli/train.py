"""``img2img train <family>`` (one command per registered family) and ``img2img train --resume``.

A family command's options are generated from the fields of its model config class, then of
:class:`DataConfig`, :class:`TrainConfig` and :class:`RunConfig` (each field declares its own
option, see :mod:`img2img.options`), then the control options of
:func:`img2img.cli.options.control_options`; the values it is given build those configs. The
options of ``train --resume`` are the ones a resume may change, from the same declarations.
The family commands are made from the family registry whenever the command line is built, so
a family registered later has its command too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer
from typer.models import CommandInfo

from img2img.cli import options as o
from img2img.cli.compose import compose, parameters
from img2img.cli.devices import run_on_devices
from img2img.cli.errors import user_errors
from img2img.cli.group import CommandGroup
from img2img.config import DataConfig, RunConfig, TrainConfig
from img2img.families import Family, get_family, list_families
from img2img.options import build

#: the config sections whose options every family's command takes after its model options
SHARED_SECTIONS = (DataConfig, TrainConfig, RunConfig)


class FamilyCommands(CommandGroup):
    """A command group with one command per registered family (``family_command``), made
    when the command line is built, after the group's own commands."""

    def __init__(self, **settings: Any) -> None:
        self._made: dict[str, tuple[Family, CommandInfo]] = {}
        super().__init__(**settings)

    @property
    def registered_commands(self) -> list[CommandInfo]:  # type: ignore[override]
        return [*self._own, *(self._family_command(get_family(name)) for name in list_families())]

    @registered_commands.setter
    def registered_commands(self, commands: list[CommandInfo]) -> None:
        self._own = commands

    def _family_command(self, family: Family) -> CommandInfo:
        made = self._made.get(family.name)
        if made is None or made[0] is not family:
            scratch = CommandGroup()
            scratch.command(family.name, help=family.command_help(),
                            epilog=family.cli_examples())(family_command(family))
            made = self._made[family.name] = (family, scratch.registered_commands[0])
        return made[1]


app = FamilyCommands(
    help="Train a model: one sub-command per family; [bold]--resume RUN[/] continues any run.",
    invoke_without_command=True,
)

RESUME_EXAMPLES = """\
[bold]Examples[/]

  img2img train pix2pix --data edges2photos_mini --netG unet_128 --load-size 142 --crop-size 128

  img2img train --resume runs/edges2photos_mini_pix2pix

  img2img train --resume runs/edges2photos_mini_pix2pix --max-steps 20000 --device cuda

  img2img train pix2pix --data facades --devices 4 --precision bf16
"""

#: options that steer a command rather than describe the run
_CONTROL = ("ctx", *(p.name for p in parameters(o.control_options)))
_CTX = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)


def _resume_parameters() -> list[inspect.Parameter]:
    """``--resume``, the options a resume may change (None: unchanged), ``--devices`` and
    ``--dry-run``."""
    control = {p.name: p for p in parameters(o.control_options)}
    changeable = [p for cls in (DataConfig, TrainConfig)
                  for p in o.config_parameters(cls, resuming=True)]
    return [_CTX, control["resume"], *changeable, control["devices"], control["dry_run"]]


def _train(ctx: typer.Context, resume: Path | None, devices: int, dry_run: bool,
           **changeable: Any) -> None:
    if ctx.invoked_subcommand is not None:
        if resume is not None:
            raise typer.BadParameter("give --resume after the family, or without one")
        return
    if resume is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    changes = {k: v for k, v in changeable.items() if v is not None}
    with user_errors():
        _resume(resume, changes, None, dry_run, devices, changeable.get("device"))


train = app.callback(epilog=RESUME_EXAMPLES)(compose(
    "train",
    """Train a model ([bold]img2img train FAMILY --data ...[/]) or continue one
    ([bold]img2img train --resume RUN[/]: the family and settings are the run's own; the
    options here may change).""",
    _resume_parameters(), _train,
))


def family_command(family: Family) -> Callable[..., None]:
    """The ``train <family>`` command: the family's model options, the shared ones (with the
    family's ``cli_defaults``), then the control options."""
    model_params = o.config_parameters(family.config)
    shared_params = [p for cls in SHARED_SECTIONS
                     for p in o.config_parameters(cls, family.cli_defaults)]

    def run(ctx: typer.Context, **values: Any) -> None:
        with user_errors():
            if values["resume"] is not None:
                given = {k: v for k, v in values.items()
                         if k not in _CONTROL and _from_command_line(ctx, k)}
                _resume(values["resume"], given, family.name, values["dry_run"],
                        values["devices"], values["device"])
                return
            model = build(family.config, values)
            values.update({k: v for k, v in family.shared_defaults(dataclasses.asdict(model))
                           .items() if k in values and not _from_command_line(ctx, k)})
            _start(family, model, values)

    return compose(family.name, family.command_help(),
                   [_CTX, *model_params, *shared_params, *parameters(o.control_options)], run)


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _start(family: Family, model: Any, v: dict[str, Any]) -> None:
    from img2img.cli import show
    from img2img.cli.datasets import ensure_dataset
    from img2img.data.discover import split_image_bits
    from img2img.engine.rundir import check_run_name, safe_run_name
    from img2img.families import run_config

    if v["data"] is None:
        raise ValueError("--data is required (a dataset folder or name), unless --resume is given")
    root = ensure_dataset(v["data"], family.dataset_family, yes=v["yes"])
    config = run_config(
        family.name,
        model,
        data=build(DataConfig, v, root=os.path.abspath(root), root_given=v["data"],
                   image_bits=split_image_bits(root, v["phase"])),
        train=build(TrainConfig, v),
        name=v["name"] or safe_run_name(f"{root.resolve().name}_{family.name}"),
    )
    check_run_name(config.name)
    _fetch_init_from(config, yes=v["yes"])
    from img2img import launch

    check_data = functools.partial(_check_data, trust_side_by_side=v["trust_side_by_side"])
    if v["dry_run"]:
        show.summary(launch.summarize(config, check_data=check_data))
        return

    def check() -> None:  # options and data, once, before the processes start
        launch.check_config(config, check_data=check_data)

    run_on_devices(v["devices"], v["device"], check)
    launched = _prepare_process(v["device"])  # by --devices N, whose check() checked the data
    check_once = functools.partial(_check_data_once, check_data=check_data)
    with _process_group(), _setup_interruptible():
        run, result = launch.train(config, v["runs_dir"], reporter=_reporter(),
                                   check_data=None if launched else check_once)
    _finished(run, result)


def _fetch_init_from(config: Any, *, yes: bool) -> None:
    """The published model ``--init-from`` names, if not here yet: its size said (asked
    first on a terminal, unless ``--yes``) and downloaded with a progress bar."""
    from img2img.families.init_from import published_entry
    from img2img.hub.weights import fetch, local_path, weights_root

    entry = published_entry(getattr(config.model, "init_from", None), config.family)
    if entry is None or entry.manual or local_path(entry) is not None:
        return
    from img2img.cli.downloads import consent
    from img2img.cli.weights import DownloadBar

    consent(entry.qualified_name, entry.url, weights_root() / entry.family, entry.size,
            yes=yes, why="--init-from: ")
    with DownloadBar(entry.qualified_name, announce=False) as bar:
        fetch(entry, progress=bar)


def _resume(run_dir: Path, changes: dict[str, Any], family: str | None, dry_run: bool,
            devices: int | None, device: str | None) -> None:
    from img2img import launch
    from img2img.cli import show
    from img2img.hub.datasets import resolve_dataset

    changeable = {name for names in launch.RESUME_CHANGEABLE.values() for name in names}
    if changes.get("data") is not None and set(changes) <= changeable:  # else refused below
        changes = {**changes, "data": str(resolve_dataset(changes["data"]))}
    if not dry_run:
        run_on_devices(devices, device, lambda: launch.check_resume(run_dir, changes,
                                                                    family=family))
        _prepare_process(device or _saved_device(run_dir))
    with _process_group(), _setup_interruptible():
        run, outcome = launch.resume(run_dir, changes, family=family, dry_run=dry_run,
                                     reporter=None if dry_run else _reporter())
    if dry_run:
        show.summary(outcome)
    else:
        _finished(run, outcome)


@contextlib.contextmanager
def _setup_interruptible() -> Iterator[None]:
    """SIGTERM stops the setup of a run as Ctrl-C does (the trainer then handles both); a
    command a signal ends at once says so in one line and exits with the shell's status for
    the signal (130, 143)."""
    from img2img.cli.errors import defer_to_launcher, print_error
    from img2img.engine.signals import exit_status, interrupted_signal, sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            yield
    except KeyboardInterrupt as exc:
        sig = interrupted_signal(exc)
        message = str(exc) or f"{sig.name} received: stopped"
        if not defer_to_launcher(message):
            print_error(message)
        raise typer.Exit(exit_status(sig)) from None


def _finished(run, result) -> None:
    """Show the result (one process shows it); a run a signal stopped exits, on every
    process, with the shell's status for it."""
    import signal

    from img2img.cli import show
    from img2img.engine.signals import exit_status

    if _is_main():
        show.finished(run, result)
    if result.stopped_by is not None:
        raise typer.Exit(exit_status(signal.Signals[result.stopped_by]))


def _check_data(config, dataset, *, trust_side_by_side: bool = False) -> None:
    """The fast part of ``datasets check`` on the split the run reads (``dataset``, as the run
    found it); fails on errors (side-by-side files that do not look like pairs among them,
    unless ``trust_side_by_side``)."""
    from img2img.cli import datasets_show
    from img2img.prep.check import check_run_data
    from img2img.prep.parallel import default_workers

    with datasets_show.check_progress(plain=False) as progress:
        report = check_run_data(config, dataset=dataset, workers=default_workers(),
                                progress=progress, trust_side_by_side=trust_side_by_side)
    datasets_show.run_check(report)
    if not report.ok:
        errors = "; ".join(f"{p.path}: {p.message}" if p.path else p.message
                           for p in report.errors[:5])
        raise ValueError(
            f"--data {config.data.root}: training would fail: {errors} (see 'img2img datasets "
            f"check {config.data.root}')"
        )


def _check_data_once(config, dataset, *, check_data: Callable[..., None] = _check_data) -> None:
    """``check_data`` on rank 0 alone, the other data-parallel processes waiting for its
    verdict (a failed check stops them all; rank 0 reports it)."""
    from img2img.engine import distributed as ddp
    from img2img.engine.device import resolve_device

    world = ddp.world_from_env()
    ddp.init_process_group(world, resolve_device(config.train.device))
    ddp.on_main(lambda: check_data(config, dataset))


@contextlib.contextmanager
def _process_group() -> Iterator[None]:
    """Leave the data-parallel process group (if training joined one) when training ends."""
    from img2img.engine.distributed import shutdown

    try:
        yield
    finally:
        shutdown()


def _is_main() -> bool:
    from img2img.engine.distributed import world_from_env

    return world_from_env().is_main


def _reporter():
    from img2img.engine.progress import make_reporter

    return make_reporter()


def _prepare_process(device: str) -> bool:
    """Allocator settings (CPU-only: not for a run on ``device`` CUDA); a process
    ``--devices N`` started ends with its launcher. Returns whether this is such a process."""
    from img2img.cli.memory import tune_allocator
    from img2img.config import ConfigError
    from img2img.engine.device import resolve_device
    from img2img.lifeline import follow_launcher

    launched = follow_launcher()
    try:
        target = resolve_device(device)
    except ConfigError:  # said where the run builds its networks
        target = None
    tune_allocator(target)
    return launched


def _saved_device(run_dir: Path) -> str:
    """The ``--device`` a run was started with (``auto`` where its config cannot be read)."""
    try:
        config = json.loads((run_dir / "config.json").read_text("utf-8"))
        return str(config["train"]["device"])
    except (OSError, ValueError, KeyError, TypeError):
        return "auto"
