"""The documentation site builds with ``mkdocs build --strict``, every fence names its language,
every page is in the nav, and every ``--option`` the pages write is one a command takes."""

from __future__ import annotations

import re
import subprocess
import sys

import typer

from tests.docs.fences import DOCS, REPO, fences, load_config, pages

PAGES = pages()

#: options of other programs that the pages mention, by program
FOREIGN_OPTIONS = {
    "torchrun": {"--standalone", "--nproc-per-node", "--nnodes", "--node-rank", "--rdzv-backend",
                 "--rdzv-endpoint", "--rdzv-id"},
    "tensorboard": {"--logdir"},
    "docker": {"--rm", "--gpus"},
    "curl": {"--data-binary"},
    "pip": {"--index-url"},
    "mkdocs": {"--strict"},
    "bench/gpu.py": {"--quick"},
    "bench/run.py": {"--threads", "--cpu-time", "--results"},
    "bench/translate_resize.py": {"--maps"},
    "bench/serve.py": {"--clients", "--requests"},
    "bench/channels_last.py": {"--repeats", "--steps", "--only", "--ngf", "--precision"},
    "datasets/demo_report.py": {"--outputs", "--sheet", "--run", "--started", "--threads"},
}

_OPTION = re.compile(r"(?<![\w/-])--[a-zA-Z][a-zA-Z0-9-]*")


def _all_options() -> set[str]:
    from img2img.cli import app

    found: set[str] = {"--help"}

    def walk(command, ctx) -> None:  # click's Command and Context, as typer bundles them
        for param in command.params:
            found.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None:
                    walk(sub, type(ctx)(sub, parent=ctx, info_name=name))

    root = typer.main.get_command(app)
    walk(root, typer.Context(root, info_name="img2img"))
    return found


def test_site_builds_strict(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "families" / "cut" / "index.html").is_file()


def test_every_page_is_in_the_nav() -> None:
    listed = {p.removeprefix("docs/") for p in PAGES[1:]}
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert on_disk == listed, f"not in the nav: {sorted(on_disk - listed)}; " \
                              f"missing: {sorted(listed - on_disk)}"
    assert load_config()["strict"] is True


def test_every_fence_names_its_language() -> None:
    bare = [f"{f.page}:{f.line}" for page in PAGES for f in fences(page) if not f.language]
    assert not bare, f"fences without a language: {bare}"


def test_every_option_written_is_one_a_command_takes() -> None:
    known = _all_options() | set().union(*FOREIGN_OPTIONS.values())
    unknown = []
    for page in PAGES:
        for number, line in enumerate((REPO / page).read_text().splitlines(), 1):
            unknown += [f"{page}:{number}: {o}" for o in _OPTION.findall(line) if o not in known]
    assert not unknown, "options no command takes:\n" + "\n".join(unknown)


def test_the_option_check_sees_family_options() -> None:
    known = _all_options()
    assert {"--cut-mode", "--lambda-identity", "--label-nc", "--side", "--skip-missing"} <= known
    assert "--no-such-option" not in known


def test_readme_is_a_front_page_whose_links_resolve() -> None:
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 150, "README.md is the front page: reference goes to docs/"
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert links, "README.md links to no documentation page"
    missing = [link for link in links if not link.startswith("http") and
               not (REPO / link).is_file()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
    unlinked = set(PAGES[1:]) - set(links) - {"docs/index.md"}
    assert not unlinked, f"README.md links to no {sorted(unlinked)}"
