"""Weights & Biases tracking of a run: losses, learning rate, throughput, sample grids, config.

An observer like TensorBoard's (:mod:`img2img.engine.tensorboard`). The wandb run's id is kept
in the run directory (``wandb.json``), so ``train --resume`` continues the same wandb run;
``WANDB_MODE=offline`` (no account, no network: ``wandb sync`` uploads later) and ``WANDB_DIR``
are honoured, and without ``WANDB_DIR`` wandb's files go into the run directory. Needs the
``wandb`` package (the ``wandb`` extra).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from torch import Tensor

from img2img.atomic import atomic_write
from img2img.engine.observers import Observer
from img2img.engine.tensorboard import NOT_PLOTTED, SAMPLES_TAG, scalar_tag
from img2img.extras import install_hint

#: where the run directory keeps its wandb run's id, project and entity
RUN_FILE = "wandb.json"
#: the x axis of every logged value (wandb's own step cannot go back after a resume)
STEP_KEY = "step"


def check_wandb() -> None:
    """Fail with the install command when the wandb package is missing."""
    try:
        import wandb  # noqa: F401
    except ImportError as exc:
        raise ValueError(f"--wandb: {install_hint('wandb', 'wandb')}") from exc


class WandbObserver(Observer):
    """Logs a run to Weights & Biases; its run id is stored in ``run_dir``."""

    def __init__(self, run_dir: str | Path, config: dict[str, Any], *, project: str,
                 entity: str | None = None, name: str | None = None) -> None:
        check_wandb()
        self.run_dir = Path(run_dir)
        self.config = config
        self.project, self.entity, self.name = project, entity, name
        self.run = None

    def _identity(self) -> dict[str, Any]:
        """The stored wandb run (id, project, entity), or a new one's."""
        stored = self.run_dir / RUN_FILE
        if stored.is_file():
            return json.loads(stored.read_text("utf-8"))
        identity = {"id": secrets.token_hex(4), "project": self.project,
                    "entity": self.entity}
        text = json.dumps(identity, indent=2) + "\n"
        atomic_write(stored, lambda f: f.write(text), mode="w")
        return identity

    def on_start(self, step: int) -> None:
        import wandb

        identity = self._identity()
        self.run = wandb.init(
            id=identity["id"], project=identity["project"], entity=identity["entity"],
            name=self.name or self.run_dir.name, config=self.config, resume="allow",
            dir=os.environ.get("WANDB_DIR") or str(self.run_dir),
        )
        self.run.define_metric(STEP_KEY)
        self.run.define_metric("*", step_metric=STEP_KEY)

    def on_log(self, record: dict[str, Any]) -> None:
        values = {scalar_tag(k): float(v) for k, v in record.items() if k not in NOT_PLOTTED}
        self.run.log({STEP_KEY: int(record["step"]), "epoch": int(record["epoch"]), **values})

    def on_samples(self, step: int, path: Path, grid: Tensor) -> None:
        import wandb

        image = grid.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
        self.run.log({STEP_KEY: step, SAMPLES_TAG: wandb.Image(image, caption=path.name)})

    def on_end(self, step: int) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
