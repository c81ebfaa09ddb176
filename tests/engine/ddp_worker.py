"""Run by ``torchrun`` in the data-parallel tests: trains the configs given, through the real
launch path, and saves every process's networks after each run; then runs command lines.

Usage: ``ddp_worker.py JOBS_JSON RUNS_DIR OUT_DIR``. The JSON holds ``{"runs": {label:
[config, extras]}, "commands": {label: argv}}``. Each config is trained for 2 steps; with
``"resume"`` in its extras it is resumed to 3 and trained straight to 3 in a second run; with
``"signal"`` it is trained once more with rank 1 sending itself SIGTERM during its second
step. A run whose gradients were averaged in buckets also writes how many bucket exchanges
started during backward passes and how many hooks were left after training to
``OUT_DIR/<label>_buckets_rank<R>.json``. With ``"buckets"`` true, bucketed gradient
averaging is first tried on a small network (``OUT_DIR/buckets_rank<R>.json``). Each command
line (``img2img`` arguments) runs in this process, with rank 0's checkpoint writes failing
from the second on (the disk is full), and the dataset checks counted; the process group
stays joined from one to the next.

Networks land in ``OUT_DIR/<label>_<phase>_rank<R>.pt`` (phase: ``two``, ``resumed``,
``straight``), each process's own recipe state (image pools) in
``OUT_DIR/<label>_<phase>_own_rank<R>.pt`` (also phase ``loaded``: just after the resume
loaded it), the run directories in ``OUT_DIR/<label>_runs.json``, what the stopped run
returned in ``OUT_DIR/<label>_stopped_rank<R>.json`` and each command's exit status and
dataset-check count in ``OUT_DIR/<label>_rank<R>.json``.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from img2img import launch
from img2img.checkpoints import writer as checkpoint_writer
from img2img.cli.exit import exit_process
from img2img.engine import distributed as ddp
from img2img.engine.distributed import shutdown, world_from_env
from img2img.engine.grad_buckets import GradBuckets
from img2img.engine.trainer import Trainer
from img2img.families import load_run_config
from img2img.prep import check

built: list = []
loaded: list = []
_build = launch.build_recipe
_resume = Trainer.resume
#: the rank that sends itself SIGTERM during its second step (None: none does)
signalled_rank: int | None = None


_remove_hooks = GradBuckets.remove
#: how many bucket exchanges had started during backward passes when hooks were removed
started_in_backward: list[int] = []


def _recording_remove(sync: GradBuckets) -> None:
    started_in_backward.append(sync.started_in_backward)
    _remove_hooks(sync)


def _hook_count(params) -> int:
    """How many post-accumulate-grad hooks ``params`` carry."""
    return sum(len(getattr(p, "_post_accumulate_grad_hooks", None) or {}) for p in params)


def _hooks(recipe) -> int:
    return _hook_count(p for net in recipe.nets.values() for p in net.parameters())


def _capturing_build(*args, **kwargs):
    recipe = _build(*args, **kwargs)
    built.append(recipe)
    if signalled_rank == world_from_env().rank:
        step, calls = recipe.train_step, []

        def signalled(batch):
            calls.append(1)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGTERM)
            return step(batch)

        recipe.train_step = signalled
    return recipe


def _capturing_resume(trainer: Trainer, data: dict) -> None:
    _resume(trainer, data)
    loaded.append(trainer.recipe.rank_state())


def _save_nets(out: Path, label: str, phase: str, rank: int) -> None:
    recipe = built[-1]
    torch.save({name: net.state_dict() for name, net in recipe.nets.items()},
               out / f"{label}_{phase}_rank{rank}.pt")
    _save_own(recipe.rank_state(), out, label, phase, rank)


def _save_own(state: dict, out: Path, label: str, phase: str, rank: int) -> None:
    if state:
        torch.save(state, out / f"{label}_{phase}_own_rank{rank}.pt")


def _train(label: str, data: dict, extras: list[str], runs: Path, out: Path, rank: int) -> None:
    config = load_run_config(data)
    short = config.replace(train=dataclasses.replace(config.train, max_steps=2))
    run, _ = launch.train(short, runs)
    _save_nets(out, label, "two", rank)
    if isinstance(built[-1].precision.grad_sync, GradBuckets):
        (out / f"{label}_buckets_rank{rank}.json").write_text(json.dumps(
            {"started_in_backward": started_in_backward[-1], "hooks": _hooks(built[-1])}))
    if "resume" in extras:
        launch.resume(run.path, {"max_steps": 3})
        _save_nets(out, label, "resumed", rank)
        _save_own(loaded[-1], out, label, "loaded", rank)
        straight, _ = launch.train(config.replace(name=config.name + "_straight"), runs)
        _save_nets(out, label, "straight", rank)
        if rank == 0:
            (out / f"{label}_runs.json").write_text(json.dumps([str(run.path),
                                                               str(straight.path)]))
    if "signal" in extras:
        global signalled_rank
        signalled_rank = 1
        stopped, result = launch.train(config.replace(name=config.name + "_stopped"), runs)
        signalled_rank = None
        (out / f"{label}_stopped_rank{rank}.json").write_text(json.dumps(
            {"run": str(stopped.path), "step": result.step, "stopped_by": result.stopped_by}))


def _full_disk(write):
    """``write`` that fails with ENOSPC from its second call on."""
    calls: list[int] = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write(*args, **kwargs)

    return failing


def _command(argv: list[str], rank: int) -> dict:
    """Run ``img2img argv`` here; its exit status and how often this process checked data."""
    from img2img.cli import app

    checks: list[int] = []
    check_data, write = check.check_run_data, checkpoint_writer.atomic_write

    def counted(*args, **kwargs):
        checks.append(1)
        return check_data(*args, **kwargs)

    check.check_run_data = counted
    if rank == 0:
        checkpoint_writer.atomic_write = _full_disk(write)
    try:
        app(args=argv, prog_name="img2img")
        code = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        check.check_run_data, checkpoint_writer.atomic_write = check_data, write
    return {"code": code, "checks": len(checks)}


def _expected_average(optimizer: torch.optim.Optimizer) -> list:
    """Every gradient of ``optimizer`` averaged over the processes, one tensor at a time."""
    want = []
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is None:
                want.append(None)
                continue
            total = p.grad.clone()
            dist.all_reduce(total)
            want.append(total / dist.get_world_size())
    return want


def _bucket_cases(out: Path, rank: int) -> None:
    """Bucketed averaging of a small network's gradients in each way a step can use them;
    writes, per case, whether the averages equal the one-tensor-at-a-time ones, and how many
    buckets started during backward passes, to ``OUT_DIR/buckets_rank<R>.json``."""
    ddp.init_process_group(world_from_env(), torch.device("cpu"))
    torch.manual_seed(0)  # the same weights on every process
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    sync = GradBuckets(bucket_mb=100 / 2**20)  # 100 bytes: a bucket per one or two tensors
    torch.manual_seed(1 + rank)  # each process its own data

    def backward() -> None:
        net(torch.randn(3, 4)).square().sum().backward()

    def clip() -> None:
        backward()
        net[4].weight.grad.mul_(0.5)  # the first bucket's, after it started

    def twice() -> None:
        backward()
        backward()

    def zeroed() -> None:
        backward()
        optimizer.zero_grad(set_to_none=True)
        backward()

    def frozen() -> None:
        net[0].weight.requires_grad_(False)
        backward()
        net[0].weight.requires_grad_(True)

    results: dict = {}
    for label, make in [("first", backward), ("overlapped", backward), ("two_backwards", twice),
                        ("clipped", clip), ("zeroed", zeroed), ("frozen", frozen),
                        ("again", backward)]:
        optimizer.zero_grad(set_to_none=True)
        before = sync.started_in_backward
        make()
        want = _expected_average(optimizer)
        sync(optimizer)
        got = [p.grad for p in net.parameters()]
        same = all((a is None and b is None) or (a is not None and b is not None
                                                 and torch.equal(a, b))
                   for a, b in zip(got, want, strict=True))
        results[label] = {"equal": same, "started_in_backward": sync.started_in_backward - before}
        optimizer.step()
    results["plans"] = [[[tuple(p.shape) for p in bucket] for bucket in plan]
                        for plan in sync.plans()]
    replaced = torch.optim.SGD(list(net.parameters())[2:], lr=0.1)  # takes over 4 of them
    backward()
    sync(replaced)
    results["plans_after_replacing"] = [[len(bucket) for bucket in plan] for plan in sync.plans()]
    sync.remove()
    results["hooks_after_remove"] = _hook_count(net.parameters())
    (out / f"buckets_rank{rank}.json").write_text(json.dumps(results))


def main(jobs: Path, runs: Path, out: Path) -> None:
    launch.build_recipe = _capturing_build
    GradBuckets.remove = _recording_remove
    Trainer.resume = _capturing_resume
    ddp.shutdown = lambda: None  # one process group for every command (left at the end)
    rank = world_from_env().rank
    spec = json.loads(jobs.read_text())
    if spec.get("buckets"):
        _bucket_cases(out, rank)
    for label, (data, extras) in spec.get("runs", {}).items():
        _train(label, data, extras, runs, out, rank)
    for label, argv in spec.get("commands", {}).items():
        (out / f"{label}_rank{rank}.json").write_text(json.dumps(_command(argv, rank)))
    shutdown()


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:4]))
    exit_process(0)  # as the img2img command ends: no interpreter teardown after the group
