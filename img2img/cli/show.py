"""How the CLI shows results: rich tables and short summaries on the terminal."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from rich.markup import escape
from rich.table import Table

from img2img.cli.console import console as make_console

console = make_console()


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
    for note in s.notes:
        console.print(f"  {note}")
    for name, count in s.parameters.items():
        console.print(f"  {name}: {count:,} parameters")
    if s.memory is not None:
        console.print(f"  memory: {s.memory.describe()}")
    console.print(f"  dataset: {s.dataset_size} samples, {s.steps_per_epoch} steps per epoch")
    every = f"every {s.config.train.sample_every} steps and at the last one"
    if s.sample_split == s.config.data.phase:
        console.print(f"  sample grids {every}, from the training images (no other split to "
                      "show)")
    else:
        console.print(f"  sample grids {every}, from the {s.sample_split!r} split")


def full_epochs(epochs: int) -> str:
    """``"10 full epochs"``: how many epochs a run has finished."""
    return f"{epochs} full epoch{'' if epochs == 1 else 's'}"


def finished(run, result) -> None:
    """Where a finished (or stopped) run left its files."""
    from img2img.report import REPORT_FILE

    losses = " ".join(f"{k} {v:.3f}" for k, v in result.last_losses.items())
    if result.stopped_by is not None:
        console.print(
            f"[bold yellow]stopped by {result.stopped_by}[/] after step {result.step} "
            f"({full_epochs(result.epoch)}), checkpoint written; continue with: "
            f"img2img train --resume {escape(str(run.path))}", highlight=False
        )
    else:
        console.print(
            f"[bold green]done[/]: step {result.step}, {full_epochs(result.epoch)}, "
            f"{result.seconds:.0f} s  {losses}"
        )
    console.print(f"  run directory: [cyan]{escape(str(run.path))}[/]")
    console.print(f"  checkpoint:    [cyan]{escape(str(result.checkpoint))}[/]")
    grids = sum(1 for _ in run.samples.glob("*.png")) if run.samples.is_dir() else 0
    if grids:
        plural = "" if grids == 1 else "s"
        console.print(f"  samples:       [cyan]{escape(str(run.samples))}[/] ({grids} grid{plural})")
    else:
        console.print("  samples:       none yet (a grid every --sample-every steps)")
    report = run.path / REPORT_FILE
    if report.is_file():
        console.print(f"  report:        [cyan]{escape(str(report))}[/]")
    if result.skipped_files:
        console.print(f"  [yellow]{len(result.skipped_files)} unreadable files skipped[/]:")
        for path in result.skipped_files[:10]:
            console.print(f"    {escape(path)}", highlight=False)


#: ``info``'s words for a field, where its key would mislead (a checkpoint's ``epoch`` counts
#: the epochs it has finished)
INFO_LABELS = {"epoch": "full epochs"}


def info(details: dict[str, Any]) -> None:
    """``img2img info``: family, architecture, progress and config."""
    for key in ("source", "kind", "family", "architecture", "downloaded", "step", "epoch",
                "format_version", "test_mode", "input", "output", "height_width"):
        if details.get(key) is not None:
            label = INFO_LABELS.get(key, key.replace("_", " "))
            console.print(f"[bold]{label:>14}[/]: {escape(str(details[key]))}",
                          highlight=False)
    for name, count in details.get("parameters", {}).items():
        console.print(f"[bold]{'params ' + name:>14}[/]: {count:,}")
    checkpoints = details.get("checkpoints", [])
    if checkpoints:
        table = Table(show_header=True, header_style="bold", box=None, title="checkpoints")
        for column in ("file", "step", INFO_LABELS["epoch"]):
            table.add_column(column)
        for c in checkpoints:
            epoch = c.get("error") or ("" if c.get("epoch") is None else str(c["epoch"]))
            table.add_row(c["name"], "" if c.get("step") is None else str(c["step"]), epoch)
        console.print(table)
    if details.get("config"):
        console.print(_config_table(details["config"]))


def note(message: str) -> None:
    """One line telling what the command chose for the user (never read as markup)."""
    console.print(f"[yellow]note:[/] {escape(message)}", highlight=False)


def translated(summary, output) -> None:
    """The end-of-run summary of ``translate`` (paths and reasons are shown as they are,
    never read as markup)."""
    console.print(
        f"[bold green]{summary.written}[/] written, {summary.skipped} kept (exist; --overwrite "
        f"replaces them), [bold red]{len(summary.failed)}[/] failed -> [cyan]{escape(str(output))}[/] "
        f"({summary.images_per_second:.2f} img/s; test mode: {summary.test_mode})"
    )
    if summary.tiled:
        console.print(f"  {len(summary.tiled)} large images were translated in tiles "
                      "(over --max-pixels, or out of memory whole)")
    if summary.videos:
        console.print(
            f"{summary.videos} video(s), {summary.frames} frames, written without sound "
            "(OpenCV reads and writes only the picture)"
        )
    for path, reason in summary.failed:
        console.print(f"  [red]failed[/] {escape(str(path))}: {escape(reason)}", highlight=False)


@contextlib.contextmanager
def stderr_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A ``progress(what, done, total)`` callback drawing transient bars on stderr."""
    from rich.progress import Progress

    with Progress(console=make_console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done, total=total)

        yield update


