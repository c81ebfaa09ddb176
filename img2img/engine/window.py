"""The losses and throughput a run accumulates between two log lines.

The sums stay on the device until a log line (:meth:`LossWindow.flush`) or a checkpoint
(:meth:`LossWindow.state_dict`) needs them; both sum over every data-parallel process, so
every process calls them at the same steps.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from img2img.engine import distributed as ddp


class LossWindow:
    """Losses and throughput accumulated between two log lines."""

    def __init__(self) -> None:
        #: over the whole run (this process), for the mean data time a run reports
        self.steps_total = 0
        self.data_time_total = 0.0
        self._reset()

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

    def state_dict(self) -> dict[str, Any]:
        """The loss sums and step count since the last log line over all processes (not the
        clock), for a checkpoint; every process calls this."""
        names = list(self.sums)
        totals = self._sum_over_ranks(float(self.count)).cpu()
        return {"sums": dict(zip(names, totals[:-1].float(), strict=True)),
                "count": int(totals[-1].item())}

    def load_state_dict(self, state: dict[str, Any] | None, device: torch.device) -> None:
        """Continue the window a checkpoint saved (checkpoints without one start empty).

        Throughput restarts from the resume: only the loss sums carry over.
        """
        self._reset()
        if state:
            self.sums = {k: v.to(device) for k, v in state["sums"].items()}
            self.count = int(state["count"])

    def flush(self) -> tuple[dict[str, float], float, float]:
        """Mean losses over the window and all processes, images/s of all processes together,
        and the mean data time per step."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        names = list(self.sums)
        totals = self._sum_over_ranks(float(self.count), float(self.images),
                                      self.data_time).cpu().tolist()
        count, images, data_time = totals[-3:]
        means = {k: v / count for k, v in zip(names, totals[:-3], strict=True)}
        ips = images / elapsed
        self._reset()
        finite = {k: (v if math.isfinite(v) else float("nan")) for k, v in means.items()}
        return finite, ips, data_time / max(count, 1.0)

    def _sum_over_ranks(self, *extra: float) -> torch.Tensor:
        """The loss sums, then ``extra``, each summed over all processes (one collective)."""
        local = [self.sums[k].detach().reshape(()).cpu().double() for k in self.sums]
        device = next(iter(self.sums.values())).device if self.sums else "cpu"
        values = torch.stack([*local, *(torch.tensor(x, dtype=torch.float64) for x in extra)])
        return ddp.sum_over_ranks(values.to(device))
