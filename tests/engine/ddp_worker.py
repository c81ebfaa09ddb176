"""Run by ``torchrun`` in the data-parallel tests: trains the configs given, through the real
launch path, and saves every process's networks after each run.

Usage: ``ddp_worker.py CONFIG_JSON RUNS_DIR OUT_DIR``. The JSON holds ``{label: [config,
resume]}``; each config is trained for 2 steps and, when ``resume`` is true, resumed to 3 and
trained straight to 3 in a second run.
Networks land in ``OUT_DIR/<label>_<phase>_rank<R>.pt`` (phase: ``two``, ``resumed``,
``straight``) and the run directories in ``OUT_DIR/<label>_runs.json``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import torch

from img2img import launch
from img2img.engine.distributed import shutdown, world_from_env
from img2img.families import load_run_config

built: list = []
_build = launch.build_recipe


def _capturing_build(*args, **kwargs):
    recipe = _build(*args, **kwargs)
    built.append(recipe)
    return recipe


def _save_nets(path: Path) -> None:
    nets = built[-1].nets
    torch.save({name: net.state_dict() for name, net in nets.items()}, path)


def main(configs: Path, runs: Path, out: Path) -> None:
    launch.build_recipe = _capturing_build
    rank = world_from_env().rank
    for label, (data, resume) in json.loads(configs.read_text()).items():
        config = load_run_config(data)
        short = config.replace(train=dataclasses.replace(config.train, max_steps=2))
        run, _ = launch.train(short, runs)
        _save_nets(out / f"{label}_two_rank{rank}.pt")
        if not resume:
            continue
        launch.resume(run.path, {"max_steps": 3})
        _save_nets(out / f"{label}_resumed_rank{rank}.pt")
        straight, _ = launch.train(config.replace(name=config.name + "_straight"), runs)
        _save_nets(out / f"{label}_straight_rank{rank}.pt")
        if rank == 0:
            (out / f"{label}_runs.json").write_text(json.dumps([str(run.path),
                                                               str(straight.path)]))
    shutdown()


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:4]))
