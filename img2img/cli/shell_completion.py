"""``img2img completion SHELL``: the tab-completion script for the shell named on the line.

``--show-completion`` (typer's) prints the script of the shell it detects among the parent
processes, and fails where it finds none (a container's entry point, a CI job, a pipe from
another program); this command needs no detection.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

EXAMPLES = """\
[bold]Examples[/]

  img2img completion bash > ~/.local/share/bash-completion/completions/img2img

  img2img completion zsh > ~/.zfunc/_img2img

  img2img completion fish > ~/.config/fish/completions/img2img.fish
"""


class Shell(StrEnum):
    """The shells completion scripts exist for."""

    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"
    pwsh = "pwsh"


def completion(
    ctx: typer.Context,
    shell: Annotated[Shell, typer.Argument(help="The shell the script is for.",
                                           case_sensitive=False)],
) -> None:
    """Print img2img's tab-completion script for SHELL (to source, or to save where the shell
    reads completions); it completes commands, flags and option values."""
    from typer.completion import get_completion_script

    program = ctx.find_root().info_name or "img2img"
    variable = "_{}_COMPLETE".format(program.replace("-", "_").upper())
    typer.echo(get_completion_script(prog_name=program, complete_var=variable,
                                     shell=shell.value))
