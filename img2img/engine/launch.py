"""Start or resume a training run from a :class:`~img2img.config.RunConfig`."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from img2img.config import RunConfig
from img2img.engine.checkpoint import load_checkpoint
from img2img.engine.device import Precision, keep_cpu_memory_warm, resolve_device
from img2img.engine.progress import Reporter
from img2img.engine.rng import seed_everything
from img2img.engine.rundir import RunDir, create_run_dir, open_run_dir
from img2img.engine.trainer import Trainer, TrainResult
from img2img.models import recipe_class
from img2img.models.base import Recipe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Summary:
    """What ``train --dry-run`` shows: the resolved config and the size of every network."""

    config: RunConfig
    parameters: dict[str, int]
    dataset_size: int
    steps_per_epoch: int


def build_recipe(config: RunConfig) -> Recipe:
    """Seed, resolve device and precision, and build the family's recipe."""
    seed_everything(config.train.seed)
    device = resolve_device(config.train.device)
    if device.type == "cpu":
        keep_cpu_memory_warm()
    precision = Precision(config.train.precision, device)
    recipe = recipe_class(config.family)(config, device, precision)
    if config.train.channels_last:
        for net in recipe.nets.values():
            net.to(memory_format=torch.channels_last)
    return recipe


def summarize(config: RunConfig) -> Summary:
    """Build everything a run needs, write nothing, and describe it."""
    dataset = recipe_class(config.family).build_dataset(config)
    recipe = build_recipe(config)
    params = {k: sum(p.numel() for p in net.parameters()) for k, net in recipe.nets.items()}
    steps = -(-len(dataset) // config.train.batch_size)
    return Summary(config, params, len(dataset), steps)


def train(
    config: RunConfig,
    runs_dir: str | Path = "runs",
    *,
    num_workers: int | None = None,
    reporter: Reporter | None = None,
) -> tuple[RunDir, TrainResult]:
    """Create a new run directory under ``runs_dir`` and train ``config`` in it."""
    # everything that can fail on bad input runs before the run directory is made
    dataset = recipe_class(config.family).build_dataset(config)
    recipe = build_recipe(config)
    run = create_run_dir(runs_dir, config.name)
    run.write_config(config.to_dict())
    log.info("run directory: %s", run.path)
    trainer = _trainer(recipe, dataset, run, num_workers, reporter)
    return run, trainer.fit()


def resume(
    run_dir: str | Path,
    *,
    max_steps: int | None = None,
    device: str | None = None,
    num_workers: int | None = None,
    reporter: Reporter | None = None,
) -> tuple[RunDir, TrainResult]:
    """Continue the run in ``run_dir`` exactly where its latest checkpoint left off.

    ``max_steps`` and ``device`` may be changed; everything else comes from the checkpoint.
    """
    run = open_run_dir(run_dir)
    saved = load_checkpoint(run.path, map_location="cpu")
    config = RunConfig.from_dict(saved["config"])
    changes = {k: v for k, v in {"max_steps": max_steps, "device": device}.items() if v is not None}
    if changes:
        config = config.replace(train=dataclasses.replace(config.train, **changes))
    dataset = recipe_class(config.family).build_dataset(config)
    trainer = _trainer(build_recipe(config), dataset, run, num_workers, reporter)
    trainer.resume(saved)
    return run, trainer.fit()


def _trainer(
    recipe: Recipe,
    dataset: Dataset,
    run: RunDir,
    num_workers: int | None,
    reporter: Reporter | None,
) -> Trainer:
    workers = recipe.config.data.num_workers if num_workers is None else num_workers
    return Trainer(recipe, dataset, run, num_workers=workers, reporter=reporter)
