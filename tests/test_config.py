"""Configuration validation and round trips."""

from __future__ import annotations

import json

import pytest

from img2img.config import ConfigError, DataConfig, Pix2PixConfig, TrainConfig
from img2img.families import load_run_config, run_config


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
