"""``img2img train <family>`` (one command per registered family) and ``img2img train --resume``.

A family command's options are its own model options (declared by the family's CLI function)
followed by the shared data, optimisation and run options of :mod:`img2img.cli.options`; the
command is composed from those two signatures, so no option is declared twice.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from img2img.cli import options as o
from img2img.cli.compose import compose, parameters
from img2img.cli.devices import run_on_devices
from img2img.cli.errors import user_errors
from img2img.cli.group import CommandGroup
from img2img.families import Family, get_family, list_families

app = CommandGroup(
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
_CONTROL = ("ctx", "resume", "dry_run", "runs_dir", "yes", "devices")


@app.callback(epilog=RESUME_EXAMPLES)
def train(
    ctx: typer.Context,
    resume: o.Resume = None,
    data: o.ResumeData = None,
    max_steps: o.MaxSteps = None,
    n_epochs: o.NEpochs = None,
    device: o.Device = None,
    num_workers: o.NumWorkers = None,
    log_every: o.LogEvery = None,
    sample_every: o.SampleEvery = None,
    checkpoint_every: o.CheckpointEvery = None,
    keep_checkpoints: o.KeepCheckpoints = None,
    save_every_epochs: o.SaveEveryEpochs = None,
    tensorboard: o.Tensorboard = None,
    report_every: o.ReportEvery = None,
    devices: o.Devices = 1,
    dry_run: o.DryRun = False,
) -> None:
    """Train a model ([bold]img2img train FAMILY --data ...[/]) or continue one
    ([bold]img2img train --resume RUN[/]: the family and settings are the run's own; the
    options here may change)."""
    if ctx.invoked_subcommand is not None:
        if resume is not None:
            raise typer.BadParameter("give --resume after the family, or without one")
        return
    if resume is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    changes = {
        "data": data, "max_steps": max_steps, "n_epochs": n_epochs, "device": device,
        "num_workers": num_workers, "log_every": log_every, "sample_every": sample_every,
        "checkpoint_every": checkpoint_every, "keep_checkpoints": keep_checkpoints,
        "save_every_epochs": save_every_epochs, "tensorboard": tensorboard,
        "report_every": report_every,
    }
    with user_errors():
        _resume(resume, {k: v for k, v in changes.items() if v is not None}, None, dry_run,
                devices, device)


def family_command(family: Family) -> Callable[..., None]:
    """The ``train <family>`` command: the family's model options, then the shared ones."""
    model_options = family.cli_model_options()
    model_params = parameters(model_options)
    shared_params = [
        p.replace(default=family.cli_defaults.get(p.name, p.default))
        for p in parameters(o.shared_training_options)
    ]
    ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                  annotation=typer.Context)
    model_names = [p.name for p in model_params]

    def run(ctx: typer.Context, **values: Any) -> None:
        with user_errors():
            if values["resume"] is not None:
                given = {k: v for k, v in values.items()
                         if k not in _CONTROL and _from_command_line(ctx, k)}
                _resume(values["resume"], given, family.name, values["dry_run"],
                        values["devices"], values["device"])
                return
            model = model_options(**{k: values[k] for k in model_names})
            _start(family, model, values)

    return compose(family.name, model_options.__doc__,
                   [ctx_param, *model_params, *shared_params], run)


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _start(family: Family, model: Any, v: dict[str, Any]) -> None:
    from img2img.cli import show
    from img2img.cli.datasets import ensure_dataset
    from img2img.config import DataConfig, TrainConfig
    from img2img.engine.rundir import check_run_name, safe_run_name
    from img2img.families import run_config

    if v["data"] is None:
        raise ValueError("--data is required (a dataset folder or name), unless --resume is given")
    root = ensure_dataset(v["data"], family.name, yes=v["yes"])
    config = run_config(
        family.name,
        model,
        data=DataConfig(
            root=os.path.abspath(root), root_given=v["data"], phase=v["phase"],
            direction=v["direction"],
            preprocess=v["preprocess"], load_size=v["load_size"], crop_size=v["crop_size"],
            flip=not v["no_flip"], num_workers=v["num_workers"],
            max_dataset_size=v["max_dataset_size"],
        ),
        train=TrainConfig(
            batch_size=v["batch_size"], lr=v["lr"], beta1=v["beta1"], n_epochs=v["n_epochs"],
            n_epochs_decay=v["n_epochs_decay"], max_steps=v["max_steps"], seed=v["seed"],
            device=v["device"], precision=v["precision"], channels_last=v["channels_last"],
            compile=v["compile"],
            log_every=v["log_every"], sample_every=v["sample_every"],
            checkpoint_every=v["checkpoint_every"], keep_checkpoints=v["keep_checkpoints"],
            save_every_epochs=v["save_every_epochs"], tensorboard=v["tensorboard"],
            report_every=v["report_every"],
        ),
        name=v["name"] or safe_run_name(f"{root.resolve().name}_{family.name}"),
    )
    check_run_name(config.name)
    from img2img import launch

    if v["dry_run"]:
        show.summary(launch.summarize(config, check_data=_check_data))
        return
    def check() -> None:  # options and data, once, before the processes start
        launch.check_config(config, check_data=_check_data)

    run_on_devices(v["devices"], v["device"], check)
    launched = _prepare_process()  # by --devices N, whose check() has checked the data
    with _process_group(), _setup_interruptible():
        run, result = launch.train(config, v["runs_dir"], reporter=_reporter(),
                                   check_data=None if launched else _check_data_once)
    _finished(run, result)


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
        _prepare_process()
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


def _check_data(config, dataset) -> None:
    """The fast part of ``datasets check`` on the split the run reads (``dataset``, as the run
    found it); fails on errors."""
    from img2img.cli import datasets_show
    from img2img.prep.check import check_run_data
    from img2img.prep.parallel import default_workers

    with datasets_show.check_progress(plain=False) as progress:
        report = check_run_data(config, dataset=dataset, workers=default_workers(),
                                progress=progress)
    datasets_show.run_check(report)
    if not report.ok:
        errors = "; ".join(f"{p.path}: {p.message}" if p.path else p.message
                           for p in report.errors[:5])
        raise ValueError(
            f"--data {config.data.root}: training would fail: {errors} (see 'img2img datasets "
            f"check {config.data.root}')"
        )


def _check_data_once(config, dataset) -> None:
    """:func:`_check_data` on rank 0 alone, the other data-parallel processes waiting for its
    verdict (a failed check stops them all; rank 0 reports it)."""
    from img2img.engine import distributed as ddp
    from img2img.engine.device import resolve_device

    world = ddp.world_from_env()
    ddp.init_process_group(world, resolve_device(config.train.device))
    ddp.on_main(lambda: _check_data(config, dataset))


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


def _prepare_process() -> bool:
    """Allocator settings; a process ``--devices N`` started ends with its launcher. Returns
    whether this is such a process."""
    from img2img.cli.memory import tune_allocator
    from img2img.lifeline import follow_launcher

    launched = follow_launcher()
    tune_allocator()
    return launched


def _register_families() -> None:
    for name in list_families():
        family = get_family(name)
        command = family_command(family)
        examples = getattr(sys.modules[family.cli_model_options().__module__], "EXAMPLES", None)
        app.command(name, epilog=examples)(command)


_register_families()
