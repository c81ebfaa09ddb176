"""Options declared on config fields: names, negation, parsing, choices, resume, defaults."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from img2img.config import ConfigError, DataConfig, RunConfig, TrainConfig
from img2img.families import load_run_config, run_config
from img2img.families.cyclegan.config import CycleGANConfig
from img2img.families.pix2pix.config import Pix2PixConfig
from img2img.families.pix2pixhd.config import Pix2PixHDConfig
from img2img.nn import registry
from img2img.options import DATA, MODEL, build, option, options_of, resumable


def _by_name(cls) -> dict:
    return {o.name: o for o in options_of(cls)}


def test_option_names_follow_the_flags_and_negated_flags_invert_the_field() -> None:
    pix2pix, hd = _by_name(Pix2PixConfig), _by_name(Pix2PixHDConfig)
    assert pix2pix["n_layers_D"].field == "n_layers_D" and pix2pix["netG"].flag == "--netG"
    assert _by_name(CycleGANConfig)["lambda_A"].flag == "--lambda-A"
    negated = {o.flag: o.field for cls in (Pix2PixConfig, Pix2PixHDConfig, DataConfig)
               for o in options_of(cls) if o.negated}
    assert negated == {"--no-dropout": "dropout", "--no-instance": "instance",
                       "--no-ganfeat-loss": "ganfeat_loss", "--no-vgg-loss": "vgg_loss",
                       "--no-flip": "flip"}
    assert pix2pix["no_dropout"].default is False and pix2pix["no_dropout"].to_field(True) is False
    assert not _by_name(CycleGANConfig)["dropout"].negated  # --dropout turns it on
    assert hd["label_nc"].type is str and hd["vgg_weights"].type == Path | None


def test_fields_without_an_option_are_not_on_the_command_line() -> None:
    fields = {o.field for cls in (DataConfig, TrainConfig, RunConfig) for o in options_of(cls)}
    assert not fields & {"root_given", "beta2", "world_size", "family", "model", "data", "train"}
    assert _by_name(DataConfig)["data"].field == "root"
    assert _by_name(RunConfig)["name"].default is None  # a name made from the dataset's


def test_build_negates_and_parses_the_command_line_values(tmp_path: Path) -> None:
    values = {o.name: o.default for o in options_of(Pix2PixHDConfig)}
    assert build(Pix2PixHDConfig, values) == Pix2PixHDConfig()
    values.update(label_nc="auto", no_instance=True, vgg_weights=tmp_path / "vgg.pth",
                  init_from=tmp_path, netG="local")
    model = build(Pix2PixHDConfig, values)
    assert (model.label_nc, model.instance, model.vgg_weights, model.init_from, model.ngf) == (
        None, False, str(tmp_path / "vgg.pth"), str(tmp_path), 32)
    assert build(Pix2PixHDConfig, {**values, "label_nc": "19"}).label_nc == 19
    with pytest.raises(ConfigError, match="--label-nc: 'many' is not valid; expected a number"):
        build(Pix2PixHDConfig, {**values, "label_nc": "many"})
    with pytest.raises(ConfigError,
                       match="--init-from '.*gone': no such checkpoint, run directory or "):
        build(Pix2PixHDConfig, {**values, "init_from": tmp_path / "gone"})
    data = build(DataConfig, {o.name: o.default for o in options_of(DataConfig)}, root="/d")
    assert data == DataConfig(root="/d")


def test_resume_changeable_is_generated_from_the_declarations() -> None:
    from img2img.launch import RESUME_CHANGEABLE

    assert resumable({"train": TrainConfig, "data": DataConfig}) == RESUME_CHANGEABLE
    # what it was when written out by hand
    assert {k: set(v) for k, v in RESUME_CHANGEABLE.items()} == {
        "train": {"max_steps", "n_epochs", "log_every", "sample_every", "checkpoint_every",
                  "keep_checkpoints", "save_every_epochs", "device", "tensorboard",
                  "report_every", "wandb", "wandb_project", "wandb_entity", "wandb_name",
                  "bucket_mb"},
        "data": {"num_workers", "data"},
    }


def test_declared_choices_are_what_a_config_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="netG: 'toy' is not valid; expected one of: "
                                          "resnet_6blocks, resnet_9blocks, unet_128, unet_256"):
        Pix2PixConfig(netG="toy")
    with pytest.raises(ConfigError, match="gan_mode: 'wgangp' is not valid; expected one of: "
                                          "lsgan, vanilla, hinge"):
        Pix2PixHDConfig(gan_mode="wgangp")
    with pytest.raises(ConfigError, match="precision: 'fp8' is not valid"):
        TrainConfig(precision="fp8")
    with pytest.raises(ConfigError, match="direction: 'up' is not valid"):
        DataConfig(root="d", direction="up")
    # the registry's names are read when used: a generator registered and tagged later is a
    # choice of the family it is tagged with
    entry = registry.NetworkEntry("toy", "generator", "unused:never_built")
    monkeypatch.setitem(registry._REGISTRY["generator"], "toy", entry)
    with pytest.raises(ConfigError, match="netG: 'toy' is not valid"):
        Pix2PixConfig(netG="toy")
    monkeypatch.setitem(registry._FAMILY_TAGS, ("generator", "toy"), {"pix2pix"})
    assert Pix2PixConfig(netG="toy").netG == "toy"
    assert "toy" in _by_name(Pix2PixConfig)["netG"].option.help_text()


def test_choices_fill_the_help_text() -> None:
    opt = option("--mode", "Mode: {choices}.", MODEL, choices=lambda: ["a", "b"])["img2img.option"]
    assert opt.help_text() == "Mode: a, b." and opt.name == "mode"
    data = _by_name(DataConfig)["data"].option
    assert data.panel == DATA and data.help_text(resuming=True).startswith("With --resume")


def test_pix2pixhd_ngf_follows_netG_unless_given() -> None:
    assert Pix2PixHDConfig().ngf == 64 and Pix2PixHDConfig(netG="local").ngf == 32
    assert Pix2PixHDConfig(netG="local", ngf=48).ngf == 48
    assert Pix2PixHDConfig() == Pix2PixHDConfig(ngf=64)
    config = run_config("pix2pixhd", Pix2PixHDConfig(netG="local"), data=DataConfig(root="d"))
    saved = json.loads(json.dumps(config.to_dict()))
    assert saved["model"]["ngf"] == 32  # config.json always holds a number
    assert load_run_config(saved) == config
    older = {**saved, "model": {**saved["model"], "ngf": 24}}  # an older run's config loads
    assert load_run_config(older).model.ngf == 24
    with pytest.raises(ConfigError, match="ngf: 0 is not valid"):
        dataclasses.replace(Pix2PixHDConfig(), ngf=0)


def test_options_import_neither_torch_nor_typer() -> None:
    code = ("import sys, img2img.config, img2img.options; "
            "sys.exit(bool({'torch', 'typer'} & set(sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
