"""Configuration validation and round trips."""

from __future__ import annotations

import dataclasses
import json

import pytest

from img2img.config import ConfigError, DataConfig, RunConfig, TrainConfig
from img2img.families import load_run_config, run_config
from img2img.families.pix2pix.config import Pix2PixConfig


def test_round_trip_through_json():
    config = run_config(
        "pix2pix", Pix2PixConfig(netG="resnet_9blocks"), data=DataConfig(root="d"),
        train=TrainConfig(seed=3),
    )
    assert load_run_config(json.loads(json.dumps(config.to_dict()))) == config


def test_paper_defaults():
    m, t, d = Pix2PixConfig(), TrainConfig(), DataConfig(root="x")
    assert (m.netG, m.netD, m.norm, m.dropout, m.gan_mode, m.lambda_l1) == (
        "unet_256",
        "basic",
        "batch",
        True,
        "vanilla",
        100.0,
    )
    assert (t.lr, t.beta1, t.beta2, t.batch_size, t.n_epochs, t.n_epochs_decay) == (
        2e-4,
        0.5,
        0.999,
        1,
        100,
        100,
    )
    assert (d.load_size, d.crop_size, d.preprocess, d.flip) == (286, 256, "resize_and_crop", True)


@pytest.mark.parametrize(
    "make,message",
    [
        (
            lambda: Pix2PixConfig(netG="unet_512"),
            "netG: 'unet_512' is not valid; expected one of: resnet_6blocks",
        ),
        (lambda: Pix2PixConfig(netD="huge"), "expected one of: basic, n_layers, pixel"),
        (lambda: Pix2PixConfig(norm="group"), "expected one of: batch, syncbatch, instance, none"),
        (lambda: Pix2PixConfig(gan_mode="x"), "expected one of: vanilla, lsgan, hinge, wgangp"),
        (lambda: TrainConfig(device="gpu"), "device: 'gpu'"),
        (lambda: TrainConfig(precision="fp8"), "expected one of: fp32, bf16, fp16"),
        (lambda: DataConfig(root="x", load_size=100, crop_size=256), "crop_size: 256 is larger"),
        (lambda: DataConfig(root="x", direction="up"), "expected one of: AtoB, BtoA"),
    ],
)
def test_bad_values_name_the_field(make, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        make()


def test_unknown_family():
    message = "family: 'stylegan' is not known; expected one of: pix2pix"
    with pytest.raises(ConfigError, match=message):
        load_run_config({"family": "stylegan", "data": {"root": "x"}})


def test_model_config_must_match_the_family():
    with pytest.raises(ConfigError, match="a pix2pix run needs a Pix2PixConfig; got DataConfig"):
        run_config("pix2pix", DataConfig(root="x"), data=DataConfig(root="x"))


@pytest.mark.parametrize("make, message", [
    (lambda: TrainConfig(lr=float("inf")), "lr: inf is not valid; expected a finite number > 0"),
    (lambda: TrainConfig(lr=float("nan")), "lr: nan is not valid"),
    (lambda: TrainConfig(beta1=1.0), "beta1: 1.0 is not valid; expected 0 <= beta1 < 1"),
    (lambda: Pix2PixConfig(lambda_l1=float("nan")), "lambda_l1: nan is not valid"),
    (lambda: Pix2PixConfig(init_gain=-1.0), "init_gain: -1.0 is not valid; expected a finite"),
    (lambda: DataConfig(root="x", max_dataset_size=0), "max_dataset_size: 0 is not valid"),
])
def test_non_finite_and_out_of_range_numbers_are_refused(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_every_family_config_gets_the_finite_check():
    @dataclasses.dataclass(frozen=True)
    class NewFamilyConfig:  # a family added later, with no checks of its own
        lambda_cycle: float = 10.0

    RunConfig(family="new", model=NewFamilyConfig(), data=DataConfig(root="x"))
    with pytest.raises(ConfigError, match="model.lambda_cycle: inf is not valid"):
        RunConfig(family="new", model=NewFamilyConfig(float("inf")), data=DataConfig(root="x"))


@pytest.mark.parametrize("section, values, message", [
    ("model", {"ngf": "64"}, "model.ngf: '64' is not valid; expected an integer"),
    ("model", {"dropout": 1}, "model.dropout: 1 is not valid; expected true or false"),
    ("train", {"max_steps": 1.5}, "train.max_steps: 1.5 is not valid; expected an integer or null"),
    ("data", {"root": 3}, "data.root: 3 is not valid; expected a string"),
])
def test_saved_configs_with_wrong_types_name_the_field(section, values, message):
    d = {"family": "pix2pix", "model": {}, "data": {"root": "d"}, "train": {}}
    d[section] = {**d[section], **values}
    with pytest.raises(ConfigError, match=message):
        load_run_config(d)


def test_whole_numbers_are_accepted_for_float_fields():
    d = {"family": "pix2pix", "model": {"lambda_l1": 10}, "data": {"root": "d"}}
    assert load_run_config(d).model.lambda_l1 == 10
