"""Command help: docstrings reflowed so that rich wraps them to the terminal's width."""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from img2img.cli import app
from img2img.cli.group import reflow

runner = CliRunner()


def test_reflow_joins_the_lines_of_each_paragraph():
    doc = """First line of a summary
    that goes on.

    A paragraph with [bold]markup[/] over
    two lines:
    - an item
      indented continuation
    * another item
    and a last line.
    """
    assert reflow(doc) == (
        "First line of a summary that goes on.\n\n"
        "A paragraph with [bold]markup[/] over two lines:\n"
        "- an item\n"
        "  indented continuation\n"
        "* another item and a last line."
    )


def _leaf_commands(command, path=()):
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from _leaf_commands(sub, (*path, name))


LEAVES = dict(_leaf_commands(typer.main.get_command(app)))


def test_every_command_has_one_line_per_paragraph():
    assert len(LEAVES) >= 19
    for path, command in LEAVES.items():
        assert command.help, path
        for paragraph in command.help.split("\n\n"):
            assert "\n" not in paragraph, (path, paragraph)


@pytest.mark.parametrize("path", sorted(LEAVES), ids=" ".join)
def test_help_text_fills_an_80_column_terminal(path):
    """Rich wraps the description itself: only a paragraph's last line is short."""
    output = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}).output
    lines = output.split("╭")[0].splitlines()  # the description, above the first panel
    description = lines[next(i for i, line in enumerate(lines) if "Usage" in line) + 1:]
    for line, following in zip(description, description[1:], strict=False):
        if line.strip() and following.strip():
            assert len(line.rstrip()) >= 60, (path, line)
