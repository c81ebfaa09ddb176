"""The training loop: run directories, metrics, samples, checkpoints and exact resume."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil

import pytest
import torch

from img2img.checkpoints import load_checkpoint
from img2img.engine.guard import LossGuard, NonFiniteLossError
from img2img.engine.progress import PlainReporter
from img2img.families.pix2pix.config import Pix2PixConfig
from img2img.launch import resume, summarize, train
from tests.conftest import tiny_pix2pix_config


def _nets(run_path):
    return load_checkpoint(run_path)["nets"]


def test_train_writes_run_directory(gray2color, tmp_path):
    config = tiny_pix2pix_config(gray2color, max_steps=4, log_every=2, sample_every=2)
    run, result = train(config, tmp_path / "runs")
    assert run.path == tmp_path / "runs" / "tiny"
    assert result.step == 4
    saved = json.loads(run.config.read_text())
    assert saved["family"] == "pix2pix" and saved["model"]["netG"] == "unet_128"
    lines = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 4]
    assert {"G_GAN", "G_L1", "D_real", "D_fake", "lr", "images_per_s"} <= set(lines[0])
    grids = sorted(p.name for p in run.samples.glob("*.png"))
    assert grids == ["step_00000002.png", "step_00000004.png"]
    data = torch.load(run.latest_checkpoint, weights_only=True)
    assert data["format"] == "img2img-checkpoint" and data["step"] == 4
    assert set(data["nets"]) == {"G", "D"} and set(data["optimizers"]) == {"G", "D"}
    assert {"python", "numpy", "torch"} <= set(data["rng"])


def test_run_directory_is_never_reused(gray2color, tmp_path):
    config = tiny_pix2pix_config(gray2color, max_steps=1)
    first, _ = train(config, tmp_path)
    second, _ = train(config, tmp_path)
    assert first.path.name == "tiny" and second.path.name == "tiny-1"


@pytest.mark.parametrize("split", [3, 24])  # mid-epoch, and exactly at an epoch boundary
def test_resume_continues_exactly(gray2color, tmp_path, split):
    total = 28  # 48 images, batch 2: 24 steps per epoch, so the run crosses an epoch
    straight, _ = train(tiny_pix2pix_config(gray2color, max_steps=total), tmp_path / "a")
    halves, first = train(tiny_pix2pix_config(gray2color, max_steps=split), tmp_path / "b")
    assert first.step == split
    _, second = resume(halves.path, {"max_steps": total})
    assert second.step == total
    expected, got = _nets(straight.path), _nets(halves.path)
    for net in expected:
        for key, value in expected[net].items():
            assert torch.equal(value, got[net][key]), f"{net}.{key} differs after resume"
    assert load_checkpoint(halves.path)["epoch"] == load_checkpoint(straight.path)["epoch"] == 1


def test_learning_rate_decays_linearly(gray2color, tmp_path):
    # 48 images / batch 24 = 2 steps per epoch; 1 constant epoch then 3 decaying ones
    config = tiny_pix2pix_config(
        gray2color, batch_size=24, n_epochs=1, n_epochs_decay=3, log_every=2
    )
    run, result = train(config, tmp_path)
    assert result.epoch == 4 and result.step == 8
    lrs = [json.loads(line)["lr"] for line in run.metrics.read_text().splitlines()]
    assert lrs == pytest.approx([2e-4, 1.5e-4, 1e-4, 0.5e-4])


def test_dry_run_summary_counts_parameters(gray2color):
    s = summarize(tiny_pix2pix_config(gray2color))
    assert s.dataset_size == 48 and s.steps_per_epoch == 24
    assert s.parameters["G"] > s.parameters["D"] > 0


def test_sample_grids_do_not_change_training(gray2color, tmp_path):
    quiet, _ = train(tiny_pix2pix_config(gray2color, max_steps=6), tmp_path / "a")
    chatty, _ = train(tiny_pix2pix_config(gray2color, max_steps=6, sample_every=1), tmp_path / "b")
    assert len(list(chatty.samples.glob("*.png"))) == 6
    expected, got = _nets(quiet.path), _nets(chatty.path)
    for net in expected:
        for key, value in expected[net].items():
            assert torch.equal(value, got[net][key]), f"{net}.{key} changed by sampling"


def test_unreadable_files_are_skipped_and_reported(gray2color, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(gray2color, data)
    broken = data / "train" / "B" / "007.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    config = tiny_pix2pix_config(data, max_steps=24)  # one whole epoch
    run, result = train(config, tmp_path / "runs", num_workers=2)  # met inside loader workers
    assert result.step == 24
    assert result.skipped_files == [str(broken)]


def _mini(root, **train):
    """8 images of 32 px, batch 4: 2 steps per epoch of a 4-filter ResNet (fast on a CPU)."""
    config = tiny_pix2pix_config(
        root, **{"batch_size": 4, "n_epochs": 2, "n_epochs_decay": 2, "log_every": 2, **train}
    )
    model = Pix2PixConfig(netG="resnet_6blocks", ngf=4, ndf=4, input_nc=1, output_nc=3)
    data = dataclasses.replace(config.data, load_size=36, crop_size=32, max_dataset_size=8)
    return config.replace(model=model, data=data)


def _checkpoints(run) -> dict[str, tuple[int, int]]:
    return {
        p.name: (load_checkpoint(p)["step"], load_checkpoint(p)["epoch"])
        for p in sorted(run.checkpoints.iterdir())
    }


class _Recorder(PlainReporter):
    """A plain reporter that also remembers how it was started."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.starts: list[tuple[int, int, int]] = []

    def start(self, total_steps: int, initial_step: int, epoch: int = 0) -> None:
        self.starts.append((total_steps, initial_step, epoch))
        super().start(total_steps, initial_step, epoch)

    @property
    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()


