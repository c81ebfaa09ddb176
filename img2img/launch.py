"""Start, resume or describe a training run: the layer above the families and the engine.

Everything that can fail on bad input (config checks a family adds, dataset discovery, a first
decoded sample, network construction) runs before a run directory is made, so a failed start
leaves nothing behind; a run that fails before writing its first checkpoint has its directory
removed. The training split is discovered once per run: a command's own check of its files
(``check_data``) reads what that discovery found. A resume checks the checkpoint's checksums
and that its networks fit its config (compared on the meta device, before any memory is
allocated), holds the run's lock, clears unfinished writes a kill left behind and drops metric
lines logged after the checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from img2img.checkpoints import (
    check_layouts,
    load_checkpoint,
    require_entries,
    resolve_checkpoint,
)
from img2img.config import ConfigError, DataConfig, RunConfig, TrainConfig, option_flags
from img2img.data.dataset import UnreadableDatasetError, dataset_files
from img2img.data.discover import DatasetLayoutError
from img2img.data.seeding import mix_seed
from img2img.engine import distributed as ddp
from img2img.engine.backends import apply_backends, choose_backends
from img2img.engine.device import Precision, resolve_device
from img2img.engine.distributed import World
from img2img.engine.grad_buckets import GradBuckets
from img2img.engine.memory import MemoryEstimate, check_fits, estimate_training_memory
from img2img.engine.observers import Observer
from img2img.engine.progress import Reporter
from img2img.engine.rng import seed_everything
from img2img.engine.rundir import RunDir, create_run_dir, open_run_dir
from img2img.engine.tensorboard import TensorBoardObserver, check_tensorboard
from img2img.engine.trainer import Trainer, TrainResult
from img2img.engine.wandb_run import WandbObserver, check_wandb
from img2img.families import get_family, load_run_config
from img2img.families.init_from import check_init_from, warm_start
from img2img.nn.cpu_fast import use_cpu_fast_path
from img2img.nn.cpu_only import cpu_only
from img2img.options import resumable
from img2img.report.observer import ReportObserver

log = logging.getLogger(__name__)

#: what ``--resume`` may change, by config section, as its options declare it (option names;
#: ``data`` is the dataset folder: the same dataset, moved); everything else is the run's own
RESUME_CHANGEABLE: dict[str, tuple[str, ...]] = resumable({"train": TrainConfig,
                                                           "data": DataConfig})
RESUMES_FILE = "resumes.jsonl"
#: the entries a checkpoint needs to be resumed, with their types
RESUMABLE = {"family": str, "config": dict, "step": int, "epoch": int, "epoch_step": int,
             "nets": dict, "optimizers": dict, "schedulers": dict, "rng": dict}
#: what a command checks in the training split a run found, before anything decodes it:
#: ``check_data(config, dataset)``, with the config as given (before the family resolves it)
DataCheck = Callable[[RunConfig, Dataset], object]


@dataclass(frozen=True)
class Summary:
    """What ``train --dry-run`` shows: the resolved config and the size of every network."""

    config: RunConfig
    parameters: dict[str, int]
    dataset_size: int
    steps_per_epoch: int
    sample_split: str
    resume_step: int | None = None
    changes: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    memory: MemoryEstimate | None = None


@dataclass(frozen=True)
class _Prepared:
    config: RunConfig
    dataset: Dataset
    samples: Dataset
    sample_split: str
    notes: list[str] = dataclasses.field(default_factory=list)


def build_recipe(config: RunConfig, world: World | None = None) -> Any:
    """Seed, resolve device and precision, and build the family's recipe.

    With several processes (``world``), the process group is joined, batch norm synchronised
    where the device allows, rank 0's networks copied to every process, gradients averaged
    at every optimizer step, and every process but rank 0 reseeded with its own stream; the
    notes say what was done (``recipe.notes``).
    """
    world = world or World()
    seed_everything(config.train.seed)
    device = resolve_device(config.train.device)
    precision = Precision(config.train.precision, device)
    recipe = get_family(config.family).recipe_class()(config, device, precision)
    recipe.notes = _data_parallel(recipe, world) if world.distributed else []
    apply_backends(choose_backends(device, config))
    if cpu_only(device) and not config.train.compile:
        for net in recipe.nets.values():
            use_cpu_fast_path(net)
    if config.train.channels_last:
        for net in recipe.nets.values():
            net.to(memory_format=torch.channels_last)
    if config.train.compile:
        for net in recipe.nets.values():
            net.compile(dynamic=False)  # in place: state_dict keys stay the network's own
    return recipe


def _fit(trainer: Trainer) -> TrainResult:
    """``trainer.fit()``; then the hooks of bucketed gradient averaging are removed from the
    networks (a later step would plan them again)."""
    try:
        return trainer.fit()
    finally:
        if isinstance(sync := trainer.recipe.precision.grad_sync, GradBuckets):
            sync.remove()


def _data_parallel(recipe: Any, world: World) -> list[str]:
    """Make ``recipe`` one of ``world.size`` data-parallel copies; returns notes."""
    ddp.init_process_group(world, recipe.device)
    notes = ddp.sync_batch_norms(recipe.nets, recipe.device)
    ddp.broadcast_from_main(recipe.nets.values())
    bucket_mb = recipe.config.train.bucket_mb
    recipe.precision.grad_sync = GradBuckets(bucket_mb) if bucket_mb else ddp.average_gradients
    if not world.is_main:
        seed_everything(mix_seed(recipe.config.train.seed, world.rank))
        recipe.seed_rank(world.rank)
    batch = recipe.config.train.batch_size
    exchange = (f"gradients averaged in buckets of {bucket_mb:g} MB during the backward pass"
                if bucket_mb else "gradients averaged at each optimizer step")
    notes.insert(0, f"data-parallel over {world.size} processes ({ddp.backend_for(recipe.device)}"
                    f"): batch size {batch} per process, {batch * world.size} per step; "
                    f"{exchange}")
    return notes


def _prepare(config: RunConfig, check_data: DataCheck | None = None, *,
             fresh: bool = True) -> _Prepared:
    """Resolve and validate ``config`` (networks that cannot fit in the device's memory
    included; for a ``fresh`` run, not a resume, the weights it starts from), find its data
    (``check_data`` then checks it), decode a first sample and find the split sample grids
    show; writes nothing.

    Raises:
        UnreadableDatasetError: not one example of the training split can be decoded.
    """
    given = config
    family = get_family(config.family)
    description = family.description_class()
    config, notes = description.resolve_config(config)
    description.validate(config)
    if fresh:
        check_init_from(config)  # a resume continues from its own checkpoint
    check_fits(family.recipe_class(), config, resolve_device(config.train.device))
    if config.train.tensorboard:
        check_tensorboard()
    if config.train.wandb:
        check_wandb()
    dataset = description.build_dataset(config)  # the run's one discovery of its split
    if check_data is not None:
        check_data(given, dataset)
    dataset[0]  # the first readable example: fails here, not in a run, if there is none
    config, more = _sample_interval(config, len(dataset))
    notes = [*notes, *more]
    samples, split = dataset, config.data.phase
    if config.data.phase != "val":
        with contextlib.suppress(DatasetLayoutError, FileNotFoundError, UnreadableDatasetError):
            val = description.build_dataset(config, phase="val")
            if not _same_files(val, dataset):  # else a layout without split folders
                val[0]
                samples, split = val, "val"
    return _Prepared(config, dataset, samples, split, notes)


def _sample_interval(config: RunConfig, dataset_size: int) -> tuple[RunConfig, list[str]]:
    """``config`` with its interval between sample grids fixed (from the run's length unless
    given), and a warning of a training crop that never moves."""
    train = config.train.with_sample_interval(config.train.total_steps(dataset_size))
    warning = config.data.fixed_crop_warning
    return config.replace(train=train), [] if warning is None else [f"warning: {warning}"]


def _same_files(one: Dataset, other: Dataset) -> bool:
    """Whether two datasets read the same files (False when one does not list them)."""
    if not (hasattr(one, "items") and hasattr(other, "items")):
        return False
    return dataset_files(one) == dataset_files(other)


def _summary(prepared: _Prepared, recipe: Any, **extra: Any) -> Summary:
    config = prepared.config
    params = {k: sum(p.numel() for p in net.parameters()) for k, net in recipe.nets.items()}
    steps = -(-len(prepared.dataset) // config.train.batch_size)
    return Summary(config, params, len(prepared.dataset), steps, prepared.sample_split,
                   notes=list(prepared.notes), memory=_memory(prepared), **extra)


def _memory(prepared: _Prepared) -> MemoryEstimate | None:
    """The step's memory estimate, for families whose recipe can give one."""
    recipe_class = get_family(prepared.config.family).recipe_class()
    try:
        return estimate_training_memory(recipe_class, prepared.config, prepared.dataset[0])
    except NotImplementedError:
        return None


