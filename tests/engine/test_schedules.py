"""Learning-rate policies: each curve against its formula, through the trainer, exact resume."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from img2img.checkpoints import load_checkpoint
from img2img.config import ConfigError, TrainConfig
from img2img.engine.schedules import build_scheduler, step_scheduler
from img2img.launch import resume, train
from tests.engine.test_trainer import _mini

LR = 2e-4


def _curve(policy: str, epochs: int, losses=None, **sizes) -> list[float]:
    """The rate each epoch runs at under ``policy`` (stepped at every epoch's end)."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR)
    scheduler = build_scheduler(optimizer, policy, **{
        "n_epochs": 3, "n_epochs_decay": 5, "lr_decay_iters": 3, **sizes})
    rates = []
    for epoch in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        step_scheduler(scheduler, None if losses is None else losses[epoch])
    return rates


def test_linear_is_constant_then_decays_and_never_reaches_zero():
    expected = [LR * (1 - max(0, e + 1 - 3) / 6) for e in range(8)]
    assert _curve("linear", 8) == pytest.approx(expected)
    assert expected[-1] == pytest.approx(LR / 6)


def test_step_multiplies_by_a_tenth_every_lr_decay_iters_epochs():
    assert _curve("step", 8) == pytest.approx([LR * 0.1 ** (e // 3) for e in range(8)])


def test_cosine_anneals_over_all_epochs_towards_zero():
    expected = [LR * (1 + math.cos(math.pi * e / 8)) / 2 for e in range(8)]
    rates = _curve("cosine", 8)
    assert rates == pytest.approx(expected)
    assert rates[-1] > 0


def test_plateau_lowers_by_a_fifth_after_five_epochs_without_a_one_percent_gain():
    # moves by less than the 1 % that counts: the 7th epoch's end lowers it, then the 13th's
    stalled = [1.0 - 0.009 * (e % 2) for e in range(14)]
    assert _curve("plateau", 14, stalled) == pytest.approx([LR] * 7 + [LR * 0.2] * 6 + [LR * 0.04])
    improving = [1.0 * 0.98 ** e for e in range(14)]
    assert _curve("plateau", 14, improving) == pytest.approx([LR] * 14)
    with pytest.raises(ValueError, match="plateau: the epoch's generator loss is missing"):
        _curve("plateau", 1)


def test_a_policy_is_checked_and_recorded(gray2color, tmp_path):
    with pytest.raises(ConfigError, match="lr_policy: 'exp' is not valid; expected one of: "
                                          "linear, step, cosine, plateau"):
        TrainConfig(lr_policy="exp")
    with pytest.raises(ConfigError, match="lr_decay_iters: 0 is not valid"):
        TrainConfig(lr_decay_iters=0)
    run, _ = train(_mini(gray2color, max_steps=1, lr_policy="cosine"), tmp_path)
    assert json.loads(run.config.read_text())["train"]["lr_policy"] == "cosine"


@pytest.mark.parametrize("policy, factors", [
    ("linear", [1, 1, 2 / 3, 1 / 3]),
    ("step", [1, 1, 0.1, 0.1]),
    ("cosine", [(1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]),
])
def test_each_log_line_shows_the_rate_and_epoch_its_steps_ran_with(
        gray2color, tmp_path, policy, factors):
    # 2 steps per epoch, 4 epochs; a line every 3 steps, so the last one comes after the end
    run, result = train(_mini(gray2color, lr_policy=policy, lr_decay_iters=2, log_every=3),
                        tmp_path)
    records = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    assert [(r["step"], r["epoch"]) for r in records] == [(3, 2), (6, 3), (8, 4)]
    assert [r["lr"] for r in records] == pytest.approx(
        [LR * factors[e - 1] for _, e in [(3, 2), (6, 3), (8, 4)]])
    assert records[-1]["lr"] > 0 and result.epoch == 4


def test_plateau_resumes_mid_epoch_exactly(gray2color, tmp_path):
    # the epoch's loss so far is saved with the checkpoint: the epoch means, and so the
    # schedule's best loss, come out identical
    config = _mini(gray2color, lr_policy="plateau", n_epochs=3, n_epochs_decay=0, max_steps=6)
    straight, _ = train(config, tmp_path / "a")
    halves, _ = train(config.replace(train=dataclasses.replace(config.train, max_steps=3)),
                      tmp_path / "b")
    resume(halves.path, {"max_steps": 6})
    expected, got = load_checkpoint(straight.latest_checkpoint), \
        load_checkpoint(halves.latest_checkpoint)
    assert got["schedulers"] == expected["schedulers"]
    assert got["schedulers"]["G"]["best"] < math.inf
    assert got["schedulers"]["G"]["last_epoch"] == 3
    for net, state in expected["nets"].items():
        for key, value in state.items():
            assert torch.equal(value, got["nets"][net][key]), f"{net}.{key} differs"
    kept = ("step", "epoch", "lr", "G_GAN", "G_L1", "D_real", "D_fake")
    assert _lines(halves, kept)[-1] == _lines(straight, kept)[-1]


def _lines(run, keys) -> list[dict]:
    return [{k: json.loads(line)[k] for k in keys} for line in run.metrics.read_text().splitlines()]


def test_command_line_report_and_metrics_agree_on_epochs_and_rate(gray2color, tmp_path):
    from typer.testing import CliRunner

    from img2img.cli import app

    # 8 images, batch 4: 2 steps per epoch; 2 epochs; the last line comes after the last epoch
    result = CliRunner().invoke(app, [
        "train", "pix2pix", "--data", str(gray2color), "--runs-dir", str(tmp_path), "--name",
        "r", "--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--input-nc", "1",
        "--load-size", "36", "--crop-size", "32", "--max-dataset-size", "8", "--batch-size",
        "4", "--num-workers", "0", "--device", "cpu", "--n-epochs", "1", "--n-epochs-decay",
        "1", "--log-every", "3", "--lr-policy", "linear"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "done: step 4, 2 full epochs" in " ".join(result.output.split())
    last = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[-1])
    assert (last["step"], last["epoch"], last["lr"]) == (4, 2, pytest.approx(LR / 2))
    assert "step 4, epoch 2" in (tmp_path / "r" / "report.html").read_text("utf-8")
    shown = CliRunner().invoke(app, ["info", str(tmp_path / "r")], terminal_width=200)
    assert "full epochs: 2" in shown.output and "epoch:" not in shown.output


def test_cut_projection_head_follows_the_policy_from_where_g_is(color2gray):
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    from img2img.launch import build_recipe
    from tests.models.test_cut_training import _batch, tiny_cut_config

    recipe = build_recipe(tiny_cut_config(color2gray, lr_policy="plateau"))
    for _ in range(7):  # a stalled loss: the rate is lowered after the 7th epoch
        recipe.end_epoch(1.0)
    recipe.train_step(_batch(color2gray, 0))  # F and its schedule are made at the first step
    assert isinstance(recipe.schedulers["F"], ReduceLROnPlateau)
    assert recipe.optimizers["F"].param_groups[0]["lr"] == pytest.approx(LR * 0.2)
    assert recipe.schedulers["F"].state_dict() == recipe.schedulers["G"].state_dict()


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_every_family_schedules_every_optimizer_by_the_policy(tmp_path):
    from torch.optim.lr_scheduler import StepLR

    from img2img.launch import build_recipe
    from tests.conftest import tiny_pix2pixhd_config
    from tests.models.test_cyclegan import _config as cyclegan_config

    configs = [_mini(tmp_path), cyclegan_config(), tiny_pix2pixhd_config(tmp_path)]
    for config in configs:
        stepped = config.replace(train=dataclasses.replace(config.train, lr_policy="step",
                                                           lr_decay_iters=1))
        recipe = build_recipe(stepped)
        assert all(isinstance(s, StepLR) for s in recipe.schedulers.values()), config.family
        recipe.end_epoch()
        assert recipe.learning_rate == pytest.approx(LR * 0.1), config.family
    # pix2pixHD's linear policy stays its reference's: constant for n_epochs + 1 epochs
    hd = build_recipe(tiny_pix2pixhd_config(tmp_path))  # 1 + 2 epochs
    rates = []
    for _ in range(3):
        rates.append(hd.learning_rate)
        hd.end_epoch()
    assert rates == pytest.approx([LR, LR, LR / 2])
