"""The documentation's code: its pages in reading order, their fences and their commands.

A page is README.md followed by every page of ``mkdocs.yml``'s nav, in nav order. A fence is a
``` block with a language. A ``bash`` fence holds commands: one a line, ``\\`` continues a line,
``#`` starts a comment (as in a shell).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

#: an environment assignment in front of a command (``IMG2IMG_DATASETS=data img2img ...``)
_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass(frozen=True)
class Fence:
    page: str  # relative to the repository root
    line: int  # 1-based line of the opening ```
    language: str
    text: str


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    text: str  # the command as written, continuations joined, comment removed
    env: dict[str, str]
    argv: list[str]  # the words after the environment assignments

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _nav_pages(nav: list) -> list[str]:
    pages: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            pages += _nav_pages(value)
        elif isinstance(value, str) and not value.startswith(("http://", "https://")):
            pages.append(value)
    return pages


def load_config() -> dict:
    """``mkdocs.yml`` (plain YAML: it uses no tags)."""
    import yaml

    return yaml.safe_load((REPO / "mkdocs.yml").read_text())


def pages() -> list[str]:
    """README.md, then the nav's pages, as paths relative to the repository root."""
    return ["README.md", *(f"docs/{page}" for page in _nav_pages(load_config()["nav"]))]


def fences(page: str) -> list[Fence]:
    """The page's fenced blocks; a fence without a language has language ``""``."""
    found: list[Fence] = []
    opened: tuple[int, str, int] | None = None  # line, language, indent
    body: list[str] = []
    for number, line in enumerate((REPO / page).read_text().splitlines(), 1):
        stripped = line.lstrip()
        if opened is None:
            if stripped.startswith("```"):
                opened = (number, stripped[3:].strip(), len(line) - len(stripped))
                body = []
        elif stripped.startswith("```") and not stripped[3:].strip():
            found.append(Fence(page, opened[0], opened[1], "\n".join(body)))
            opened = None
        else:
            body.append(line[opened[2]:])
    if opened is not None:
        raise AssertionError(f"{page}:{opened[0]}: fence never closed")
    return found


def commands(fence: Fence) -> list[Command]:
    """The commands of a ``bash`` fence."""
    out: list[Command] = []
    pending, start = "", 0
    for offset, line in enumerate(fence.text.splitlines(), 1):
        if not pending:
            start = offset
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        words = shlex.split(pending + line, comments=True)
        pending = ""
        if not words:
            continue
        env: dict[str, str] = {}
        while words and _ASSIGNMENT.match(words[0]):
            key, value = words.pop(0).split("=", 1)
            env[key] = value
        text = " ".join(shlex.quote(w) for w in [*(f"{k}={v}" for k, v in env.items()), *words])
        out.append(Command(fence.page, fence.line + start, text, env, words))
    return out