def check_config(config: RunConfig, check_data: DataCheck | None = None) -> list[str]:
    """Everything a run checks before it starts (options, data layout, ``check_data`` on the
    data found, a first example), without building networks or writing anything; returns the
    resolution notes."""
    return list(_prepare(config, check_data).notes)


def summarize(config: RunConfig, check_data: DataCheck | None = None) -> Summary:
    """Build everything a run needs (``check_data`` checks the data found), write nothing,
    and describe it."""
    prepared = _prepare(config, check_data)
    recipe = build_recipe(prepared.config)
    prepared.notes.extend(warm_start(recipe))  # what the run would load (--init-from)
    return _summary(prepared, recipe)


def train(
    config: RunConfig,
    runs_dir: str | Path = "runs",
    *,
    num_workers: int | None = None,
    reporter: Reporter | None = None,
    world: World | None = None,
    check_data: DataCheck | None = None,
) -> tuple[RunDir, TrainResult]:
    """Create a new run directory under ``runs_dir`` and train ``config`` in it.

    Under ``torchrun`` (``world`` defaults to the environment's) every process calls this;
    rank 0 alone creates the run directory and writes into it. ``check_data`` checks the
    training split this process found, before anything decodes it (every process calls it).
    """
    world = world or ddp.world_from_env()
    config = config.replace(train=dataclasses.replace(config.train, world_size=world.size))
    prepared = _prepare(config, check_data)
    config = prepared.config
    recipe = build_recipe(config, world)
    notes = [*prepared.notes, *recipe.notes, *warm_start(recipe)]
    if world.distributed:
        ddp.broadcast_from_main(recipe.nets.values())  # warm-started weights, from rank 0
    run = create_run_dir(runs_dir, config.name) if world.is_main else None
    run = RunDir(Path(ddp.broadcast_object(str(run.path) if run else None)))
    try:
        with run.lock() if world.is_main else contextlib.nullcontext():
            if world.is_main:
                run.write_config(config.to_dict())
                log.info("run directory: %s", run.path)
            trainer = _trainer(recipe, prepared, run, num_workers, reporter, world)
            for note in notes:
                trainer.reporter.message(note)
            return run, _fit(trainer)
    except BaseException:
        if world.is_main:
            _remove_if_unused(run)
        raise


