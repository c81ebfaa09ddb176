"""The Typer application and the options shared by every command."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from img2img import __version__
from img2img.cli.group import CommandGroup

app = CommandGroup(
    name="img2img",
    help="Image-to-image translation with GANs: pix2pix, CycleGAN, CUT/FastCUT and pix2pixHD.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"img2img {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress details (INFO level).")
    ] = False,
) -> None:
    """Image-to-image translation with GANs: pix2pix, CycleGAN, CUT/FastCUT and pix2pixHD."""
    _setup_logging(logging.INFO if verbose else logging.WARNING)


def _setup_logging(level: int) -> None:
    """Log records on stderr: rich on a terminal, one plain line each off one (logs, pipes)."""
    import sys

    if sys.stderr.isatty():
        from rich.logging import RichHandler

        from img2img.cli.console import console as make_console

        handler: logging.Handler = RichHandler(console=make_console(stderr=True),
                                               show_path=False, show_time=False)
        form = "%(message)s"
    else:
        handler, form = _StderrHandler(), "%(levelname)-8s %(message)s"
    logging.basicConfig(level=level, format=form, handlers=[handler], force=True)


class _StderrHandler(logging.StreamHandler):
    """Plain lines on whatever ``sys.stderr`` is when a record comes (never cut or wrapped)."""

    @property
    def stream(self):  # type: ignore[override]
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # the stream is always the current sys.stderr
        pass


def _register_commands() -> None:
    from img2img.cli import (
        boundary,
        datasets,
        evaluate,
        export,
        features,
        info,
        report,
        serve,
        shell_completion,
        train,
        translate,
        weights,
    )

    app.add_typer(train.app, name="train")
    app.add_typer(datasets.app, name="datasets")
    app.command("translate", epilog=translate.EXAMPLES)(translate.command())
    app.command("info", epilog=info.EXAMPLES)(info.info)
    app.command("evaluate", epilog=evaluate.EXAMPLES)(evaluate.evaluate)
    app.command("report", epilog=report.EXAMPLES)(report.report)
    app.command("export", epilog=export.EXAMPLES)(export.export)
    app.command("boundary", epilog=boundary.EXAMPLES)(boundary.boundary)
    app.command("features", epilog=features.EXAMPLES)(features.features)
    app.command("serve", epilog=serve.EXAMPLES)(serve.serve)
    app.add_typer(weights.app, name="weights")
    app.command("completion", epilog=shell_completion.EXAMPLES)(shell_completion.completion)


_register_commands()


def main() -> None:
    """Console-script entry point: runs the command, then ends the process at once."""
    from img2img.cli.exit import exit_process, exit_status

    try:
        app(prog_name="img2img")  # also under "python -m img2img": completion is for img2img
    except SystemExit as stop:
        exit_process(exit_status(stop.code))
    exit_process(0)