def test_kept_checkpoints_by_step_and_by_epoch(gray2color, tmp_path):
    config = _mini(gray2color, checkpoint_every=3, keep_checkpoints=1, save_every_epochs=2)
    run, result = train(config, tmp_path)  # 8 steps: periodic at 3 and 6, epochs end at 2, 4 ...
    assert result.step == 8 and result.epoch == 4
    assert _checkpoints(run) == {
        "epoch_0002.pt": (4, 2),
        "epoch_0004.pt": (8, 4),
        "latest.pt": (8, 4),
        "step_00000006.pt": (6, 2),  # step 3 pruned: only the newest one is kept
    }
    folder = run.checkpoints
    assert (folder / "epoch_0004.pt").read_bytes() == (folder / "latest.pt").read_bytes()
    assert not list(folder.glob(".*"))  # no temp files left behind


def test_without_retention_only_latest_is_written(gray2color, tmp_path):
    run, _ = train(_mini(gray2color, max_steps=3, checkpoint_every=1), tmp_path)
    assert _checkpoints(run) == {"latest.pt": (3, 1)}


def test_start_is_reported_and_resume_shows_its_epoch(gray2color, tmp_path):
    first = _Recorder()
    run, _ = train(_mini(gray2color, max_steps=3), tmp_path, reporter=first)
    assert first.starts == [(3, 0, 1)]  # epochs read 1-based
    assert first.lines[0] == (
        "training on cpu in fp32: 2 steps per epoch, 4 epochs, stopping after 3 of 8 steps "
        "(max_steps)"
    )
    assert first.lines[1] == ("cuDNN autotuning and TF32: not used on cpu (CUDA settings; no "
                              "effect here)")
    assert first.lines[2] == ("sample grids every 1000 steps and at the last one "
                              "(--sample-every; default: about ten over the run)")
    assert re.fullmatch(
        r"step 2/3 \(66%\)  epoch 1  G_GAN \S+ G_L1 \S+ D_real \S+ D_fake \S+  "
        r"[\d.]+ img/s  data \d+ ms/step  ETA \S+",
        first.lines[3],
    )
    second = _Recorder()
    changes = {"max_steps": 8, "checkpoint_every": 2, "keep_checkpoints": 2}
    resume(run.path, changes, reporter=second)
    assert second.starts == [(8, 3, 2)]  # the bar starts at the resumed epoch
    assert second.lines[:3] == [
        "training on cpu in fp32: 2 steps per epoch, 4 epochs, 8 steps in all",
        "cuDNN autotuning and TF32: not used on cpu (CUDA settings; no effect here)",
        "resuming at step 3 (epoch 2, step 1 of 2 in it)",
    ]
    assert sorted(_checkpoints(run)) == ["latest.pt", "step_00000006.pt", "step_00000008.pt"]


def test_weights_that_go_non_finite_stop_the_run_and_keep_the_last_good_checkpoint(
    gray2color, tmp_path
):
    # lr 1e8: every loss stays finite, but after step 2 batch norm's running variance is inf
    config = _mini(gray2color, lr=1e8, checkpoint_every=1, log_every=5)
    with pytest.raises(NonFiniteLossError, match=r"step 2: the weights are not finite \(G\.model"
                                                 r".*the last checkpoint \(step 1\)") as info:
        train(config, tmp_path)
    assert info.value.step == 2 and info.value.losses[0].endswith("running_var")
    saved = load_checkpoint(tmp_path / "tiny")
    assert saved["step"] == 1
    for state in saved["nets"].values():
        assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())


def test_the_first_non_finite_loss_is_named_with_its_step():
    guard = LossGuard(torch.device("cpu"))
    finite = {"G_GAN": torch.tensor(0.7), "G_L1": torch.tensor(0.2)}
    guard.add(4, finite)
    guard.check()
    guard.add(5, finite)
    guard.add(6, {"G_GAN": torch.tensor(float("inf")), "G_L1": torch.tensor(float("nan"))})
    guard.add(7, {"G_GAN": torch.tensor(float("nan")), "G_L1": torch.tensor(0.2)})
    with pytest.raises(NonFiniteLossError, match=r"^step 6: a loss is not finite "
                                                 r"\(G_GAN = inf, G_L1 = nan\)") as info:
        guard.check()
    assert info.value.step == 6 and info.value.losses == ["G_GAN", "G_L1"]