def _number(name: str, value: Any) -> str:
    if not isinstance(value, float):
        return str(value)
    if name in ("PSNR", "FID"):
        return f"{value:.2f}"
    return f"{value:.4f}"


def evaluation(record: dict[str, Any], written) -> None:
    """``img2img evaluate``: the scores, what they were computed on, where they are."""
    from img2img.evaluation.score import HIGHER_IS_BETTER

    table = Table(show_header=True, header_style="bold", box=None, title="evaluation")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("")
    metrics = record["metrics"]
    for name, value in metrics.items():
        if name == "KID_std":
            continue
        shown = _number(name, value)
        if name == "KID" and "KID_std" in metrics:
            shown += f" ± {metrics['KID_std']:.4f}"
        better = HIGHER_IS_BETTER.get(name)
        table.add_row(name, shown, "" if better is None else ("higher is better" if better
                                                              else "lower is better"))
    console.print(table)
    counts = record["counts"]
    distribution = record["protocol"].get("distribution")
    scored = [f"{counts['pairs']} pairs scored"] if counts["pairs"] else []
    if distribution:
        scored.append(f"sets: {counts['real']} real, {counts['generated']} generated")
    console.print(f"  {'; '.join(scored) or 'nothing scored'}")
    if distribution:
        console.print(f"  FID/KID: {distribution['library']}, resize {distribution['resize']}, "
                      f"KID subsets of {distribution['kid_subset_size']}")
        if "note" in distribution:
            console.print(f"  [yellow]note[/]: {distribution['note']}")
    from img2img.evaluation.score import skipped_by_reason

    for reason, names in skipped_by_reason(record["skipped"]).items():
        console.print(f"  [yellow]{', '.join(names)} left out[/]: {escape(reason)}")
    for failure in record["failures"]:
        console.print(f"  [red]failed[/] {failure['image']}: {failure['reason']}")
    if "outputs" in record:
        console.print(f"  outputs: [cyan]{record['outputs']}[/]")
    if written is not None:
        console.print(f"  results: [cyan]{written}[/]")


def exported(result) -> None:
    """``img2img export``: the file, its checks and what differs from the model."""
    console.print(f"[bold green]exported[/] {result.format}: [cyan]{result.path}[/]")
    if result.metadata.get("opset"):
        console.print(f"  ONNX opset {result.metadata['opset']}; dynamic batch, height and width "
                      f"({result.metadata['height_width']})")
    for note in result.notes:
        console.print(f"  [yellow]note[/]: {note}")
    for shape, difference in result.checks:
        if shape:
            console.print(f"  checked on {tuple(shape)}: max |exported - PyTorch| = "
                          f"{difference:.2e}")
        else:
            console.print("  checked: the weights read back are equal")
