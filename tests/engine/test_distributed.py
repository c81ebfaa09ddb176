"""Data-parallel training on the CPU: two gloo processes through torchrun, and its parts."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from img2img.checkpoints import load_checkpoint
from img2img.cli.devices import launch_processes, torchrun_args
from img2img.config import ConfigError, DataConfig, TrainConfig
from img2img.engine import distributed as ddp
from img2img.engine.device import Precision, resolve_device
from img2img.engine.distributed import World, world_from_env
from img2img.engine.grad_buckets import optimizer_params, plan_buckets
from img2img.engine.rundir import RunDir, create_run_dir
from img2img.engine.trainer import NonFiniteLossError, Trainer
from img2img.families import get_family, load_run_config, run_config
from img2img.families.cut.config import CUTConfig
from img2img.families.cyclegan.config import CycleGANConfig
from img2img.families.pix2pix.config import Pix2PixConfig
from img2img.launch import build_recipe, resume
from tests.conftest import tiny_pix2pix_config, tiny_pix2pixhd_config

WORKER = Path(__file__).with_name("ddp_worker.py")


def _pix2pix(root: Path):
    """8 images of 32 px, 2 per process per step; ResNet with batch norm and dropout."""
    config = tiny_pix2pix_config(root, batch_size=2, n_epochs=1, n_epochs_decay=1, log_every=1,
                                 max_steps=3)
    model = Pix2PixConfig(netG="resnet_6blocks", ngf=4, ndf=4, input_nc=1, output_nc=3,
                          dropout=True)
    data = dataclasses.replace(config.data, load_size=36, crop_size=32, max_dataset_size=8)
    return config.replace(model=model, data=data, name="p2p")


def _pix2pixhd(root: Path):
    config = tiny_pix2pixhd_config(root, {"batch_size": 1, "max_steps": 3, "log_every": 1},
                                   ngf=4, ndf=4, n_blocks_global=1)
    return config.replace(name="hd")


def _cyclegan(root: Path):
    """8 unpaired 32 px images, 1 per process per step; pools of 2, so step 3 draws from them."""
    return run_config(
        "cyclegan", CycleGANConfig(netG="resnet_6blocks", ngf=4, ndf=4, pool_size=2),
        data=DataConfig(root=str(root), load_size=36, crop_size=32, num_workers=0,
                        max_dataset_size=8),
        train=TrainConfig(device="cpu", batch_size=1, n_epochs=1, n_epochs_decay=1, max_steps=3,
                          log_every=1, sample_every=10**6, checkpoint_every=10**6),
        name="cg",
    )


def _cut(root: Path):
    """CUT on the same data: F is made from each process's first batch and must be rank 0's."""
    config = _cyclegan(root)
    return config.replace(model=CUTConfig(netG="resnet_6blocks", ngf=4, ndf=4, num_patches=16),
                          family="cut", name="cut")


def _bucketed(config, name: str, bucket_mb: float = 2048 / 2**20):
    """``config`` with its gradients averaged in buckets of ``bucket_mb`` (default 2 kB:
    several per network; 0: one exchange at each optimizer step)."""
    train = dataclasses.replace(config.train, bucket_mb=bucket_mb)
    return config.replace(train=train, name=name)


def _cyclegan_command(data: Path, runs: Path, name: str) -> list[str]:
    """``train cyclegan`` for 2 steps with a checkpoint after each."""
    return ["train", "cyclegan", "--data", str(data), "--netG", "resnet_6blocks", "--ngf", "4",
            "--ndf", "4", "--pool-size", "2", "--load-size", "36", "--crop-size", "32",
            "--max-dataset-size", "8", "--batch-size", "1", "--max-steps", "2",
            "--checkpoint-every", "1", "--sample-every", "1000", "--num-workers", "0",
            "--device", "cpu", "--runs-dir", str(runs), "--name", name]


def _unreadable(root: Path) -> Path:
    """An unpaired set whose images are all unreadable (training would fail)."""
    for side in "AB":
        (root / f"train{side}").mkdir(parents=True)
        for i in range(4):
            (root / f"train{side}" / f"{side}{i}.png").write_bytes(b"not an image")
    return root


@pytest.fixture(scope="module")
def two_processes(gray2color, city, color2gray, tmp_path_factory):
    """Bucketed averaging of a small network's gradients; four families trained by 2 gloo
    processes for 2 steps (pix2pix and CycleGAN with one exchange at each optimizer step,
    pix2pixHD and CUT in the default buckets); pix2pix, CycleGAN and CUT also resumed to 3 and
    trained 3 steps straight; pix2pix (resumed too) and CycleGAN in buckets of 2 kB; then
    ``train cyclegan`` run with rank 0's disk full at the second checkpoint, and on a dataset
    that fails its check."""
    tmp = tmp_path_factory.mktemp("ddp")
    runs = tmp / "runs"
    jobs = tmp / "jobs.json"
    jobs.write_text(json.dumps({
        "runs": {"pix2pix": [_bucketed(_pix2pix(gray2color), "p2p", 0).to_dict(),
                             ["resume", "signal"]],
                 "pix2pixhd": [_pix2pixhd(city).to_dict(), []],
                 "cyclegan": [_bucketed(_cyclegan(color2gray), "cg", 0).to_dict(), ["resume"]],
                 "cut": [_cut(color2gray).to_dict(), ["resume"]],
                 "pix2pix_buckets": [_bucketed(_pix2pix(gray2color), "p2pb").to_dict(),
                                     ["resume"]],
                 "cyclegan_buckets": [_bucketed(_cyclegan(color2gray), "cgb").to_dict(), []]},
        "buckets": True,
        "commands": {"full_disk": _cyclegan_command(color2gray, runs, "full"),
                     "bad_data": _cyclegan_command(_unreadable(tmp / "bad"),
                                                   runs, "bad")},
    }))
    out = tmp / "out"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "1000"}
    env.pop("IMG2IMG_DEBUG", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node=2", str(WORKER), str(jobs), str(runs), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-12000:]
    return tmp, out, done.stderr


def _nets(out: Path, label: str, phase: str, rank: int) -> dict:
    return torch.load(out / f"{label}_{phase}_rank{rank}.pt", weights_only=True)


def _assert_equal(a: dict, b: dict) -> None:
    for name in a:
        for key, tensor in a[name].items():
            assert torch.equal(tensor, b[name][key]), f"{name}.{key}"


@pytest.mark.parametrize(("family", "net"), [("pix2pix", "G"), ("cyclegan", "G_A"),
                                             ("cut", "F")])
def test_networks_identical_on_both_ranks_and_resume_is_exact(two_processes, family, net):
    _, out, _ = two_processes
    for phase in ("two", "resumed", "straight"):
        _assert_equal(_nets(out, family, phase, 0), _nets(out, family, phase, 1))
    _assert_equal(_nets(out, family, "resumed", 0), _nets(out, family, "straight", 0))
    two, three = _nets(out, family, "two", 0)[net], _nets(out, family, "resumed", 0)[net]
    assert any(not torch.equal(two[k], three[k]) for k in two if two[k].is_floating_point())


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_bucketed_averaging_trains_the_same_weights_as_one_exchange(two_processes, family):
    _, out, _ = two_processes
    assert not (out / f"{family}_buckets_rank0.json").exists()  # one exchange: no buckets
    for rank in (0, 1):  # 2 processes: the same sums, bit for bit
        _assert_equal(_nets(out, f"{family}_buckets", "two", rank),
                      _nets(out, family, "two", rank))


@pytest.mark.parametrize("label", ["pix2pix_buckets", "cyclegan_buckets", "cut", "pix2pixhd"])
def test_buckets_start_during_backward_and_their_hooks_go_when_training_ends(two_processes,
                                                                              label):
    _, out, _ = two_processes
    for rank in (0, 1):
        seen = json.loads((out / f"{label}_buckets_rank{rank}.json").read_text())
        assert seen["started_in_backward"] > 0 and seen["hooks"] == 0, seen


def test_bucketed_averaging_resumes_exactly(two_processes):
    _, out, _ = two_processes
    for rank in (0, 1):
        _assert_equal(_nets(out, "pix2pix_buckets", "resumed", rank),
                      _nets(out, "pix2pix_buckets", "straight", rank))
        _assert_equal(_nets(out, "pix2pix_buckets", "resumed", rank),
                      _nets(out, "pix2pix", "resumed", rank))


def test_bucketed_averaging_overlaps_and_redoes_changed_gradients(two_processes):
    _, out, _ = two_processes
    for rank in (0, 1):
        cases = json.loads((out / f"buckets_rank{rank}.json").read_text())
        # buckets of 100 bytes, from the last layer back: [bias 2, weight 2x8, bias 8],
        # [weight 8x8], [bias 8, weight 8x4]
        assert cases.pop("plans") == [[[[2], [2, 8], [8]], [[8, 8]], [[8], [8, 4]]]]
        # an optimizer over some of the same parameters replaces the first one's plan
        assert cases.pop("plans_after_replacing") == [[3, 1]]
        assert cases.pop("hooks_after_remove") == 0
        started = {label: case["started_in_backward"] for label, case in cases.items()}
        # planned at the first step; then every bucket starts during the (first) backward
        assert started == {"first": 0, "overlapped": 3, "two_backwards": 3, "clipped": 3,
                           "zeroed": 3, "frozen": 3, "again": 3}
        assert all(case["equal"] for case in cases.values()), cases


def test_buckets_are_planned_from_the_last_parameter_back_by_size_and_dtype():
    net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 2))
    net[1].double()
    plan = plan_buckets(list(net.parameters()), 128)
    shapes = [[tuple(p.shape) for p in bucket] for bucket in plan]
    # a bucket closes at 128 bytes or where the dtype changes (float64 layer in the middle)
    assert shapes == [[(2,), (2, 8)], [(8,), (8, 8)], [(8,), (8, 4)]]
    assert [p.dtype for p in plan[1]] == [torch.float64] * 2
    assert plan_buckets(list(net.parameters()), 10**6) == [
        [net[2].bias, net[2].weight], [net[1].bias, net[1].weight],
        [net[0].bias, net[0].weight]]
    optimizers = {"a": torch.optim.SGD(net[0].parameters(), lr=1),
                  "b": torch.optim.SGD([*net[2].parameters(), *net[0].parameters()], lr=1)}
    assert [len(b) for b in plan_buckets(optimizer_params(optimizers["a"]), 1)] == [1, 1]
    assert [b[0] for b in plan_buckets(optimizer_params(optimizers["b"]), 1)] == [
        net[0].bias, net[0].weight, net[2].bias, net[2].weight]
    with pytest.raises(ValueError, match="bucket_bytes: expected a positive size, got 0"):
        plan_buckets(list(net.parameters()), 0)


def test_bucket_size_is_an_option_saved_with_the_run():
    assert TrainConfig().bucket_mb == 25
    with pytest.raises(ConfigError, match="bucket_mb: -1.0 is not valid"):
        TrainConfig(bucket_mb=-1.0)


def test_only_unsynchronised_running_statistics_follow_rank_zero():
    nets = {"G": _bn_net(), "D": nn.Sequential(nn.Conv2d(3, 4, 3), nn.InstanceNorm2d(4))}
    bn = nets["G"][1]
    assert [id(b) for b in ddp.unsynced_statistics(nets.values())] == [
        id(bn.running_mean), id(bn.running_var), id(bn.num_batches_tracked)]
    ddp.sync_batch_norms(nets, torch.device("cuda"))  # SyncBatchNorm keeps them equal
    assert ddp.unsynced_statistics(nets.values()) == []


def _own(out: Path, phase: str, rank: int) -> dict:
    return torch.load(out / f"cyclegan_{phase}_own_rank{rank}.pt", weights_only=True)


def _assert_same_pools(a: dict, b: dict) -> None:
    for name, pool in a["image_pools"].items():
        other = b["image_pools"][name]
        assert len(pool["images"]) == len(other["images"]) == 2, name
        assert all(torch.equal(x, y) for x, y in zip(pool["images"], other["images"],
                                                     strict=True)), name
        assert torch.equal(pool["generator"], other["generator"]), name


def test_every_process_resumes_its_own_image_pools(two_processes):
    tmp, out, _ = two_processes
    for rank in (0, 1):
        _assert_same_pools(_own(out, "two", rank), _own(out, "loaded", rank))
        _assert_same_pools(_own(out, "resumed", rank), _own(out, "straight", rank))
    first, second = (_own(out, "two", r)["image_pools"]["fake_B"]["images"] for r in (0, 1))
    assert not torch.equal(first[0], second[0])  # each process pooled its own fakes
    saved = load_checkpoint(tmp / "runs" / "cg")  # resumed to step 3
    assert saved["world_size"] == 2 and len(saved["rank_states"]) == 2
    _assert_same_pools(saved["rank_states"][1], _own(out, "resumed", 1))


def test_resuming_on_another_number_of_processes_drops_or_starts_pools(two_processes,
                                                                       tmp_path, caplog):
    tmp, out, _ = two_processes
    run = tmp_path / "cg"
    shutil.copytree(tmp / "runs" / "cg", run)
    with caplog.at_level(logging.INFO, "img2img.engine.trainer"):
        resume(run, {"max_steps": 3})  # one process, nothing left to train: it only saves
    assert "the saved random state and image pools of process 1 are dropped" in caplog.text
    one = load_checkpoint(run)
    assert one["world_size"] == 1 and len(one["rank_states"]) == 1
    _assert_same_pools(one["rank_states"][0], _own(out, "resumed", 0))
    # and back to two processes: rank 1 starts with empty pools
    recipe = build_recipe(load_run_config(one["config"]))
    trainer = Trainer(recipe, _dataset(recipe.config), RunDir(run), world=World(1, 2))
    caplog.clear()
    with caplog.at_level(logging.INFO, "img2img.engine.trainer"):
        trainer.resume(one)
    assert "process 1 starts from fresh seeds and empty image pools" in caplog.text
    assert [len(pool) for pool in recipe.pools.values()] == [0, 0]


def test_a_failed_checkpoint_write_on_rank_zero_stops_every_process(two_processes):
    tmp, out, stderr = two_processes
    ranks = [json.loads((out / f"full_disk_rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["code"] for r in ranks] == [2, 2]
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    full = [line for line in errors if "cannot write checkpoint" in line]
    assert len(full) == 1, errors  # rank 0's, once
    assert "No space left on device" in full[0] and "step 1 is unchanged" in full[0]
    assert load_checkpoint(tmp / "runs" / "full")["step"] == 1  # the previous one, intact


def test_the_dataset_is_checked_once_and_a_failed_check_stops_every_process(two_processes):
    tmp, out, stderr = two_processes
    for label in ("full_disk", "bad_data"):  # a good dataset, then a bad one
        ranks = [json.loads((out / f"{label}_rank{r}.json").read_text()) for r in (0, 1)]
        assert [r["checks"] for r in ranks] == [1, 0], label
    ranks = [json.loads((out / f"bad_data_rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["code"] for r in ranks] == [2, 2]
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 2, errors  # the full disk's and the check's, from rank 0 alone
    assert "training would fail" in errors[1] and "none of the 8 examples" in errors[1]
    assert not (tmp / "runs" / "bad").exists()


def test_user_errors_leaves_the_report_to_rank_zero(capsys):
    import typer

    from img2img.cli.errors import user_errors

    with pytest.raises(typer.Exit) as stopped, user_errors():
        raise ddp.FailedOnMain("CheckpointWriteError: cannot write checkpoint")
    assert stopped.value.exit_code == 2 and capsys.readouterr().err == ""


def test_pix2pixhd_networks_identical_on_both_ranks(two_processes):
    _, out, _ = two_processes
    _assert_equal(_nets(out, "pix2pixhd", "two", 0), _nets(out, "pix2pixhd", "two", 1))


def test_one_run_directory_written_by_rank_zero(two_processes):
    tmp, out, _ = two_processes
    assert sorted(p.name for p in (tmp / "runs").iterdir()) == [
        "cg", "cg_straight", "cgb", "cut", "cut_straight", "full", "hd", "p2p", "p2p_stopped",
        "p2p_straight", "p2pb", "p2pb_straight"]
    run, _ = (Path(p) for p in json.loads((out / "pix2pix_runs.json").read_text()))
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["world_size"] == 2 and config["train"]["global_batch_size"] == 4
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]  # one line per step: rank 0 alone writes
    assert all(r["data_time"] >= 0 for r in records)
    saved = load_checkpoint(run)
    assert saved["step"] == 3 and saved["world_size"] == 2
    first, second = saved["rng_ranks"]
    assert not torch.equal(first["torch"], second["torch"])  # every rank's own stream


def test_a_signal_to_one_process_stops_every_process_after_the_same_step(two_processes):
    _, out, _ = two_processes
    ranks = [json.loads((out / f"pix2pix_stopped_rank{r}.json").read_text()) for r in (0, 1)]
    assert [(r["step"], r["stopped_by"]) for r in ranks] == [(2, "SIGTERM"), (2, "SIGTERM")]
    assert load_checkpoint(ranks[0]["run"])["step"] == 2  # the finished step, saved


def test_world_from_env():
    assert world_from_env({}) == World(0, 1, 0)
    world = world_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert world == World(3, 4, 1) and world.distributed and not world.is_main
    with pytest.raises(ConfigError, match="RANK 4 / WORLD_SIZE 4"):
        world_from_env({"RANK": "4", "WORLD_SIZE": "4"})


def test_local_rank_picks_this_process_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == torch.device("cuda:1")
    assert resolve_device("cuda") == torch.device("cuda:1")
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    assert resolve_device("cpu") == torch.device("cpu")


def test_devices_runs_the_same_command_under_torchrun():
    args = torchrun_args(4, ["train", "pix2pix", "--data", "x", "--devices", "4"])
    assert args == ["--standalone", "--nproc-per-node=4", "-m", "img2img", "train", "pix2pix",
                    "--data", "x", "--devices", "4"]


def test_launched_processes_exit_with_their_own_status_and_report(tmp_path, capfd):
    missing = tmp_path / "missing.pt"
    command = ["translate", "--model", str(missing), str(tmp_path), str(tmp_path / "out")]
    assert launch_processes(2, command) == 2  # a user error
    out, err = capfd.readouterr()
    assert "missing.pt" in out + err
    assert (out + err).count("Error") == 1  # both processes fail alike: reported once
    assert "Traceback" not in err and "exitcode" not in err  # no launcher report


def test_errors_of_the_other_processes_are_reported_once_by_the_command(tmp_path, monkeypatch,
                                                                         capsys):
    from img2img.cli.errors import PROCESS_ERRORS_ENV, fail, report_process_errors

    monkeypatch.setenv(PROCESS_ERRORS_ENV, str(tmp_path))
    for rank, message in [(0, "disk full"), (1, "disk full"), (2, "out of memory"),
                          (3, "out of memory"), (4, "bad file")]:
        monkeypatch.setenv("RANK", str(rank))
        fail(message)
        printed = capsys.readouterr().err
        assert ("disk full" in printed) == (rank == 0)  # rank 0 prints its own at once
    report_process_errors(tmp_path)
    lines = " ".join(capsys.readouterr().err.split())
    assert lines == ("Error: processes 2, 3: out of memory Error: process 4: bad file")


def _bn_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())


def test_batch_norm_becomes_sync_batch_norm_on_cuda_keeping_parameters():
    nets = {"G": _bn_net(), "D": nn.Conv2d(3, 1, 1)}
    params = list(nets["G"].parameters())
    notes = ddp.sync_batch_norms(nets, torch.device("cuda"))
    assert isinstance(nets["G"][1], nn.SyncBatchNorm)
    assert list(nets["G"].parameters())[1] is params[1]  # optimizers stay valid
    assert notes == ["batch norm in G synchronised over the processes (SyncBatchNorm)"]


def test_batch_norm_on_cpu_processes_is_explained():
    nets = {"G": _bn_net()}
    notes = ddp.sync_batch_norms(nets, torch.device("cpu"))
    assert isinstance(nets["G"][1], nn.BatchNorm2d) and "own batch" in notes[0]
    nets["G"][1] = nn.SyncBatchNorm(4)
    with pytest.raises(ConfigError, match="--norm syncbatch: .*needs CUDA"):
        ddp.sync_batch_norms(nets, torch.device("cpu"))


def test_single_process_collectives_are_identities():
    value = torch.tensor([1.0, 2.0])
    assert torch.equal(ddp.sum_over_ranks(value), value)
    assert ddp.gather_objects({"a": 1}) == [{"a": 1}]
    assert ddp.broadcast_object(5) == 5
    assert ddp.gather_to_main({"a": 1}) == [{"a": 1}]
    assert ddp.on_main(lambda: 3) == 3
    assert ddp.any_rank(True, torch.device("cpu")) and not ddp.any_rank(False, torch.device("cpu"))


def test_non_finite_loss_stops_training_naming_the_step(gray2color, tmp_path):
    config = _pix2pix(gray2color).replace(name="nan")
    recipe = build_recipe(config)
    step = recipe.train_step
    calls = []

    def poisoned(batch):
        losses = step(batch)
        calls.append(1)
        return {**losses, "G_L1": losses["G_L1"] * float("nan")} if len(calls) == 2 else losses

    recipe.train_step = poisoned
    run = create_run_dir(tmp_path, "nan")
    trainer = Trainer(recipe, _dataset(config), run)
    with pytest.raises(NonFiniteLossError, match=r"step 2: a loss is not finite \(G_L1"):
        trainer.fit()
    assert not run.latest_checkpoint.exists()  # the broken state is never saved


def test_bf16_step_keeps_fp32_weights_and_losses(gray2color):
    config = _pix2pix(gray2color)
    config = config.replace(train=dataclasses.replace(config.train, precision="bf16"))
    recipe = build_recipe(config)
    batch = next(iter(torch.utils.data.DataLoader(
        [_dataset(config)[(i, 0)] for i in range(2)], batch_size=2)))
    before = [p.clone() for p in recipe.G.parameters()]
    losses = recipe.train_step(batch)
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    assert all(p.dtype == torch.float32 for p in recipe.G.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, recipe.G.parameters(), strict=True))


def test_fp16_one_scaler_updated_once_per_iteration(gray2color):
    config = _pix2pix(gray2color)
    config = config.replace(train=dataclasses.replace(config.train, precision="fp16"))
    recipe = build_recipe(config)
    recipe.precision.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=1)
    batch = next(iter(torch.utils.data.DataLoader(
        [_dataset(config)[(i, 0)] for i in range(2)], batch_size=2)))
    recipe.train_step(batch)
    # both optimizers stepped through the one scaler, which grew once (not twice)
    assert recipe.precision.scaler.get_scale() == 2.0**11
    assert all(opt.state for opt in recipe.optimizers.values())


def test_gradients_averaged_before_every_optimizer_step():
    seen = []
    precision = Precision("fp32", torch.device("cpu"), grad_sync=seen.append)
    net = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    net(torch.ones(1, 2)).sum().backward()
    precision.step(optimizer)
    assert seen == [optimizer]


def test_compile_keeps_the_networks_checkpoint_keys(gray2color):
    config = _pix2pix(gray2color)
    plain = build_recipe(config)
    compiled = build_recipe(config.replace(train=dataclasses.replace(config.train, compile=True)))
    for name, net in compiled.nets.items():
        assert net._compiled_call_impl is not None  # compiled in place, on first call
        assert list(net.state_dict()) == list(plain.nets[name].state_dict())


def _dataset(config):
    return get_family(config.family).description_class().build_dataset(config)
