"""``img2img boundary INPUT [-o OUT]``: instance maps to boundary maps (pix2pixHD's rule)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from img2img.cli.console import console as make_console
from img2img.cli.errors import fail, user_errors

EXAMPLES = """\
[bold]Examples[/]

  img2img boundary gtFine/train/aachen/aachen_000000_000019_gtFine_instanceIds.png

  img2img boundary datasets/cityscapes/train_inst -o datasets/cityscapes/train_boundary

  img2img boundary inst/ -o masks/ --values 0,1 --overwrite
"""


def parse_values(text: str) -> tuple[int, int]:
    """``"0,255"`` -> ``(0, 255)``; anything else fails naming ``--values``."""
    from img2img.boundary import check_values

    parts = text.split(",")
    try:
        return check_values([int(p) for p in parts])
    except ValueError as exc:
        raise ValueError(
            f"--values: {text!r} is not valid; expected BACKGROUND,BOUNDARY, two values "
            "0..255 such as 0,255 or 0,1"
        ) from exc


def boundary(
    inputs: Annotated[Path, typer.Argument(exists=True, help="An instance map, or a folder of them (walked recursively).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output folder (mirrors INPUT), or a .png file when INPUT is one file. Default: beside each input.")] = None,
    values: Annotated[str, typer.Option("--values", help="Pixel values BACKGROUND,BOUNDARY (0,1 for a raw mask).")] = "0,255",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing boundary maps.")] = False,
    threads: Annotated[int, typer.Option("--threads", help="Maps converted at once.")] = 2,
) -> None:
    """Write the boundary map of each instance map: an 8-bit PNG, 255 where a pixel's id differs
    from a 4-neighbour's (both sides marked), 0 elsewhere.

    Ids are compared at full precision (8-bit, 16-bit Cityscapes *_instanceIds.png, 32-bit and
    RGB-coded maps). Outputs are named <stem>_boundary.png; existing ones are kept unless
    --overwrite, and an unreadable map is reported while the others are written.
    """
    from rich.progress import Progress

    from img2img.boundary import plan_boundaries, write_boundaries

    with user_errors():
        pixel_values = parse_values(values)
        if threads < 1:
            raise ValueError(f"--threads: {threads} is not valid; expected a number >= 1")
        jobs = plan_boundaries(inputs, output)
        if not jobs:
            raise fail(f"{inputs}: no instance maps found")
        with Progress(transient=True) as bar:
            task = bar.add_task("boundaries", total=len(jobs))
            summary = write_boundaries(
                jobs, values=pixel_values, overwrite=overwrite, num_threads=threads,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    console = make_console()
    where = output if output is not None else "beside the inputs"
    console.print(
        f"[bold green]{summary.written}[/] written, {summary.kept} kept (exist; --overwrite "
        f"replaces them), [bold red]{len(summary.failed)}[/] failed -> [cyan]{where}[/] "
        f"({summary.seconds:.1f} s)"
    )
    for path, reason in summary.failed:
        console.print(f"  [red]failed[/] {path}: {reason}")
    if summary.failed:
        raise typer.Exit(1)
