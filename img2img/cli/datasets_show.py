"""How ``img2img datasets`` (and ``train``'s data check) show their results."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from img2img.cli.console import console as make_console
from img2img.cli.progress import StagedUpdate, staged_progress

console = make_console()
_LISTED = 10  # failures and unmatched files listed by prep commands
_WIDE = 170  # terminal columns from which datasets list is a table


def registry(as_json: bool) -> None:
    """``datasets list``: every published dataset and whether it is installed."""
    from img2img.hub.datasets import installed_path, published_datasets, registry_name

    rows = []
    for entry in published_datasets():
        path = installed_path(entry)
        rows.append({
            "name": registry_name(entry),
            "families": list(entry.families),
            "layout": entry.layout,
            "images": entry.images,
            "source": entry.url or entry.homepage,
            "downloadable": entry.downloadable,
            "licence": entry.licence,
            "description": entry.description,
            "installed": None if path is None else str(path),
        })
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if console.is_terminal and console.width >= _WIDE:
        table = Table(header_style="bold", box=None, title="published datasets")
        for column in ("name", "family", "layout", "images", "present"):
            table.add_column(column, no_wrap=True)
        table.add_column("source / licence", overflow="fold", ratio=1)
        for row in rows:
            source = f"{escape(row['source'] or '')}\n[dim]{escape(row['licence'])}[/]"
            table.add_row(row["name"], ", ".join(row["families"]), row["layout"],
                          row["images"] or "?", _present(row), source)
        console.print(table)
    else:  # a block per dataset reads better than a squeezed table
        for row in rows:
            console.print(f"[bold]{row['name']}[/]  {', '.join(row['families'])}; "
                          f"{row['layout']}; images: {row['images'] or '?'}; present: "
                          f"{_present(row)}", highlight=False, soft_wrap=True)
            console.print(f"    {escape(row['source'] or '')}", highlight=False, soft_wrap=True)
            console.print(f"    [dim]{escape(row['licence'])}[/]", highlight=False, soft_wrap=True)
    console.print("download one: img2img datasets download NAME")


def _present(row) -> str:
    return row["installed"] or ("no" if row["downloadable"] else "no (manual download)")


def installed(entry, done) -> None:
    """One line for a dataset put in place by ``datasets download`` or ``train --data``."""
    archive = done.archive
    how = ("reused the archive downloaded before" if archive.reused
           else f"resumed at {archive.resumed_from:,} bytes" if archive.resumed_from
           else "downloaded")
    console.print(
        f"[bold green]{entry.name}[/] installed in [cyan]{done.path}[/]: {done.members} files "
        f"from {archive.size:,} bytes ({how}; sha256 {archive.sha256})", highlight=False, soft_wrap=True,
    )


def prep_report(report, out: Path) -> None:
    """What a preparation command wrote; exits 1 when any file failed."""
    import typer

    written = ", ".join(f"{n} {split}" for split, n in report.written.items() if split)
    console.print(
        f"[bold green]{report.total_written}[/] written"
        + (f" ({written})" if written else "")
        + f", {report.kept} kept (exist; --overwrite replaces them), "
        f"[bold red]{len(report.failed)}[/] failed -> [cyan]{out}[/]", highlight=False, soft_wrap=True,
    )
    for note in report.notes:
        console.print(f"  {note}", highlight=False, markup=False, soft_wrap=True)
    if report.unmatched:
        console.print(f"  [yellow]{len(report.unmatched)} files without a partner[/] (left out):")
        for path in report.unmatched[:_LISTED]:
            console.print(f"    {path}", highlight=False, markup=False, soft_wrap=True)
        if len(report.unmatched) > _LISTED:
            console.print(f"    ... and {len(report.unmatched) - _LISTED} more")
    for path, reason in report.failed[:_LISTED]:
        console.print(f"  [red]failed[/] {escape(f'{path}: {reason}')}", highlight=False, soft_wrap=True)
    if len(report.failed) > _LISTED:
        console.print(f"  ... and {len(report.failed) - _LISTED} more failures")
    if report.failed:
        raise typer.Exit(1)


@contextlib.contextmanager
def check_progress(*, plain: bool = True) -> Iterator[StagedUpdate]:
    """Progress bars for a dataset check (``"train: files"``, ``"train: pixels"``)."""
    with staged_progress(plain=plain) as update:
        yield update


def check_report(report, *, as_json: bool = False, show: int = 50) -> None:
    """``datasets check``: the layout, every split and stream with its counts, the problems by
    file, and a verdict that says what was read and what failed."""
    from img2img.prep.check import value_ranges

    if as_json:
        console.print_json(json.dumps(report.to_dict()))
        return
    title = f"{report.root}: {report.family or 'no'} layout"
    if report.also_readable_by:
        title += f" (also readable as {', '.join(report.also_readable_by)} data)"
    console.print(f"[bold]{title}[/]", highlight=False, soft_wrap=True)
    if report.splits:
        table = Table(header_style="bold", box=None)
        for column in ("split", "layout", "examples", "stream", "files", "format",
                       "size (WxH)", "values"):
            table.add_column(column, overflow="fold")
        for s in report.splits:
            for i, st in enumerate(s.streams):
                head = (_split_name(s), s.layout, str(s.examples)) if i == 0 else ("", "", "")
                values = value_ranges(st.label_values) if st.kind == "label" else ""
                table.add_row(*head, f"{st.name} ({st.kind})", str(st.files),
                              _most_common(st.formats), _sizes(st.sizes), values)
        console.print(table)
    has_labels = any(st.kind == "label" for s in report.splits for st in s.streams)
    if report.label_nc and report.splits and not has_labels:
        console.print(f"  --label-nc {report.label_nc}: {report.family} data has no label maps; "
                      "not used", highlight=False)
    _problems(report.problems, show)
    _verdict(report)


def _split_name(summary) -> str:
    name = "(no split folders)" if summary.flat else summary.split
    return name if summary.checked else f"{name} (not checked)"


def _verdict(report) -> None:
    """The last line of ``datasets check``: what was read, what failed, what it means."""
    counts = (f"{report.file_counts()}; {len(report.errors)} errors, "
              f"{len(report.warnings)} warnings")
    if not report.ok:
        console.print(f"[bold red]FAIL[/]: training would fail on this data ({counts})",
                      highlight=False, soft_wrap=True)
    elif report.failed:
        names = ", ".join(str(p) for p in report.failed[:_LISTED])
        more = f" and {len(report.failed) - _LISTED} more" if len(report.failed) > _LISTED else ""
        console.print(f"[bold red]FAIL[/]: {len(report.failed)} file(s) cannot be "
                      f"{'decoded' if report.thorough else 'read'}: {escape(names)}{more}; "
                      f"training would skip their examples ({counts})",
                      highlight=False, soft_wrap=True)
    else:
        depth = "decoded" if report.thorough else "read (headers only, --fast)"
        console.print(f"[bold green]OK[/]: all {report.files} files {depth}; training would not "
                      f"fail on this data ({len(report.errors)} errors, "
                      f"{len(report.warnings)} warnings)", highlight=False, soft_wrap=True)


def run_check(report) -> None:
    """The line ``train`` prints after checking its data, and up to 5 warnings."""
    examples = sum(s.examples for s in report.splits)
    layouts = ", ".join(s.layout for s in report.splits)
    warnings, errors = report.warnings, report.errors
    splits = [s.split for s in report.splits if not s.flat]
    where = escape(f"{report.root}" + (f" [{', '.join(splits)}]" if splits else ""))
    found = [f"[red]{len(errors)} errors[/]"] if errors else []
    found += [f"[yellow]{len(warnings)} warnings[/]"] if warnings else []
    console.print(
        f"data: {where}: {examples} examples ({escape(layouts)}); "
        + (", ".join(found) or "no problems found"),
        highlight=False, soft_wrap=True,
    )
    if warnings:
        _problems(warnings, 5, hint=f"img2img datasets check {report.root}")


def _problems(problems, show: int, hint: str | None = None) -> None:
    for p in problems[:show]:
        colour = "red" if p.severity == "error" else "yellow"
        where = f"{p.path}: " if p.path is not None else ""
        split = f"[{p.split}] " if p.split else ""
        console.print(f"  [{colour}]{p.severity}[/] {escape(split + where + p.message)}",
                      highlight=False, soft_wrap=True)
    if len(problems) > show:
        more = hint or "--show N, or --json for all"
        console.print(f"  ... and {len(problems) - show} more ({more})", highlight=False, soft_wrap=True)


def _most_common(counts) -> str:
    if not counts:
        return "-"
    (value, n), *others = counts.most_common()
    return value if not others else f"{value} ({n}) + {len(others)} other"


def _sizes(sizes) -> str:
    if not sizes:
        return "-"
    ordered = sorted(sizes, key=lambda hw: hw[0] * hw[1])
    low, high = ordered[0], ordered[-1]
    text = f"{low[1]}x{low[0]}"
    return text if low == high else f"{text} .. {high[1]}x{high[0]}"