def resume(
    run_dir: str | Path,
    changes: Mapping[str, Any] | None = None,
    *,
    family: str | None = None,
    num_workers: int | None = None,
    reporter: Reporter | None = None,
    dry_run: bool = False,
    world: World | None = None,
) -> tuple[RunDir, TrainResult | Summary]:
    """Continue the run in ``run_dir`` exactly where its latest checkpoint left off.

    ``changes`` maps option names to new values; only those in :data:`RESUME_CHANGEABLE` are
    allowed (the run's data, model and optimisation stay its own). They are applied, written
    to the run's ``config.json`` and recorded in ``resumes.jsonl``. ``family``, when given,
    must be the run's. With ``dry_run`` nothing is trained or written and the summary is
    returned instead of a result. Under ``torchrun`` every process calls this (rank 0 writes);
    the number of processes may differ from the run's.
    """
    world = World() if dry_run else (world or ddp.world_from_env())
    run = open_run_dir(run_dir)
    holding = run.lock() if world.is_main and not dry_run else contextlib.nullcontext()
    with holding:
        saved, config = _resumable(run, changes, family)
        if not dry_run:
            config = config.replace(train=dataclasses.replace(config.train,
                                                              world_size=world.size))
        prepared = _prepare_resume(config)
        recipe = build_recipe(prepared.config, world)
        if dry_run:
            return run, _summary(prepared, recipe, resume_step=saved["step"],
                                 changes=dict(changes or {}))
        if world.is_main:
            run.remove_stale_temps()
            _record_resume(run, config, saved, changes or {})
        trainer = _trainer(recipe, prepared, run, num_workers, reporter, world)
        for note in recipe.notes:
            trainer.reporter.message(note)
        trainer.resume(saved)
        return run, _fit(trainer)


def check_resume(run_dir: str | Path, changes: Mapping[str, Any] | None = None, *,
                 family: str | None = None) -> list[str]:
    """Everything a resume checks before it starts (the checkpoint and its networks, the
    family, the changes, the data), without building networks or writing anything; returns
    the resolution notes."""
    _, config = _resumable(open_run_dir(run_dir), changes, family)
    return list(_prepare_resume(config).notes)


def _resumable(run: RunDir, changes: Mapping[str, Any] | None, family: str | None
               ) -> tuple[dict, RunConfig]:
    """The run's latest checkpoint and its config with ``changes`` applied, checked: the
    entries a resume needs, the family (when given), the changes, the networks' layouts."""
    saved = load_checkpoint(run.path, map_location="cpu")
    require_entries(saved, resolve_checkpoint(run.path), RESUMABLE)
    if family is not None and saved["family"] != family:
        raise ConfigError(
            f"--resume {run.path}: the run is a {saved['family']} run, not {family}; "
            f"use 'img2img train --resume {run.path}'"
        )
    config = apply_resume_changes(load_run_config(saved["config"]), changes or {})
    # the saved config is the resolved one the networks were built from
    check_networks_fit(config, saved["nets"], resolve_checkpoint(run.path))
    return saved, config


