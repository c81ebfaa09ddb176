"""``img2img train``'s options are generated from the config fields that declare them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer.main
from rich.text import Text
from typer.testing import CliRunner

from img2img import families
from img2img.cli import app
from img2img.families.pix2pix.config import Pix2PixConfig
from img2img.options import MODEL, option

runner = CliRunner()

#: every option of ``train`` and ``train FAMILY`` as it was when the options were written out
#: by hand (before they were generated): flags, panel, default, help; in help order
EXPECTED = json.loads((Path(__file__).parent / "train_options.json").read_text("utf-8"))


def _options(command) -> list[dict]:
    return [
        {"name": p.name, "flags": [*p.opts, *p.secondary_opts],
         "panel": getattr(p, "rich_help_panel", None),
         "default": None if p.default is None else str(p.default), "flag": p.is_flag,
         "help": p.help}
        for p in command.params if p.name != "help"
    ]


def _commands() -> dict:
    train = typer.main.get_command(app).commands["train"]
    return {"train": train, **{f"train {name}": command
                               for name, command in train.commands.items()}}


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_every_option_keeps_its_flag_panel_default_and_help(command: str) -> None:
    options = _options(_commands()[command])
    by_name = {o["name"]: o for o in options}
    for expected in EXPECTED[command]:
        assert by_name.get(expected["name"]) == expected
    # in the same order within each help panel (options added since may sit anywhere)
    for panel in {o["panel"] for o in EXPECTED[command]}:
        names = [o["name"] for o in options if o["panel"] == panel]
        expected = [o["name"] for o in EXPECTED[command] if o["panel"] == panel]
        assert [n for n in names if n in expected] == expected


@pytest.mark.parametrize("family", ["pix2pix", "pix2pixhd", "cyclegan"])
def test_help_shows_every_flag(family: str) -> None:
    result = runner.invoke(app, ["train", family, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for expected in EXPECTED[f"train {family}"]:
        assert expected["flags"][0] in result.output
    assert Text.from_markup(families.get_family(family).command_help()).plain[:60] in result.output


def test_resume_offers_what_a_resume_may_change() -> None:
    from img2img.launch import RESUME_CHANGEABLE

    options = {o["name"] for o in _options(_commands()["train"])}
    changeable = {name for names in RESUME_CHANGEABLE.values() for name in names}
    assert options == changeable | {"resume", "devices", "dry_run"}


# --- a family is one registration; a new option is one field ----------------------------------
@dataclass(frozen=True)
class ExtraConfig(Pix2PixConfig):
    """pix2pix with one more option."""

    lambda_extra: float = field(default=0.25, metadata=option(
        "--lambda-extra", "Weight of a term only this test family has.", MODEL))


@pytest.fixture
def extra_family():
    family = families.register_family(families.Family(
        name="extra_test", config=ExtraConfig,
        description="img2img.families.pix2pix.description:Pix2PixDescription",
        recipe="img2img.families.pix2pix.training:Pix2PixRecipe",
        summary="pix2pix with an extra option (test)",
    ))
    yield family.name
    if family.name in families.list_families():
        families.unregister_family(family.name)


def test_a_new_field_is_a_new_option_of_its_family(extra_family, gray2color, tmp_path) -> None:
    help_text = runner.invoke(app, ["train", extra_family, "--help"], terminal_width=200)
    assert help_text.exit_code == 0, help_text.output
    assert "--lambda-extra" in help_text.output
    assert "Weight of a term only this test family has." in help_text.output
    assert "[default: 0.25]" in help_text.output
    assert "pix2pix with an extra option (test)" in help_text.output
    assert extra_family in runner.invoke(app, ["train", "--help"], terminal_width=200).output

    result = runner.invoke(app, [
        "train", extra_family, "--data", str(gray2color), "--runs-dir", str(tmp_path),
        "--name", "extra", "--lambda-extra", "0.75", "--netG", "resnet_6blocks", "--ngf", "4",
        "--ndf", "4", "--input-nc", "1", "--load-size", "36", "--crop-size", "32",
        "--batch-size", "2", "--num-workers", "0", "--device", "cpu", "--max-steps", "1",
    ])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "extra" / "config.json").read_text())
    assert config["family"] == extra_family
    assert config["model"]["lambda_extra"] == 0.75 and config["model"]["ngf"] == 4


def test_an_unregistered_family_has_no_command(extra_family) -> None:
    assert runner.invoke(app, ["train", extra_family, "--help"]).exit_code == 0
    assert families.unregister_family(extra_family).config is ExtraConfig
    gone = runner.invoke(app, ["train", extra_family, "--help"])
    assert gone.exit_code == 2 and "No such command" in gone.output
