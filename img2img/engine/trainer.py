"""The training loop shared by every model family.

The trainer drives a :class:`~img2img.engine.recipe.TrainingRecipe` over a dataset: data
order, epochs, logging, sample grids, checkpoints and exact resume. It knows nothing about any
one family, and gives every family the same guarantees:

* **Stops between steps.** SIGINT and SIGTERM (see :mod:`img2img.engine.signals`) end the step
  in progress, write the checkpoint and the last step's sample grid, and return a result
  saying which signal stopped the run; the checkpoint never holds part of a step, so a
  resume continues exactly. Data-parallel processes agree at the next log or checkpoint
  boundary (no step waits on the others for it), so all stop after the same step.
* **Never saves a broken model.** Every loss a recipe returns is checked; once one is NaN or
  infinite the run stops with :class:`~img2img.engine.guard.NonFiniteLossError` naming the
  step (every process together), before anything else is logged or saved, so the last
  checkpoint stays the last good one; the weights are checked before each checkpoint too
  (:mod:`img2img.engine.guard`).
* **Fails together.** A checkpoint rank 0 cannot write (disk full, read-only folder) stops
  every data-parallel process after the same step, rank 0 with the error, the previous
  checkpoint kept.
* **Metrics survive a resume.** The losses accumulated since the last log line are saved in
  the checkpoint, and lines logged after the checkpoint are dropped on resume, so
  ``metrics.jsonl`` reads as if the run had never stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from img2img.checkpoints import (
    CheckpointWriteError,
    epoch_checkpoint_name,
    keep_copy,
    prune_step_checkpoints,
    save_checkpoint,
    step_checkpoint_name,
)
from img2img.config import default_sample_every
from img2img.data.sampler import make_loader
from img2img.engine import distributed as ddp
from img2img.engine.backends import choose_backends
from img2img.engine.device import device_text
from img2img.engine.distributed import World, regroup_epoch
from img2img.engine.guard import LossGuard, NonFiniteLossError, check_weights, with_advice
from img2img.engine.observers import Observer
from img2img.engine.progress import NullReporter, Reporter
from img2img.engine.recipe import TrainingRecipe
from img2img.engine.rng import rng_state, set_rng_state
from img2img.engine.rundir import RunDir
from img2img.engine.samples import fixed_batch, save_grid
from img2img.engine.signals import StopSignals
from img2img.engine.window import LossWindow

log = logging.getLogger(__name__)


@dataclass
class Position:
    """Where training is: optimisation steps done, current epoch and steps into it."""

    step: int = 0
    epoch: int = 0
    epoch_step: int = 0


@dataclass(frozen=True)
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    ``stopped_by`` names the signal (``SIGINT``, ``SIGTERM``) that ended the run before its
    last step, None when it ran to the end.
    """

    step: int
    epoch: int
    seconds: float
    checkpoint: Path
    last_losses: dict[str, float]
    skipped_files: list[str]
    #: mean seconds per step spent waiting for data (decoding, augmentation, transfer)
    data_time: float = 0.0
    stopped_by: str | None = None


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
        self._saved_at: Position | None = None  # where latest.pt was last written
        self.window = LossWindow()
        #: ``--lr-policy plateau``: the generator loss summed over the epoch so far
        self.epoch_losses = LossWindow() if self.cfg.lr_policy == "plateau" else None
        #: the learning rate and 1-based epoch the last step ran with (what a log line shows)
        self._ran_with: tuple[float, int] | None = None
        self.loss_guard = LossGuard(recipe.device)
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
        #: steps between sample grids: the config's, else about ten over the run
        self.sample_every = self.cfg.sample_every or default_sample_every(self.total_steps)
        self._sampled_at: int | None = None  # the step of the last sample grid

    # --- state --------------------------------------------------------------------------------
    def checkpoint_payload(self, ranks: list[dict[str, Any]] | None = None,
                           window: dict[str, Any] | None = None,
                           epoch_losses: dict[str, Any] | None = None) -> dict[str, Any]:
        """The checkpoint dict; ``ranks`` holds every process's own state by rank
        (:meth:`_own_state`: its RNG state and its recipe's, such as CycleGAN's image pools),
        ``window`` the losses summed since the last log line over all processes and
        ``epoch_losses`` the epoch's generator loss so far (``--lr-policy plateau``)."""
        ranks = ranks or [self._own_state()]
        if epoch_losses is None and self.epoch_losses is not None:
            epoch_losses = self.epoch_losses.state_dict()
        return {
            "family": self.recipe.family,
            "config": self.recipe.config.to_dict(),
            "step": self.position.step,
            "epoch": self.position.epoch,
            "epoch_step": self.position.epoch_step,
            "world_size": self.world.size,
            "rng": ranks[0]["rng"],
            "rng_ranks": [r["rng"] for r in ranks],
            "rank_states": [r["recipe"] for r in ranks],
            **self.recipe.state_dict(),
            "trainer": {"window": window if window is not None else self.window.state_dict(),
                        "dataset_size": len(self.dataset),
                        "epoch_losses": epoch_losses},
        }

    def save(self) -> Path:
        """Write the latest checkpoint atomically (rank 0 writes; every process calls this),
        never with weights a bad loss has reached.

        Every process returns once the file is written, or stops when it could not be: rank 0
        with the error, the others with :class:`~img2img.engine.distributed.FailedOnMain`.

        Raises:
            NonFiniteLossError: a loss since the last check, or a weight, is NaN or infinite.
            CheckpointWriteError: the file could not be written; the previous one is kept.
        """
        self.loss_guard.check()
        check_weights(self.recipe.nets, self.position.step, self.recipe.device)
        ranks = ddp.gather_to_main(self._own_state())  # one collective; rank 0 writes them
        window = self.window.state_dict()  # collective: every process's sums
        epoch_losses = self.epoch_losses.state_dict() if self.epoch_losses is not None else None
        path = self.run.latest_checkpoint
        ddp.on_main(lambda: self._write(
            path, self.checkpoint_payload(ranks, window, epoch_losses)))
        self._saved_at = dataclasses.replace(self.position)
        return path

    def _own_state(self) -> dict[str, Any]:
        """What this process saves for itself: its RNG state and its recipe's own state."""
        return {"rng": rng_state(), "recipe": self.recipe.rank_state()}

    def _write(self, path: Path, payload: dict[str, Any]) -> None:
        """Write ``payload`` to ``path`` (rank 0), saying which checkpoint a failure kept."""
        try:
            save_checkpoint(path, payload)
        except CheckpointWriteError as exc:
            kept = (
                f"the checkpoint of step {self._saved_at.step} is unchanged"
                if self._saved_at is not None and path.is_file()
                else "no checkpoint of this run was written yet"
            )
            raise CheckpointWriteError(f"{exc} at step {self.position.step}; {kept}") from exc
        log.info("checkpoint written: %s (step %d)", path, self.position.step)

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

        ``data`` is what :func:`~img2img.checkpoints.load_checkpoint` returned.
        """
        if data["family"] != self.recipe.family:
            raise ValueError(
                f"checkpoint holds a {data['family']} run; cannot resume it as {self.recipe.family}"
            )
        trainer_state = data.get("trainer") or {}
        size = trainer_state.get("dataset_size")
        if size is not None and size != len(self.dataset):
            raise ValueError(
                f"the dataset now holds {len(self.dataset)} examples, the run was trained on "
                f"{size}: a resume needs the dataset the run started with (its data order "
                "depends on it)"
            )
        self.recipe.load_state_dict(data)
        saved_world = int(data.get("world_size", 1))
        epoch_step = data["epoch_step"]
        rank_states = data.get("rank_states")
        if saved_world != self.world.size:
            epoch_step, note = regroup_epoch(saved_world, self.world.size, data["epoch"],
                                             epoch_step, self.cfg.batch_size,
                                             (rank_states or [{}])[0])
            self.reporter.message(note)
            log.info("%s", note)
        self.position = Position(data["step"], data["epoch"], epoch_step)
        rngs = data.get("rng_ranks") or [data["rng"]]
        if self.world.rank < len(rngs):
            set_rng_state(rngs[self.world.rank])
        if rank_states is not None and self.world.rank < len(rank_states):
            self.recipe.load_rank_state(rank_states[self.world.rank])
        # the file holds this very position (unless the processes were counted differently)
        self._saved_at = dataclasses.replace(self.position) if saved_world == self.world.size \
            else None
        if self.world.is_main:  # the sums since the last log line, over all processes
            self.window.load_state_dict(trainer_state.get("window"), self.recipe.device)
            if self.epoch_losses is not None:
                self.epoch_losses.load_state_dict(trainer_state.get("epoch_losses"),
                                                  self.recipe.device)
            dropped = self.run.truncate_metrics(self.position.step)
            if dropped:
                log.info("metrics: dropped %d lines logged after step %d", dropped,
                         self.position.step)
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
        """Train until ``max_steps`` or the last epoch; always ends with a checkpoint and a
        sample grid of the last step (unless no step was taken).

        SIGINT or SIGTERM ends the run after the step in progress, with a checkpoint; the
        result's ``stopped_by`` names the signal. A second signal raises
        :class:`~img2img.engine.signals.Interrupted` at once. However the run ends, the data
        loader's workers have ended when this returns or raises.

        Raises:
            NonFiniteLossError: a loss became NaN or infinite (nothing was saved after it).
            CheckpointWriteError: a checkpoint could not be written (the previous one is kept).
        """
        started = time.perf_counter()
        try:
            with StopSignals() as stop:
                try:
                    path, last = self._fit(stop)
                finally:
                    self.loader.close()  # its workers end here, whatever ended the run
        except NonFiniteLossError as exc:
            error = with_advice(exc, None if self._saved_at is None else self._saved_at.step)
            if self.world.is_main:
                self.reporter.message(str(error))
            raise error from None
        skipped = self.loader.skipped  # met here or in the loader's workers
        if skipped:
            log.warning("%d unreadable files were skipped", len(skipped))
        return TrainResult(
            self.position.step,
            self.position.epoch,
            time.perf_counter() - started,
            path,
            last,
            sorted(skipped),
            self.window.data_time_total / max(1, self.window.steps_total),
            stop.requested.name if stop.requested is not None else None,
        )

    def _fit(self, stop: StopSignals) -> tuple[Path, dict[str, float]]:
        """:meth:`fit` inside its signal handlers: the checkpoint and the last losses."""
        sample_batch = fixed_batch(self.sample_dataset)
        started_at = self.position.step
        for line in self._plan():
            self.reporter.message(line)
        self.reporter.start(self.total_steps, self.position.step, self._epoch_in_progress())
        self.recipe.train(True)
        for observer in self.observers:
            observer.on_start(self.position.step)
        try:
            try:
                last = self._loop(sample_batch, stop)
            finally:
                self.reporter.close()
            if self._done() and self.window.count:  # a stopped run logs it when resumed
                last = self._log()
            if self.position.step > started_at and self._sampled_at != self.position.step:
                self.loss_guard.check()  # the last step's grid, however the run ended
                self._write_samples(sample_batch)
            path = self._save_unless_saved()
            self.loss_guard.check()
        finally:
            self._end()
        return path, last

    def _stopping(self, stop: StopSignals) -> bool:
        """Whether to stop after this step: a stop asked for here (one process: after the
        step in progress) or on any process. Data-parallel processes exchange the request
        only at log and checkpoint boundaries (every process asks after the same steps), so
        a step waits on no other process for it; a process another one stops records that
        process's signal."""
        if not self.world.distributed:
            return stop.requested is not None
        step = self.position.step
        at_boundary = (step % self.cfg.log_every == 0 or step % self.cfg.checkpoint_every == 0
                       or step >= self.total_steps)
        return at_boundary and self._exchange_stop(stop)

    def _exchange_stop(self, stop: StopSignals) -> bool:
        """Whether any process was asked to stop (a collective: every process calls it after
        the same step); the signal of the process that was is recorded here too."""
        if not ddp.any_rank(stop.requested is not None, self.recipe.device):
            return False
        names = ddp.gather_objects(stop.requested.name if stop.requested else None)
        stop.request(signal.Signals[next(n for n in names if n is not None)])
        return True

    def _loop(self, sample_batch: dict, stop: StopSignals) -> dict[str, float]:
        """Steps until the end or a stop request; the last logged losses."""
        last: dict[str, float] = {}
        stopping = False
        while not self._done() and not stopping:
            self.sampler.set_epoch(self.position.epoch)
            self.sampler.set_start(self.position.epoch_step * self.cfg.batch_size)
            waited = time.perf_counter()
            for batch in self.loader:
                data_time = time.perf_counter() - waited
                self._ran_with = (self.recipe.learning_rate, self.position.epoch + 1)
                losses = self.recipe.train_step(batch)
                self._follow_main()
                self.position.step += 1
                self.position.epoch_step += 1
                self.loss_guard.add(self.position.step, losses)
                self.window.add(losses, _batch_size(batch), data_time)
                if self.epoch_losses is not None:
                    self.epoch_losses.add({"G": self.recipe.generator_loss(losses)}, 0)
                last = self._after_step(sample_batch) or last
                stopping = self._stopping(stop)
                if self.position.step >= self.total_steps or stopping:
                    break
                waited = time.perf_counter()
            if self.position.epoch_step >= self.steps_per_epoch:
                self._end_epoch()
        if stopping and stop.requested is not None:
            self.reporter.message(
                f"{stop.requested.name}: stopping after step {self.position.step} (the step in "
                "progress was finished)"
            )
        return last

    def _end(self) -> None:
        for observer in self.observers:
            observer.on_end(self.position.step)

    def _follow_main(self) -> None:
        """Running statistics follow rank 0's after every step (data-parallel processes whose
        batch norm is not synchronised; networks made during training, such as CUT's F,
        included)."""
        if self.world.distributed:
            ddp.follow_main_statistics(self.recipe.nets.values())

    def _end_epoch(self) -> None:
        epoch_loss = None
        if self.epoch_losses is not None:  # mean over the epoch and every process
            epoch_loss = self.epoch_losses.flush()[0]["G"]
        self.recipe.end_epoch(epoch_loss)
        self.position.epoch += 1
        self.position.epoch_step = 0
        self._save_epoch()

    def _after_step(self, sample_batch: dict) -> dict[str, float] | None:
        step, cfg = self.position.step, self.cfg
        log_due, sample_due = step % cfg.log_every == 0, step % self.sample_every == 0
        save_due = step % cfg.checkpoint_every == 0
        if log_due or sample_due or save_due:
            self.loss_guard.check()  # nothing is written from weights a bad loss reached
        logged = self._log() if log_due else None
        if sample_due:
            self._write_samples(sample_batch)
        if save_due:
            self._save_periodic()
        for observer in self.observers:
            observer.on_step(step)
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
            f"training on {device_text(self.recipe.device)} in {self.cfg.precision}: "
            f"{per_epoch} steps per epoch, {epochs} epochs, {length}",
            choose_backends(self.recipe.device, self.recipe.config).describe(),
        ]
        if pos.step:
            lines.append(
                f"resuming at step {pos.step} (epoch {pos.epoch + 1}, step {pos.epoch_step} of "
                f"{per_epoch} in it)"
            )
        lines.append(f"sample grids every {self.sample_every} steps and at the last one "
                     "(--sample-every; default: about ten over the run)")
        return lines

    def _epoch_in_progress(self) -> int:
        """The 1-based epoch the next step runs in (the last one once training is done)."""
        return min(self.position.epoch + 1, self.cfg.total_epochs)

    def _log(self) -> dict[str, float]:
        """Losses averaged over the window and every process; rank 0 writes and shows them."""
        self.loss_guard.check()
        losses, images_per_s, data_time = self.window.flush()
        # the rate and epoch the last step ran with, not the next one's (after an epoch's end)
        lr, epoch = self._ran_with or (self.recipe.learning_rate, self._epoch_in_progress())
        record = {
            "step": self.position.step,
            "epoch": epoch,
            "lr": lr,
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
        self.reporter.update(self.position.step, epoch, losses, images_per_s,
                             data_time=data_time)
        return losses

    def _write_samples(self, batch: dict) -> None:
        # every process translates (synchronised batch norm needs them all); rank 0 writes
        with _eager(self.cfg.compile):
            columns = self.recipe.sample(batch)
        self._sampled_at = self.position.step
        if not self.world.is_main:
            return
        path = self.run.samples / f"step_{self.position.step:08d}.png"
        grid = save_grid(path, columns)
        log.info("samples written: %s", path)
        for observer in self.observers:
            observer.on_samples(self.position.step, path, grid)


def _eager(compiled: bool) -> contextlib.AbstractContextManager:
    """Run ``--compile``'s networks eagerly for the block (sample grids): sampling switches
    them to eval mode and swaps their layers for test-time stand-ins, which the compiled
    training graphs would each be recompiled for (up to the recompile limit), to run a few
    images; eager, the training graphs stay as they are."""
    return torch.compiler.set_stance("force_eager") if compiled else contextlib.nullcontext()


def _batch_size(batch: dict) -> int:
    return next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))
