"""The training loop shared by every model family.

The trainer drives a :class:`~img2img.engine.recipe.TrainingRecipe` over a dataset: data
order, epochs, logging, sample grids, checkpoints and exact resume. It knows nothing about any
one family.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, default_collate

from img2img.data.dataset import SKIPPED_SEPARATOR
from img2img.data.sampler import make_loader
from img2img.engine import distributed as ddp
from img2img.engine.checkpoint import (
    epoch_checkpoint_name,
    keep_copy,
    prune_step_checkpoints,
    save_checkpoint,
    step_checkpoint_name,
)
from img2img.engine.distributed import World
from img2img.engine.observers import Observer
from img2img.engine.progress import NullReporter, Reporter
from img2img.engine.recipe import TrainingRecipe
from img2img.engine.rng import rng_state, set_rng_state
from img2img.engine.rundir import RunDir
from img2img.engine.samples import save_grid

log = logging.getLogger(__name__)

SAMPLE_ROWS = 4
SAMPLE_SEED = 0


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite: training stops (every process together)."""


@dataclass
class Position:
    """Where training is: optimisation steps done, current epoch and steps into it."""

    step: int = 0
    epoch: int = 0
    epoch_step: int = 0


@dataclass(frozen=True)
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    step: int
    epoch: int
    seconds: float
    checkpoint: Path
    last_losses: dict[str, float]
    skipped_files: list[str]
    #: mean seconds per step spent waiting for data (decoding, augmentation, transfer)
    data_time: float = 0.0


