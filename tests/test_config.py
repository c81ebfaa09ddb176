"""Configuration validation and round trips."""

from __future__ import annotations

import json

import pytest

from img2img.config import ConfigError, DataConfig, Pix2PixConfig, RunConfig, TrainConfig


def test_round_trip_through_json():
    config = RunConfig(
        Pix2PixConfig(netG="resnet_9blocks"), DataConfig(root="d"), TrainConfig(seed=3)
    )
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


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
        (lambda: Pix2PixConfig(norm="group"), "expected one of: batch, instance, none"),
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
    with pytest.raises(ConfigError, match="family"):
        RunConfig.from_dict({"family": "stylegan", "data": {"root": "x"}})
