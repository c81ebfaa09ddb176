"""TensorBoard events of a run: losses, learning rate, images/s and the sample grids.

Written into the run directory itself, so ``tensorboard --logdir runs`` lists every run by
name. Needs the ``tensorboard`` package (the ``tensorboard`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from img2img.engine.observers import Observer
from img2img.extras import install_hint

#: metrics.jsonl fields that are not plotted
NOT_PLOTTED = ("step", "epoch", "time")
#: the tag of the sample grids
SAMPLES_TAG = "samples"


def check_tensorboard() -> None:
    """Fail with the install command when the tensorboard package is missing."""
    try:
        import tensorboard  # noqa: F401
    except ImportError as exc:
        raise ValueError(f"--tensorboard: {install_hint('tensorboard', 'tensorboard')}") from exc


def scalar_tag(name: str) -> str:
    """``loss/G_L1`` for losses; ``lr``, ``images_per_s`` and ``data_time`` as they are."""
    return name if name in ("lr", "images_per_s", "data_time") else f"loss/{name}"


class TensorBoardObserver(Observer):
    """Writes a run's scalars and sample grids as TensorBoard events in ``log_dir``."""

    def __init__(self, log_dir: str | Path) -> None:
        check_tensorboard()
        self.log_dir = Path(log_dir)
        self.writer = None

    def on_start(self, step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # events past ``step`` (from before a resume) are hidden in TensorBoard
        self.writer = SummaryWriter(str(self.log_dir), purge_step=step or None)

    def on_log(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        for name, value in record.items():
            if name not in NOT_PLOTTED:
                self.writer.add_scalar(scalar_tag(name), float(value), step)

    def on_samples(self, step: int, path: Path, grid: Tensor) -> None:
        self.writer.add_image(SAMPLES_TAG, grid.clamp(0, 1), step, dataformats="CHW")

    def on_end(self, step: int) -> None:
        if self.writer is not None:
            self.writer.close()
