"""The ``img2img`` command. Each command group lives in its own module and registers here.

Only typer and rich are imported at start-up; torch is imported by a command when it runs.
"""

from img2img.cli.app import app, main

__all__ = ["app", "main"]