def _grids(run) -> list[str]:
    return sorted(p.name for p in run.samples.glob("*.png"))


@pytest.mark.parametrize(("every", "expected"), [
    (2, ["step_00000002.png", "step_00000004.png", "step_00000005.png"]),
    (5, ["step_00000005.png"]),  # due at the last step: written once
])
def test_the_last_step_always_writes_a_sample_grid(gray2color, tmp_path, every, expected):
    run, result = train(tiny_pix2pix_config(gray2color, max_steps=5, sample_every=every),
                        tmp_path)
    assert result.step == 5 and _grids(run) == expected


def test_a_stopped_run_writes_the_grid_of_its_last_step(gray2color, tmp_path, monkeypatch):
    import signal

    from img2img import launch

    build = launch.build_recipe

    def stopping_build(*args, **kwargs):
        recipe = build(*args, **kwargs)
        step, calls = recipe.train_step, []

        def signalled(batch):
            calls.append(1)
            if len(calls) == 3:
                signal.raise_signal(signal.SIGTERM)  # the trainer stops after this step
            return step(batch)

        recipe.train_step = signalled
        return recipe

    monkeypatch.setattr(launch, "build_recipe", stopping_build)
    run, result = train(tiny_pix2pix_config(gray2color, max_steps=20), tmp_path)
    assert (result.stopped_by, result.step) == ("SIGTERM", 3)
    assert _grids(run) == ["step_00000003.png"]


def test_the_default_sample_interval_follows_the_run_length(gray2color, tmp_path):
    from img2img.config import default_sample_every

    assert [default_sample_every(n) for n in (1, 99, 200, 588, 10**5, 10**7)] == \
        [10, 10, 20, 59, 5000, 5000]
    config = tiny_pix2pix_config(gray2color, max_steps=23, sample_every=None)
    assert summarize(config).config.train.sample_every == 10
    # 48 images, batch 2, 3 + 2 epochs: 120 steps, so a grid every 12
    config = tiny_pix2pix_config(gray2color, n_epochs=3, n_epochs_decay=2, sample_every=None)
    assert summarize(config).config.train.sample_every == 12
    run, _ = train(tiny_pix2pix_config(gray2color, max_steps=23, sample_every=None), tmp_path)
    assert json.loads(run.config.read_text())["train"]["sample_every"] == 10  # saved, resolved
    assert _grids(run) == ["step_00000010.png", "step_00000020.png", "step_00000023.png"]


def test_a_crop_that_never_moves_is_warned_of(gray2color):
    fixed = tiny_pix2pix_config(gray2color)
    fixed = fixed.replace(data=dataclasses.replace(fixed.data, load_size=128, crop_size=128))
    warnings = [n for n in summarize(fixed).notes if n.startswith("warning: no random crop")]
    assert len(warnings) == 1
    assert "--load-size 128 equals --crop-size" in warnings[0]
    assert "--load-size 144 --crop-size 128 crops at random" in warnings[0]
    moving = tiny_pix2pix_config(gray2color)  # load 142, crop 128
    assert not [n for n in summarize(moving).notes if "no random crop" in n]
    for preprocess in ("none", "crop"):
        data = dataclasses.replace(fixed.data, preprocess=preprocess)
        assert data.fixed_crop_warning is None


def test_data_parallel_processes_exchange_the_stop_flag_only_at_boundaries(
    gray2color, tmp_path, monkeypatch
):
    """No step waits on the other processes for the stop flag: it is exchanged at log and
    checkpoint boundaries only, and a stop asked for between them stops the run at the next
    one, with its checkpoint. (Rank 0 of two, without a process group: the collectives are
    this process's own values.)"""
    import signal

    from img2img import launch
    from img2img.engine import distributed as ddp
    from img2img.engine.distributed import World
    from img2img.engine.trainer import Trainer

    monkeypatch.setattr(ddp, "world_from_env", lambda: World(0, 2, 0))
    monkeypatch.setattr(launch, "_data_parallel", lambda recipe, world: [])
    build, exchange = launch.build_recipe, Trainer._exchange_stop
    steps: list[int] = []  # train_step calls so far
    exchanged: list[int] = []  # the steps after which the flag was exchanged

    def counting_build(*args, **kwargs):
        recipe = build(*args, **kwargs)
        step = recipe.train_step

        def signalled(batch):
            steps.append(1)
            if len(steps) == 6:
                signal.raise_signal(signal.SIGTERM)  # mid-interval: steps 5 to 8
            return step(batch)

        recipe.train_step = signalled
        return recipe

    def spy(trainer, stop):
        exchanged.append(len(steps))
        return exchange(trainer, stop)

    monkeypatch.setattr(launch, "build_recipe", counting_build)
    monkeypatch.setattr(Trainer, "_exchange_stop", spy)
    config = tiny_pix2pix_config(gray2color, max_steps=20, log_every=4, checkpoint_every=1000,
                                 sample_every=1000)
    run, result = train(config, tmp_path)
    assert exchanged == [4, 8]
    assert (result.stopped_by, result.step) == ("SIGTERM", 8)
    assert load_checkpoint(run.path)["step"] == 8
