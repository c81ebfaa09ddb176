"""``img2img weights list|download|info``: the published models img2img knows by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from img2img import completion
from img2img.cli.errors import user_errors
from img2img.cli.group import CommandGroup

app = CommandGroup(
    help="Published models (horse2zebra, edges2shoes ...): list, download and describe them.",
    no_args_is_help=True,
)

EXAMPLES = """\
[bold]Examples[/]

  img2img weights list

  img2img weights download horse2zebra pix2pix/facades_label2photo

  img2img weights info horse2zebra

  img2img weights info weights/cyclegan/horse2zebra.pth

  IMG2IMG_MIRROR=http://mirror.example.org/efros img2img weights download style_monet
"""

WeightsDir = Annotated[Path | None, typer.Option("--weights-dir", help="Weights folder (default: $IMG2IMG_WEIGHTS, else ./weights).")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class DownloadBar:
    """A progress bar in bytes that appears on the first update, so nothing shows without a
    download; the update that starts it prints ``DESCRIPTION: SIZE`` on stderr first (unless
    the caller announced the download itself)."""

    def __init__(self, description: str, *, announce: bool = True) -> None:
        self.description = description
        self.announce = announce
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        if self._progress is None:
            from img2img.cli.console import console
            from img2img.cli.downloads import size_text

            if self.announce:
                console(stderr=True).print(f"{self.description}: {size_text(total)}",
                                           highlight=False, markup=False)
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                TransferSpeedColumn(), TimeRemainingColumn(), transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=total)
        self._progress.update(self._task, completed=done, total=total)

    def __enter__(self) -> DownloadBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _size(details: dict[str, Any]) -> str:
    size = details["size"] or details["file_size"]
    return "?" if size is None else f"{size / 1e6:.1f} MB"


def _state(details: dict[str, Any]) -> str:
    if details["path"] is not None:
        return details["path"]
    return "manual download" if details["manual"] else "no"


@app.command("list", epilog=EXAMPLES)
def list_weights(weights_dir: WeightsDir = None, as_json: Json = False) -> None:
    """List the published models: name, family, generator, size and whether downloaded."""
    from img2img.hub.weights import describe_published, load_registry

    with user_errors():
        rows = [describe_published(entry, weights_dir) for entry in load_registry()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    from img2img.cli.show import console

    table = Table(show_header=True, header_style="bold", box=None)
    for column in ("name", "family", "size", "downloaded"):
        table.add_column(column, no_wrap=True)
    table.add_column("translates")
    for r in rows:
        table.add_row(r["name"], r["family"], _size(r), _state(r), r["description"])
    console.print(table)
    console.print("sizes marked ? are not published and are known once downloaded")


@app.command("download", epilog=EXAMPLES)
def download_weights(
    names: Annotated[list[str], typer.Argument(help="Published model names (see 'img2img weights list').", autocompletion=completion.published_models)],
    weights_dir: WeightsDir = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even if the file is there.")] = False,
) -> None:
    """Download published models into the weights folder (resuming interrupted downloads)."""
    from img2img.cli.show import console
    from img2img.hub.download import DownloadError
    from img2img.hub.weights import describe_published, fetch, get_published

    failed = 0
    for name in names:
        try:
            entry = get_published(name)
            with DownloadBar(f"downloading {entry.qualified_name}") as bar:
                path = fetch(entry, weights_dir, progress=bar, force=force)
            details = describe_published(entry, weights_dir)
        except (ValueError, OSError, DownloadError) as exc:  # one failure never stops the rest
            console.print(f"[bold red]failed[/] {name}: {exc}", highlight=False)
            failed += 1
            continue
        console.print(
            f"[bold green]{details['name']}[/]: {path} ({_size(details)}, sha256 "
            f"{details['recorded_sha256']})", highlight=False,
        )
    if failed:
        raise typer.Exit(1)


@app.command("info", epilog=EXAMPLES)
def info_weights(
    model: Annotated[str, typer.Argument(help="A published model name, or a weights file / checkpoint.", autocompletion=completion.models)],
    weights_dir: WeightsDir = None,
    as_json: Json = False,
) -> None:
    """Describe a published model, or the generator a weights file holds (found from its layout)."""
    with user_errors():
        details = _describe(model, weights_dir)
    if as_json:
        typer.echo(json.dumps(details, indent=2))
        return
    from img2img.cli.show import console

    for key, value in details.items():
        if key == "path" and value is None:
            value = "not downloaded"
        if value not in (None, "", {}, False):
            shown = json.dumps(value) if isinstance(value, dict) else value
            console.print(f"[bold]{key:>16}[/]: {shown}", highlight=False)


def _describe(model: str, weights_dir: Path | None) -> dict[str, Any]:
    """A published model's registry entry, or what a file holds (see :mod:`img2img.model_info`)."""
    from img2img.hub.weights import describe_published, get_published, is_published_name
    from img2img.model_info import describe_model

    if not Path(model).expanduser().exists() and is_published_name(model):
        return describe_published(get_published(model), weights_dir)
    details = describe_model(model)  # a path; neither a path nor a name fails, saying why
    if "layout" in details:  # bare generator weights: everything their layout tells
        source = Path(details["source"])
        return {"source": str(source), **details["layout"], "file_size": source.stat().st_size}
    return {k: details[k] for k in ("source", "kind", "family", "architecture", "step",
                                    "parameters") if details.get(k) is not None}