def _record_resume(run: RunDir, config: RunConfig, saved: dict, changes: Mapping[str, Any]
                   ) -> None:
    """Write the changed config, and what changed to ``resumes.jsonl``."""
    moved = config.train.world_size != saved["config"]["train"].get("world_size", 1)
    if changes or moved:
        run.write_config(config.to_dict())
    if changes:
        recorded = dict(changes)
        if "data" in recorded:  # where it is, whatever folder this resume ran in
            recorded["data"] = config.data.root
        record = {"time": time.time(), "step": saved["step"], "changes": recorded}
        with open(run.path / RESUMES_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def _prepare_resume(config: RunConfig) -> _Prepared:
    """:func:`_prepare`, saying how to point a resume at a dataset that moved."""
    try:
        return _prepare(config, fresh=False)
    except DatasetLayoutError as exc:
        if os.path.isdir(config.data.root):
            raise
        raise DatasetLayoutError(
            f"{exc}; if the dataset moved, give its new place with --data PATH along with "
            "--resume", exc.root, exc.phase
        ) from exc


def check_networks_fit(config: RunConfig, nets: Mapping[str, Any], source: Any) -> None:
    """Fail if the saved ``nets`` are not the networks ``config`` describes.

    The family's recipe is built on the meta device (no memory), so an absurd config in a
    crafted or damaged checkpoint (``ngf=200000``) is refused before anything is allocated.

    Raises:
        CheckpointError: a network is missing or its layout differs.
    """
    recipe_class = get_family(config.family).recipe_class()
    meta = torch.device("meta")
    try:
        with meta:
            recipe = recipe_class(config, meta, Precision("fp32", meta))
    except Exception as exc:  # noqa: BLE001 - a family that cannot be built on meta: no check
        log.debug("networks not checked on the meta device: %s", exc)
        return
    recipe.build_from_state(nets)
    check_layouts(recipe.nets, nets, source)


def apply_resume_changes(config: RunConfig, changes: Mapping[str, Any]) -> RunConfig:
    """``config`` with ``changes`` applied, refusing any option a resume may not change."""
    sections: dict[str, dict[str, Any]] = {}
    refused = []
    for name, value in changes.items():
        section = next((s for s, names in RESUME_CHANGEABLE.items() if name in names), None)
        if section is None:
            refused.append(name)
        elif name == "data":  # the dataset folder, moved
            sections.setdefault("data", {}).update(
                root=os.path.abspath(value), root_given=str(value)
            )
        else:
            sections.setdefault(section, {})[name] = value
    if refused:
        flags = option_flags(sorted(refused))
        allowed = option_flags(n for names in RESUME_CHANGEABLE.values() for n in names)
        raise ConfigError(
            f"{flags}: cannot change when resuming (the run keeps its own data, model and "
            f"optimisation settings); a resume may change: {allowed}"
        )
    replaced = {
        section: dataclasses.replace(getattr(config, section), **values)
        for section, values in sections.items()
    }
    return config.replace(**replaced)


def _trainer(
    recipe: Any,
    prepared: _Prepared,
    run: RunDir,
    num_workers: int | None,
    reporter: Reporter | None,
    world: World,
) -> Trainer:
    config = prepared.config
    workers = config.data.num_workers if num_workers is None else num_workers
    return Trainer(recipe, prepared.dataset, run, num_workers=workers, reporter=reporter,
                   sample_dataset=prepared.samples,
                   observers=observers(config, run) if world.is_main else [], world=world)


def observers(config: RunConfig, run: RunDir) -> list[Observer]:
    """What watches a run besides its metrics file: the report, TensorBoard and Weights &
    Biases if asked for."""
    train = config.train
    watching: list[Observer] = [ReportObserver(run.path, train.report_every)]
    if train.tensorboard:
        watching.append(TensorBoardObserver(run.path))
    if train.wandb:
        watching.append(WandbObserver(run.path, config.to_dict(), project=train.wandb_project,
                                      entity=train.wandb_entity, name=train.wandb_name))
    return watching


def _remove_if_unused(run: RunDir) -> None:
    """Delete a run directory that never received a checkpoint (nothing in it to resume)."""
    if run.checkpoints.is_dir() and any(run.checkpoints.iterdir()):
        return
    shutil.rmtree(run.path, ignore_errors=True)
    log.info("removed %s: the run stopped before its first checkpoint", run.path)

