"""How the CLI shows results: rich tables and short summaries on the terminal."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def _config_table(config: dict[str, Any]) -> Table:
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("section")
    table.add_column("option")
    table.add_column("value")
    for section in ("model", "data", "train"):
        for key, value in config.get(section, {}).items():
            table.add_row(section, key, json.dumps(value))
    return table


def summary(s) -> None:
    """The resolved configuration and network sizes of ``train --dry-run``."""
    config = s.config.to_dict()
    console.print(f"[bold]{config['family']}[/] run [cyan]{config['name']}[/] (dry run: nothing written)")
    if s.resume_step is not None:
        changed = ", ".join(f"{k}={v}" for k, v in s.changes.items()) or "no changes"
        console.print(f"  would resume from step {s.resume_step} ({changed})")
    console.print(_config_table(config))
    for name, count in s.parameters.items():
        console.print(f"  {name}: {count:,} parameters")
    console.print(f"  dataset: {s.dataset_size} samples, {s.steps_per_epoch} steps per epoch")
    console.print(f"  sample grids from the {s.sample_split!r} split")


def finished(run, result) -> None:
    """Where a finished (or stopped) run left its files."""
    losses = " ".join(f"{k} {v:.3f}" for k, v in result.last_losses.items())
    console.print(
        f"[bold green]done[/]: step {result.step}, epoch {result.epoch}, "
        f"{result.seconds:.0f} s  {losses}"
    )
    console.print(f"  run directory: [cyan]{run.path}[/]")
    console.print(f"  checkpoint:    [cyan]{result.checkpoint}[/]")
    console.print(f"  samples:       [cyan]{run.samples}[/]")
    if result.skipped_files:
        console.print(f"  [yellow]{len(result.skipped_files)} unreadable files skipped[/]:")
        for path in result.skipped_files[:10]:
            console.print(f"    {path}")


def info(details: dict[str, Any]) -> None:
    """``img2img info``: family, architecture, progress and config."""
    for key in ("source", "family", "architecture", "step", "epoch", "format_version"):
        if key in details:
            console.print(f"[bold]{key:>14}[/]: {details[key]}")
    for name, count in details.get("parameters", {}).items():
        console.print(f"[bold]{'params ' + name:>14}[/]: {count:,}")
    checkpoints = details.get("checkpoints", [])
    if checkpoints:
        table = Table(show_header=True, header_style="bold", box=None, title="checkpoints")
        for column in ("file", "step", "epoch"):
            table.add_column(column)
        for c in checkpoints:
            epoch = c.get("error") or ("" if c.get("epoch") is None else str(c["epoch"]))
            table.add_row(c["name"], "" if c.get("step") is None else str(c["step"]), epoch)
        console.print(table)
    console.print(_config_table(details["config"]))


def translated(summary, output) -> None:
    """The end-of-run summary of ``translate``."""
    console.print(
        f"[bold green]{summary.written}[/] written, {summary.skipped} kept (exist; --overwrite "
        f"replaces them), [bold red]{len(summary.failed)}[/] failed -> [cyan]{output}[/] "
        f"({summary.images_per_second:.2f} img/s; test mode: {summary.test_mode})"
    )
    if summary.videos:
        console.print(
            f"{summary.videos} video(s), {summary.frames} frames, written without sound "
            "(OpenCV reads and writes only the picture)"
        )
    for path, reason in summary.failed:
        console.print(f"  [red]failed[/] {path}: {reason}")