class Trainer:
    """Trains ``recipe`` on ``dataset``, writing into ``run``."""

    def __init__(
        self,
        recipe: TrainingRecipe,
        dataset: Dataset,
        run: RunDir,
        *,
        num_workers: int = 0,
        reporter: Reporter | None = None,
        sample_dataset: Dataset | None = None,
        observers: Sequence[Observer] = (),
        world: World | None = None,
    ) -> None:
        self.recipe = recipe
        self.dataset = dataset
        #: where sample grids come from: held-out images when the run has them
        self.sample_dataset = dataset if sample_dataset is None else sample_dataset
        self.run = run
        self.cfg = recipe.config.train
        #: this process's place among the data-parallel processes; only rank 0 writes
        self.world = world or World()
        main = self.world.is_main
        self.reporter = (reporter if main else None) or NullReporter()
        #: told of every log record, sample grid, step and the end (TensorBoard, report)
        self.observers = list(observers) if main else []
        self.position = Position()
        #: running statistics follow rank 0 (batch norm not synchronised: CPU processes)
        self._sync_buffers = self.world.distributed and any(
            True for net in recipe.nets.values() for _ in net.buffers())
        self._saved_at: Position | None = None  # where latest.pt was last written
        self.skipped_files: set[str] = set()
        self.loader, self.sampler = make_loader(
            dataset,
            batch_size=self.cfg.batch_size,
            num_workers=num_workers,
            seed=self.cfg.seed,
            shuffle=True,
            pin_memory=recipe.device.type == "cuda",
            num_replicas=self.world.size,
            rank=self.world.rank,
        )
        self.steps_per_epoch = len(self.loader)
        if self.steps_per_epoch == 0:
            raise ValueError("the dataset is empty: no batch can be formed")

    # --- state --------------------------------------------------------------------------------
    def checkpoint_payload(self, rng_ranks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The checkpoint dict; ``rng_ranks`` holds every process's RNG state, by rank."""
        rng_ranks = rng_ranks or [rng_state()]
        return {
            "family": self.recipe.family,
            "config": self.recipe.config.to_dict(),
            "step": self.position.step,
            "epoch": self.position.epoch,
            "epoch_step": self.position.epoch_step,
            "world_size": self.world.size,
            "rng": rng_ranks[0],
            "rng_ranks": rng_ranks,
            **self.recipe.state_dict(),
        }

    def save(self, collective: bool = True) -> Path:
        """Write the latest checkpoint atomically (rank 0 writes; every process calls this).

        ``collective`` gathers every process's RNG state; without it (an interrupt, when the
        other processes may be gone) only rank 0's is saved.
        """
        rngs = ddp.gather_objects(rng_state()) if collective else None
        path = self.run.latest_checkpoint
        if self.world.is_main:
            save_checkpoint(path, self.checkpoint_payload(rngs))
            log.info("checkpoint written: %s (step %d)", path, self.position.step)
        if collective:
            ddp.barrier()  # the file exists for every process once any returns
        self._saved_at = dataclasses.replace(self.position)
        return path

    def _save_unless_saved(self) -> Path:
        """The latest checkpoint, written only if training moved since it last was."""
        # every process must decide alike: only rank 0 may see the file (several machines)
        saved = self.world.distributed or self.run.latest_checkpoint.is_file()
        if self._saved_at == self.position and saved:
            return self.run.latest_checkpoint
        return self.save()

    def _save_periodic(self) -> None:
        """``latest.pt``, plus a step-named copy when the newest few are kept."""
        path = self.save()
        keep = self.cfg.keep_checkpoints
        if keep and self.world.is_main:
            kept = keep_copy(path, step_checkpoint_name(self.position.step))
            log.info("checkpoint kept: %s", kept)
            for old in prune_step_checkpoints(self.run.checkpoints, keep):
                log.info("checkpoint removed (keeping the newest %d): %s", keep, old)

    def _save_epoch(self) -> None:
        """``latest.pt`` and a kept ``epoch_NNNN.pt`` after every K-th epoch."""
        every = self.cfg.save_every_epochs
        if every and self.position.epoch % every == 0:
            path = self._save_unless_saved()
            if not self.world.is_main:
                return
            kept = keep_copy(path, epoch_checkpoint_name(self.position.epoch))
            log.info("checkpoint kept: %s", kept)

    def resume(self, data: dict[str, Any]) -> None:
        """Restore networks, optimizers, schedules, RNG and data position from a checkpoint.

        ``data`` is what :func:`~img2img.engine.checkpoint.load_checkpoint` returned.
        """
        if data["family"] != self.recipe.family:
            raise ValueError(
                f"checkpoint holds a {data['family']} run; cannot resume it as {self.recipe.family}"
            )
        self.recipe.load_state_dict(data)
        saved_world = int(data.get("world_size", 1))
        epoch_step = data["epoch_step"]
        if saved_world != self.world.size:
            # the same samples of the epoch are done, shared among a different number of processes
            done = epoch_step * self.cfg.batch_size * saved_world
            epoch_step = done // (self.cfg.batch_size * self.world.size)
            self.reporter.message(
                f"resuming {saved_world}-process training on {self.world.size} processes: "
                f"{done} samples of epoch {data['epoch']} done, continuing at step "
                f"{epoch_step} of the epoch; processes without a saved random state start "
                "from fresh seeds"
            )
        self.position = Position(data["step"], data["epoch"], epoch_step)
        rngs = data.get("rng_ranks") or [data["rng"]]
        if self.world.rank < len(rngs):
            set_rng_state(rngs[self.world.rank])
        self._saved_at = None
        log.info("resumed from step %d (epoch %d)", self.position.step, self.position.epoch)

    # --- loop ---------------------------------------------------------------------------------
    @property
    def total_steps(self) -> int:
        planned = self.cfg.total_epochs * self.steps_per_epoch
        return min(planned, self.cfg.max_steps) if self.cfg.max_steps else planned

    def _done(self) -> bool:
        pos = self.position
        return pos.step >= self.total_steps or pos.epoch >= self.cfg.total_epochs

    def fit(self) -> TrainResult:
        """Train until ``max_steps`` or the last epoch; always ends with a checkpoint."""
        started = time.perf_counter()
        sample_batch = self._sample_batch()
        for line in self._plan():
            self.reporter.message(line)
        self.reporter.start(self.total_steps, self.position.step, self.position.epoch)
        window = _Window()
        last: dict[str, float] = {}
        self.recipe.train(True)
        for observer in self.observers:
            observer.on_start(self.position.step)
        try:
            while not self._done():
                self.sampler.set_epoch(self.position.epoch)
                self.sampler.set_start(self.position.epoch_step * self.cfg.batch_size)
                waited = time.perf_counter()
                for batch in self.loader:
                    data_time = time.perf_counter() - waited
                    losses = self.recipe.train_step(batch)
                    self._check_finite(losses)
                    if self._sync_buffers:
                        ddp.broadcast_from_main(self.recipe.nets.values(), parameters=False)
                    self.position.step += 1
                    self.position.epoch_step += 1
                    window.add(losses, _batch_size(batch), data_time)
                    self._note_skipped(batch)
                    last = self._after_step(window, sample_batch) or last
                    for observer in self.observers:
                        observer.on_step(self.position.step)
                    if self.position.step >= self.total_steps:
                        break
                    waited = time.perf_counter()
                if self.position.epoch_step >= self.steps_per_epoch:
                    self.recipe.end_epoch()
                    self.position.epoch += 1
                    self.position.epoch_step = 0
                    self._save_epoch()
        except KeyboardInterrupt:
            self.reporter.message(f"interrupted: saving a checkpoint at step {self.position.step}")
            self.save(collective=False)
            self._end()
            raise
        finally:
            self.reporter.close()
        if window.count:
            last = self._log(window)
        path = self._save_unless_saved()
        self._end()
        if self.skipped_files:
            log.warning("%d unreadable files were skipped", len(self.skipped_files))
        return TrainResult(
            self.position.step,
            self.position.epoch,
            time.perf_counter() - started,
            path,
            last,
            sorted(self.skipped_files),
            window.data_time_total / max(1, window.steps_total),
        )

    def _check_finite(self, losses: dict[str, torch.Tensor]) -> None:
        """Stop every process together when any process's loss is NaN or infinite."""
        values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        bad = not bool(torch.isfinite(values).all())
        if not ddp.any_rank(bad, self.recipe.device):
            return
        step = self.position.step + 1
        names = [k for k, v in losses.items() if not torch.isfinite(v).all()]
        where = f" ({', '.join(names)} on rank {self.world.rank})" if names else ""
        message = (
            f"step {step}: a loss is not finite{where}; training stopped without saving this "
            f"step (the latest checkpoint holds step {self._saved_at.step if self._saved_at else 0}"
            "); lower --lr or use --precision fp32/bf16"
        )
        if self.world.is_main:
            self.reporter.message(message)
        raise NonFiniteLossError(message)

    def _end(self) -> None:
        for observer in self.observers:
            observer.on_end(self.position.step)

    def _note_skipped(self, batch: dict) -> None:
        for entry in batch.get("skipped", ()):
            if entry:
                self.skipped_files.update(entry.split(SKIPPED_SEPARATOR))

    def _after_step(self, window: _Window, sample_batch: dict) -> dict[str, float] | None:
        step = self.position.step
        logged = None
        if step % self.cfg.log_every == 0:
            logged = self._log(window)
        if step % self.cfg.sample_every == 0:
            self._write_samples(sample_batch)
        if step % self.cfg.checkpoint_every == 0:
            self._save_periodic()
        return logged

    def _plan(self) -> list[str]:
        """What :meth:`fit` is about to do: device, precision, length, resume point."""
        pos, per_epoch, epochs = self.position, self.steps_per_epoch, self.cfg.total_epochs
        planned = epochs * per_epoch
        length = (
            f"{planned} steps in all"
            if self.total_steps == planned
            else f"stopping after {self.total_steps} of {planned} steps (max_steps)"
        )
        lines = [
            f"training on {_device_text(self.recipe.device)} in {self.cfg.precision}: "
            f"{per_epoch} steps per epoch, {epochs} epochs, {length}"
        ]
        if pos.step:
            lines.append(
                f"resuming at step {pos.step} (epoch {pos.epoch}, step {pos.epoch_step} of "
                f"{per_epoch} in it)"
            )
        return lines

    def _log(self, window: _Window) -> dict[str, float]:
        """Losses averaged over the window and every process; rank 0 writes and shows them."""
        losses, images_per_s, data_time = window.flush()
        record = {
            "step": self.position.step,
            "epoch": self.position.epoch,
            "lr": self.recipe.learning_rate,
            "images_per_s": images_per_s,
            "data_time": data_time,
            "time": time.time(),
            **losses,
        }
        if not self.world.is_main:
            return losses
        self.run.append_metrics(record)
        for observer in self.observers:
            observer.on_log(record)
        self.reporter.update(self.position.step, self.position.epoch, losses, images_per_s,
                             data_time=data_time)
        return losses

    def _sample_batch(self) -> dict:
        """A fixed batch spread evenly over the dataset."""
        source = self.sample_dataset
        count = min(SAMPLE_ROWS, len(source))
        picks = [i * len(source) // count for i in range(count)]
        return default_collate([source[(i, SAMPLE_SEED)] for i in picks])

    def _write_samples(self, batch: dict) -> None:
        # every process translates (synchronised batch norm needs them all); rank 0 writes
        columns = self.recipe.sample(batch)
        if not self.world.is_main:
            return
        path = self.run.samples / f"step_{self.position.step:08d}.png"
        grid = save_grid(path, columns)
        log.info("samples written: %s", path)
        for observer in self.observers:
            observer.on_samples(self.position.step, path, grid)


class _Window:
    """Losses and throughput accumulated between two log lines."""

    def __init__(self) -> None:
        self._reset()

    steps_total = 0
    data_time_total = 0.0

    def _reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.images = 0
        self.data_time = 0.0
        self.started = time.perf_counter()

    def add(self, losses: dict[str, torch.Tensor], images: int, data_time: float = 0.0) -> None:
        for k, v in losses.items():
            self.sums[k] = self.sums[k] + v.float() if k in self.sums else v.float().clone()
        self.count += 1
        self.images += images
        self.data_time += data_time
        self.steps_total += 1
        self.data_time_total += data_time

    def flush(self) -> tuple[dict[str, float], float, float]:
        """Mean losses over the window and all processes, images/s of all processes together,
        and the mean data time per step."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        names = list(self.sums)
        local = [self.sums[k].detach().reshape(()).cpu().double() for k in names]
        totals = ddp.sum_over_ranks(
            torch.stack([*local, torch.tensor(float(self.count), dtype=torch.float64),
                         torch.tensor(float(self.images), dtype=torch.float64),
                         torch.tensor(self.data_time, dtype=torch.float64)])
            .to(next(iter(self.sums.values())).device if self.sums else "cpu")
        ).cpu().tolist()
        count, images, data_time = totals[-3:]
        means = {k: v / count for k, v in zip(names, totals[:-3], strict=True)}
        ips = images / elapsed
        self._reset()
        finite = {k: (v if math.isfinite(v) else float("nan")) for k, v in means.items()}
        return finite, ips, data_time / max(count, 1.0)


def _device_text(device: torch.device) -> str:
    """``cpu``, or ``cuda:0 (NVIDIA H100 80GB HBM3)`` with the accelerator's name."""
    if device.type != "cuda":
        return str(device)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def _batch_size(batch: dict) -> int:
    return next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))
