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
from img2img.engine.checkpoint import (
    epoch_checkpoint_name,
    keep_copy,
    prune_step_checkpoints,
    save_checkpoint,
    step_checkpoint_name,
)
from img2img.engine.observers import Observer
from img2img.engine.progress import NullReporter, Reporter
from img2img.engine.recipe import TrainingRecipe
from img2img.engine.rng import rng_state, set_rng_state
from img2img.engine.rundir import RunDir
from img2img.engine.samples import save_grid

log = logging.getLogger(__name__)

SAMPLE_ROWS = 4
SAMPLE_SEED = 0


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
    ) -> None:
        self.recipe = recipe
        self.dataset = dataset
        #: where sample grids come from: held-out images when the run has them
        self.sample_dataset = dataset if sample_dataset is None else sample_dataset
        self.run = run
        self.cfg = recipe.config.train
        self.reporter = reporter or NullReporter()
        #: told of every log record, sample grid, step and the end (TensorBoard, report)
        self.observers = list(observers)
        self.position = Position()
        self._saved_at: Position | None = None  # where latest.pt was last written
        self.skipped_files: set[str] = set()
        self.loader, self.sampler = make_loader(
            dataset,
            batch_size=self.cfg.batch_size,
            num_workers=num_workers,
            seed=self.cfg.seed,
            shuffle=True,
            pin_memory=recipe.device.type == "cuda",
        )
        self.steps_per_epoch = len(self.loader)
        if self.steps_per_epoch == 0:
            raise ValueError("the dataset is empty: no batch can be formed")

    # --- state --------------------------------------------------------------------------------
    def checkpoint_payload(self) -> dict[str, Any]:
        return {
            "family": self.recipe.family,
            "config": self.recipe.config.to_dict(),
            "step": self.position.step,
            "epoch": self.position.epoch,
            "epoch_step": self.position.epoch_step,
            "rng": rng_state(),
            **self.recipe.state_dict(),
        }

    def save(self) -> Path:
        """Write the latest checkpoint atomically."""
        path = save_checkpoint(self.run.latest_checkpoint, self.checkpoint_payload())
        self._saved_at = dataclasses.replace(self.position)
        log.info("checkpoint written: %s (step %d)", path, self.position.step)
        return path

    def _save_unless_saved(self) -> Path:
        """The latest checkpoint, written only if training moved since it last was."""
        if self._saved_at == self.position and self.run.latest_checkpoint.is_file():
            return self.run.latest_checkpoint
        return self.save()

    def _save_periodic(self) -> None:
        """``latest.pt``, plus a step-named copy when the newest few are kept."""
        path = self.save()
        keep = self.cfg.keep_checkpoints
        if keep:
            kept = keep_copy(path, step_checkpoint_name(self.position.step))
            log.info("checkpoint kept: %s", kept)
            for old in prune_step_checkpoints(self.run.checkpoints, keep):
                log.info("checkpoint removed (keeping the newest %d): %s", keep, old)

    def _save_epoch(self) -> None:
        """``latest.pt`` and a kept ``epoch_NNNN.pt`` after every K-th epoch."""
        every = self.cfg.save_every_epochs
        if every and self.position.epoch % every == 0:
            kept = keep_copy(self._save_unless_saved(), epoch_checkpoint_name(self.position.epoch))
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
        self.position = Position(data["step"], data["epoch"], data["epoch_step"])
        set_rng_state(data["rng"])
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
                for batch in self.loader:
                    losses = self.recipe.train_step(batch)
                    self.position.step += 1
                    self.position.epoch_step += 1
                    window.add(losses, _batch_size(batch))
                    self._note_skipped(batch)
                    last = self._after_step(window, sample_batch) or last
                    for observer in self.observers:
                        observer.on_step(self.position.step)
                    if self.position.step >= self.total_steps:
                        break
                if self.position.epoch_step >= self.steps_per_epoch:
                    self.recipe.end_epoch()
                    self.position.epoch += 1
                    self.position.epoch_step = 0
                    self._save_epoch()
        except KeyboardInterrupt:
            self.reporter.message(f"interrupted: saving a checkpoint at step {self.position.step}")
            self.save()
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
        )

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
        losses, images_per_s = window.flush()
        record = {
            "step": self.position.step,
            "epoch": self.position.epoch,
            "lr": self.recipe.learning_rate,
            "images_per_s": images_per_s,
            "time": time.time(),
            **losses,
        }
        self.run.append_metrics(record)
        for observer in self.observers:
            observer.on_log(record)
        self.reporter.update(self.position.step, self.position.epoch, losses, images_per_s)
        return losses

    def _sample_batch(self) -> dict:
        """A fixed batch spread evenly over the dataset."""
        source = self.sample_dataset
        count = min(SAMPLE_ROWS, len(source))
        picks = [i * len(source) // count for i in range(count)]
        return default_collate([source[(i, SAMPLE_SEED)] for i in picks])

    def _write_samples(self, batch: dict) -> None:
        columns = self.recipe.sample(batch)
        path = self.run.samples / f"step_{self.position.step:08d}.png"
        grid = save_grid(path, columns)
        log.info("samples written: %s", path)
        for observer in self.observers:
            observer.on_samples(self.position.step, path, grid)


class _Window:
    """Losses and throughput accumulated between two log lines."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.images = 0
        self.started = time.perf_counter()

    def add(self, losses: dict[str, torch.Tensor], images: int) -> None:
        for k, v in losses.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
        self.count += 1
        self.images += images

    def flush(self) -> tuple[dict[str, float], float]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        means = {k: float(v) / self.count for k, v in self.sums.items()}
        ips = self.images / elapsed
        self._reset()
        return {k: (v if math.isfinite(v) else float("nan")) for k, v in means.items()}, ips


def _device_text(device: torch.device) -> str:
    """``cpu``, or ``cuda:0 (NVIDIA H100 80GB HBM3)`` with the accelerator's name."""
    if device.type != "cuda":
        return str(device)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def _batch_size(batch: dict) -> int:
    return next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))
