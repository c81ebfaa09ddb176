"""``img2img report RUN``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from img2img import completion
from img2img.cli.errors import user_errors

EXAMPLES = """\
[bold]Examples[/]

  img2img report runs/facades_pix2pix

  img2img evaluate --model runs/facades_pix2pix && img2img report runs/facades_pix2pix --gallery 100
"""


def report(
    run: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A run directory.", autocompletion=completion.run_folders)],
    gallery: Annotated[int, typer.Option("--gallery", help="At most this many evaluated images per split in the gallery.")] = 24,
) -> None:
    """Write the run's report.html: configuration, loss curves, sample grids, evaluation.

    One page that opens in any browser without a network: curves are inline SVG, images are
    the run's own files (the gallery's strips go to report_files/). 'train' writes it at the
    end of every run (and every --report-every steps).
    """
    from img2img.cli import show

    with user_errors():
        if gallery < 0:
            raise ValueError(f"--gallery: {gallery} is not valid; expected a number >= 0")
        from img2img.report import write_report

        path = write_report(run, gallery=gallery)
    show.console.print(f"[bold green]report[/]: [cyan]{path}[/]")
