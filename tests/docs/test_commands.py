"""Every command and Python example of README.md and docs/ runs, page by page, in reading order.

The pages share one sandbox folder (``tests/docs/sandbox.py``): a page may use what an earlier
page's commands wrote (the quick start's run, a downloaded dataset), so a page selected on its
own (``-k quickstart``) first runs the pages before it. How commands are run, which
are not and why, and how training is shrunk: ``tests/docs/run.py``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.docs.fences import commands, fences, pages
from tests.docs.run import NOT_RUN, invocation
from tests.docs.sandbox import make_sandbox

PAGES = pages()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory):
    box = make_sandbox(tmp_path_factory.mktemp("docs") / "sandbox")
    box.pages_run = set()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in box.env.items():
            patch.setenv(key, value)
        patch.chdir(box.root)
        yield box
    box.close()


def _run_bash(fence, root: Path) -> None:
    from img2img.cli import app

    runner = CliRunner()
    for command in commands(fence):
        call = invocation(command, root)
        if call is None:
            continue
        started = time.perf_counter()
        result = runner.invoke(app, call.argv, env=call.env)
        if os.environ.get("DOCS_TIMES"):
            print(f"{time.perf_counter() - started:6.2f} s  {command.where}  {call}")
        if result.exit_code != 0:
            trace = "".join(traceback.format_exception(*result.exc_info)) if (
                result.exc_info and not isinstance(result.exception, SystemExit)) else ""
            pytest.fail(f"{command.where}: `{command.text}` (run as `{call}`) exited "
                        f"{result.exit_code}:\n{result.output}{trace}")
        if call.grep is not None and not any(call.grep in line
                                             for line in result.output.splitlines()):
            pytest.fail(f"{command.where}: `{command.text}`: no line holds {call.grep!r}:\n"
                        f"{result.output}")


def _run_python(fence, module: types.ModuleType) -> None:
    code = compile(fence.text, f"{fence.page}:{fence.line}", "exec")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            exec(code, module.__dict__)
    finally:
        del sys.modules[module.__name__]


def _run_page(page: str, root: Path) -> None:
    module = types.ModuleType("docs_example")  # a page's Python examples continue one another
    for fence in fences(page):
        if fence.language == "bash":
            _run_bash(fence, root)
        elif fence.language == "python":
            _run_python(fence, module)


@pytest.mark.parametrize("page", PAGES)
def test_page_runs(page: str, sandbox) -> None:
    for earlier in PAGES[: PAGES.index(page)]:  # what the page may use, when run on its own
        if earlier not in sandbox.pages_run:
            sandbox.pages_run.add(earlier)
            _run_page(earlier, sandbox.root)
    sandbox.pages_run.add(page)
    _run_page(page, sandbox.root)


def test_not_run_entries_are_on_a_page() -> None:
    written = {c.text for page in PAGES for f in fences(page) if f.language == "bash"
               for c in commands(f)}
    stale = sorted(set(NOT_RUN) - written)
    assert not stale, f"NOT_RUN lists commands no page holds any more: {stale}"
